import { randomUUID } from 'node:crypto';
import { CommandBus } from '@nestjs/cqrs';
import { firstValueFrom, filter, scan } from 'rxjs';
import { v5 as uuidv5 } from 'uuid';
import { machineDecider, machineStream } from '../../../src/machines/machine.decider';
import { DecideCommand } from '../../../src/messaging/decide.command';
import { ProjectionsService } from '../../../src/messaging/projections.service';
import { measure, Row, spreadOf } from '../harness';
import { startBenchApp } from './bench-app';
import type { BenchContext } from './write-path';

/**
 * 1,000 machines (250 in --quick) each running a full reimage (5 stages) through the simulated provider with
 * zero delays: requests through the CommandBus, stages driven by the executor, read models
 * by the projection runners. With no provider time, the whole wall time is orchestration.
 * Each round is a fresh app and fleet: a warm-up round, then three measured.
 */
export async function reimageScenario(ctx: BenchContext): Promise<Row[]> {
  // A quarter of the fleet in --quick, to keep it under two minutes; the figure is per operation.
  const machines = ctx.quick ? 250 : 1_000;
  const n = machines.toLocaleString('en-US');
  const run = async () => {
    const app = await startBenchApp({ ...ctx.stores.place('ops').env, OPERATIONS_STAGE_DELAY_MS: '0' });
    const bus = app.get(CommandBus);
    const projections = app.get(ProjectionsService);
    const at = new Date().toISOString();
    const context = (requestId: string | null = null) => ({ actor: 'bench', correlationId: randomUUID(), requestId, issuedAt: at });
    // Setup (not measured): registered, and in maintenance.
    await Promise.all(
      Array.from({ length: machines }, (_, m) =>
        bus.execute(new DecideCommand(machineDecider, machineStream(`b${m}`), { type: 'RegisterMachine', id: `b${m}`, phase: 'READY', hypervisor: false, capacity: null, labels: {}, at }, context())),
      ),
    );
    const settled = (type: string, n: number) =>
      firstValueFrom(
        projections.committedBy('operations').pipe(
          scan((count, c) => count + c.events.filter((e) => e.type === type).length, 0),
          filter((count) => count >= n),
        ),
      );
    const entered = settled('OperationSucceeded', machines);
    await Promise.all(
      Array.from({ length: machines }, (_, m) => {
        const id = `b${m}`;
        return bus.execute(new DecideCommand(machineDecider, machineStream(id), { type: 'RequestOperation', id, operationId: uuidv5(`${id}/enter`, uuidv5.URL), operation: 'ENTER_MAINTENANCE', params: {}, requestId: 'enter', at }, context('enter')));
      }),
    );
    await entered;

    const done = settled('OperationSucceeded', machines);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: machines }, (_, m) => {
        const id = `b${m}`;
        return bus.execute(
          new DecideCommand(machineDecider, machineStream(id), { type: 'RequestOperation', id, operationId: uuidv5(`${id}/reimage`, uuidv5.URL), operation: 'REIMAGE', params: { imageRef: 'img' }, requestId: 'reimage', at }, context('reimage')),
        );
      }),
    );
    await done;
    const seconds = (performance.now() - started) / 1000;
    await app.close();
    return seconds;
  };
  const stats = await measure(run, { warmup: 1, rounds: 3 });
  const perOp = { ...stats, median: (stats.median * 1000) / machines, min: (stats.min * 1000) / machines, max: (stats.max * 1000) / machines };
  return [
    { scenario: `${n} reimages (5 stages each), zero-delay provider: wall time`, figure: stats.median, unit: 's', baseline: null, baselineName: null, ratio: null, target: '—', pass: null, spread: spreadOf(stats) },
    { scenario: `  orchestration overhead per operation (wall / ${n})`, figure: perOp.median, unit: 'ms', baseline: null, baselineName: null, ratio: null, target: '—', pass: null, spread: spreadOf(perOp) },
  ];
}
