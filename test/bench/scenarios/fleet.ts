import { randomUUID } from 'node:crypto';
import { EventStore, NewEvent } from '../../../src/event-store/event-store.port';
import { machineDecider, machineStream } from '../../../src/machines/machine.decider';

/**
 * A fleet's log written by the machine decider itself: each machine registered, then its labels
 * changed until it has `perMachine` events. Appended through the store (hash chain and all).
 */
export async function seedFleet(store: EventStore, machines: number, perMachine: number): Promise<void> {
  const at = new Date().toISOString();
  const meta = { actor: 'bench', correlationId: 'seed', causationId: null, requestId: null, occurredAt: at, schemaVersion: 1 };
  const pending: Promise<unknown>[] = [];
  for (let m = 0; m < machines; m++) {
    const id = `f${String(m).padStart(7, '0')}`;
    let state = machineDecider.initialState;
    const events: NewEvent[] = [];
    const run = (command: Parameters<typeof machineDecider.decide>[0]) => {
      for (const e of machineDecider.decide(command, state)) {
        state = machineDecider.evolve(state, e);
        events.push({ id: randomUUID(), type: e.type, data: e.data as Record<string, unknown>, metadata: meta });
      }
    };
    run({ type: 'RegisterMachine', id, phase: 'READY', hypervisor: false, capacity: null, labels: { rack: `r${m % 40}` }, at });
    for (let i = 1; i < perMachine; i++) run({ type: 'SetMachineLabels', id, labels: { rack: `r${m % 40}`, rev: String(i) }, at });
    pending.push(store.append(machineStream(id), events, 'no_stream'));
    if (pending.length >= 500) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}
