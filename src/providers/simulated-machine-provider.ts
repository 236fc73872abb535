import { setTimeout as sleep } from 'node:timers/promises';
import { MachineProvider, StageFailedError, StageRequest, StageResult } from './machine-provider.port';

/**
 * The default provider: no hardware, configurable timings, and failure injection scripted
 * per machine through labels, so tests drive it through the public API:
 *   sim.delay-ms       how long each stage takes (default: the configured stage delay)
 *   sim.fail-stage     the stage that fails
 *   sim.fail-times     how many attempts of it fail (default: every attempt)
 *   sim.hang-stage     a stage that never finishes on its own (until canceled or timed out)
 */
export class SimulatedMachineProvider implements MachineProvider {
  constructor(private readonly stageDelayMs: number) {}

  async runStage(r: StageRequest, signal: AbortSignal): Promise<StageResult> {
    const delay = Number(r.labels['sim.delay-ms'] ?? this.stageDelayMs);
    const log = [`[${r.stage}] attempt ${r.attempt} on ${r.machineId}: started`];
    if (r.labels['sim.hang-stage'] === r.stage) await sleep(2 ** 31 - 1, undefined, { signal });
    if (delay > 0) await sleep(delay, undefined, { signal });
    const failTimes = r.labels['sim.fail-times'] === undefined ? Infinity : Number(r.labels['sim.fail-times']);
    if (r.labels['sim.fail-stage'] === r.stage && r.attempt <= failTimes) {
      throw new StageFailedError(`simulated failure of ${r.stage} (attempt ${r.attempt})`, [...log, `[${r.stage}] failed`]);
    }
    if (r.operation === 'REIMAGE' && r.stage === 'repave-image') log.push(`[${r.stage}] wrote image ${String(r.params.imageRef)}`);
    log.push(`[${r.stage}] done`);
    return { log };
  }
}
