import { Injectable } from '@nestjs/common';

/** `standby`: another instance holds the runner's lease; this one follows its commits. */
export type RunnerState = 'starting' | 'running' | 'standby' | 'rebuilding' | 'stopped' | 'failed';

export interface RunnerStatus {
  name: string;
  kind: 'projection' | 'saga' | 'executor' | 'sealer';
  state: RunnerState;
  error?: string;
  /** A projection: false while its read model is refused (it does not match the log; a rebuild replaces it). */
  serving?: boolean;
  /** A projection's rebuild under way, while it is not served. */
  rebuild?: { progress: number; processed: number; total: number };
}

/** Every subscription runner (projection or saga), the executors and the log's sealer report here; /readyz reads it. */
@Injectable()
export class RunnerRegistry {
  private readonly runners = new Map<string, () => RunnerStatus>();

  register(name: string, status: () => RunnerStatus): void {
    this.runners.set(name, status);
  }

  statuses(): RunnerStatus[] {
    return [...this.runners.values()].map((s) => s());
  }
}
