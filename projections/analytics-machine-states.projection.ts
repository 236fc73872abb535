import { STATE_BEARING_EVENTS } from '../src/machines/machine.decider';
import type { Projection } from '../src/messaging/projection';
import type { Change } from '../src/read-store/read-store.port';

/**
 * `analytics_machine_states`: for each machine, the intervals it spent in each effective state.
 * Every machine event that carries the derived state closes the open interval if the state
 * changed and opens one for the new state (an upsert that does nothing while it stays the same).
 * The open interval alone carries `openFor` (indexed), so finding it never reads the machine's history.
 */
const stateChange = (e: { id: string; data: Record<string, unknown> }): Change[] => {
  const d = e.data as { id: string; effectiveState?: string; at: string };
  if (!d.effectiveState) return [];
  return [
    { op: 'updateOne', collection: 'analytics_machine_states', filter: { openFor: d.id, state: { $ne: d.effectiveState } }, update: { $set: { to: d.at }, $unset: { openFor: '' } } },
    { op: 'updateOne', collection: 'analytics_machine_states', filter: { openFor: d.id, state: d.effectiveState }, update: { $setOnInsert: { _id: e.id, machineId: d.id, from: d.at, to: null } }, upsert: true },
  ];
};

export const analyticsMachineStatesProjection: Projection = {
  name: 'analytics_machine_states',
  version: 1,
  collections: { analytics_machine_states: { indexes: [{ field: 'openFor' }, { field: 'machineId' }, { field: 'from' }] } },
  handlers: Object.fromEntries(STATE_BEARING_EVENTS.map((type) => [type, stateChange])),
};
