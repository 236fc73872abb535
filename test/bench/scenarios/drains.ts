import { randomUUID } from 'node:crypto';
import { CommandBus } from '@nestjs/cqrs';
import { firstValueFrom, filter } from 'rxjs';
import { DrainsService } from '../../../src/drains/drains.service';
import { vmDecider, vmStream } from '../../../src/drains/vm.decider';
import { machineDecider, machineStream } from '../../../src/machines/machine.decider';
import { DecideCommand } from '../../../src/messaging/decide.command';
import { ProjectionsService } from '../../../src/messaging/projections.service';
import { MIGRATION_PROVIDER } from '../../../src/providers/migration-provider.port';
import { SimulatedMigrationProvider } from '../../../src/providers/simulated-migration-provider';
import { measure, Row, spreadOf } from '../harness';
import { startBenchApp } from './bench-app';
import type { BenchContext } from './write-path';

/**
 * A hard drain of one node carrying 1,000 VMs over 50 target nodes, maxConcurrent 50, with
 * the simulated provider at zero delay: the drain is started the way the mutation starts it
 * (DrainsService) and driven by the executor, so the wall time is all orchestration.
 */
export async function drainScenario(ctx: BenchContext): Promise<Row[]> {
  const vms = 1_000;
  const targets = 50;
  const maxConcurrent = 50;
  const peaks: number[] = [];
  const providerPeaks: number[] = [];
  const run = async () => {
    const app = await startBenchApp({ ...ctx.stores.place('drain').env, DRAINS_MIGRATION_DELAY_MS: '0' });
    const bus = app.get(CommandBus);
    const projections = app.get(ProjectionsService);
    const provider = app.get<SimulatedMigrationProvider>(MIGRATION_PROVIDER);
    const at = new Date().toISOString();
    const context = () => ({ actor: 'bench', correlationId: randomUUID(), requestId: null, issuedAt: at });
    // Setup (not measured): the source, 50 targets, 1,000 VMs (a tenth always-on, a tenth maint-ok).
    let position = 0;
    for (let n = 0; n <= targets; n++) {
      const id = n === 0 ? 'src' : `t${n}`;
      const capacity = n === 0 ? { cpuCores: 4096, memoryGiB: 65_536 } : { cpuCores: 256, memoryGiB: 1024 };
      await bus.execute(new DecideCommand(machineDecider, machineStream(id), { type: 'RegisterMachine', id, phase: 'READY', hypervisor: true, capacity, labels: {}, at }, context()));
    }
    // A hundred VMs at a time (set-up: each is its own stream).
    for (let from = 1; from <= vms; from += 100) {
      const outcomes = await Promise.all(
        Array.from({ length: Math.min(100, vms - from + 1) }, (_, i) => {
          const v = from + i;
          const tags = v % 10 === 0 ? ['always-on'] : v % 10 === 1 ? ['maint-ok'] : [];
          return bus.execute(
            new DecideCommand(vmDecider, vmStream(v), { type: 'CreateVm', vmid: v, name: `vm-${v}`, node: 'src', tags, status: 'running', cpuCores: 1, memoryGiB: 2, at }, context()),
          );
        }),
      );
      for (const o of outcomes) position = Math.max(position, o.position);
    }
    await projections.waitFor(['vms', 'machines'], position);
    provider.resetStats();

    const finished = firstValueFrom(projections.committedBy('drains').pipe(filter((c) => c.events.some((e) => e.type === 'DrainFinished'))));
    const started = performance.now();
    const drainId = await app.get(DrainsService).start('src', 'DRAIN', { mode: 'HARD', parallel: true, maxConcurrent, allowOffline: false }, { ...context(), issuedAt: new Date().toISOString() });
    await finished;
    const seconds = (performance.now() - started) / 1000;
    const doc = await projections.findOne('drains', { _id: drainId });
    if (doc?.status !== 'COMPLETED' || doc.completedVMs !== vms) throw new Error(`the bench drain ended ${String(doc?.status)} with ${String(doc?.completedVMs)} VMs`);
    peaks.push(Number(doc.peakInFlight));
    providerPeaks.push(provider.peakInFlight);
    await app.close();
    return seconds;
  };
  // Each round is a fresh app and store; the warm-up round is one too, so the rounds measured run
  // code the process has already compiled, as a server that has been up a while does.
  const stats = await measure(run, { warmup: 1, rounds: ctx.quick ? 3 : 5 });
  const perVm = { ...stats, median: (stats.median * 1000) / vms, min: (stats.min * 1000) / vms, max: (stats.max * 1000) / vms };
  const peak = Math.max(...peaks);
  return [
    { scenario: 'hard drain, 1,000 VMs over 50 nodes, maxConcurrent 50, zero-delay provider: wall time', figure: stats.median, unit: 's', baseline: null, baselineName: null, ratio: null, target: '—', pass: null, spread: spreadOf(stats) },
    { scenario: '  overhead per VM (wall / 1,000)', figure: perVm.median, unit: 'ms', baseline: null, baselineName: null, ratio: null, target: '<= 1 ms', pass: perVm.median <= 1, spread: spreadOf(perVm) },
    {
      scenario: '  most migrations in flight (recorded start to end)',
      figure: peak,
      unit: '',
      baseline: null,
      baselineName: null,
      ratio: null,
      target: 'exactly 50',
      // Every drain, the warm-up's too, reaches the limit and never passes it.
      pass: peaks.every((p) => p === maxConcurrent),
      spread: `every drain (the warm-up first): ${peaks.join(', ')}; provider calls at once: ${providerPeaks.join(', ')}`,
    },
  ];
}
