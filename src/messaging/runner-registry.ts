import { Injectable } from '@nestjs/common';

export type RunnerState = 'starting' | 'running' | 'rebuilding' | 'stopped' | 'failed';

export interface RunnerStatus {
  name: string;
  kind: 'projection' | 'saga';
  state: RunnerState;
  error?: string;
}

/** Every subscription runner (projection or saga) reports here; /readyz reads it. */
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
