/** The outside system that does the work of an operation stage (BMC, PXE, image service, cluster). */
export const MACHINE_PROVIDER = Symbol('MACHINE_PROVIDER');

export interface StageRequest {
  machineId: string;
  operationId: string;
  operation: string;
  stage: string;
  attempt: number;
  params: Record<string, unknown>;
  /** The machine's labels: the simulated provider reads its `sim.*` test script from them. */
  labels: Record<string, string>;
}

export interface StageResult {
  /** The log lines this stage wrote. */
  log: string[];
}

export class StageFailedError extends Error {
  constructor(
    message: string,
    readonly log: string[] = [],
  ) {
    super(message);
    this.name = 'StageFailedError';
  }
}

/**
 * Runs one stage. Stages must be idempotent: after a crash, the stage that was running is
 * run again. Rejects with StageFailedError (or any error) on failure; honours `signal`.
 */
export interface MachineProvider {
  runStage(request: StageRequest, signal: AbortSignal): Promise<StageResult>;
}
