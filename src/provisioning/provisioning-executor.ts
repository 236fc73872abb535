import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { Subscription } from 'rxjs';
import { AppConfig } from '../config/config';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { currentAttempt, InstanceCommand, instanceDecider, InstanceState, instanceStream, PROVISIONING_STEPS, ProvisioningStep } from '../instances/instance.decider';
import { CommandContext, CommandPipeline } from '../messaging/command-pipeline';
import { Executor, ExecutorHost } from '../messaging/executors';
import { ProjectionsService } from '../messaging/projections.service';
import { PROVISIONING_PROVIDER, ProvisioningProvider, ProvisioningRequest } from '../providers/provisioning-provider.port';

/**
 * Provisions instances in the background: database, deployment, readiness, each step an event
 * on the instance's stream. Everything it knows comes from that stream, so after a restart it
 * picks up each attempt at its first unrecorded step; each command carries a requestId
 * derived from (attempt, step), so a step repeated after a crash is recorded once. A failure
 * or a timeout is one event (status ERROR, provisioningStatus FAILED, the message), after which
 * the deployment is removed and the database kept for the retry.
 */
@Injectable()
export class ProvisioningExecutor implements Executor {
  private readonly running = new Set<string>();
  private subscription: Subscription | null = null;
  /** Aborted while this instance does not drive provisioning (before the lease, after losing it, at shutdown). */
  private halt = new AbortController();

  constructor(
    private readonly pipeline: CommandPipeline,
    private readonly projections: ProjectionsService,
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(PROVISIONING_PROVIDER) private readonly provider: ProvisioningProvider,
    private readonly config: AppConfig,
    private readonly logger: PinoLogger,
    host: ExecutorHost,
  ) {
    this.logger.setContext('provisioning');
    this.halt.abort();
    host.register(this);
  }

  async start(): Promise<void> {
    this.halt = new AbortController();
    const startHead = await this.events.headPosition();
    this.subscription = this.projections.committedBy('instances').subscribe((c) => {
      for (const e of c.events) {
        if (e.position <= startHead) continue;
        if ((e.type === 'InstanceAllocated' && e.data.provisioning) || e.type === 'ProvisioningRetried') this.schedule(String(e.data.id));
      }
    });
    void (async () => {
      await this.projections.caughtUp(['instances'], startHead);
      const open = await this.projections.find('instances', { status: 'CREATING' });
      if (open.length) this.logger.info({ instances: open.length }, 'resuming unfinished provisioning');
      for (const i of open) this.schedule(String(i.id));
    })().catch((err) => this.logger.error({ err }, 'resuming provisioning failed'));
  }

  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    this.subscription = null;
    this.halt.abort();
  }

  private schedule(instanceId: string): void {
    if (this.halt.signal.aborted || this.running.has(instanceId)) return;
    this.running.add(instanceId);
    this.drive(instanceId)
      .catch((err) => {
        if (!this.halt.signal.aborted) this.logger.error({ err, instanceId }, 'provisioning stopped on an unexpected error; it resumes at the next start');
      })
      .finally(() => this.running.delete(instanceId));
  }

  private async drive(instanceId: string): Promise<void> {
    const stream = instanceStream(instanceId);
    const [first] = await this.events.readStream(stream, { maxCount: 1 });
    for (;;) {
      const { state } = await this.pipeline.load(instanceDecider, stream);
      const attempt = currentAttempt(state);
      if (!attempt || state.status !== 'CREATING' || state.released) return;
      const context = (step: string): CommandContext => ({
        actor: `provisioning (for ${first.metadata.actor})`,
        correlationId: first.metadata.correlationId,
        causationId: first.id,
        requestId: `${attempt.attemptId}:${step}`,
        issuedAt: new Date().toISOString(),
      });
      const send = (command: InstanceCommand, step: string) => this.send(stream, command, context(step));
      const at = () => new Date().toISOString();
      if (attempt.status === 'PENDING') {
        await send({ type: 'StartProvisioning', id: instanceId, attemptId: attempt.attemptId, at: at() }, 'start');
        continue;
      }
      const step = PROVISIONING_STEPS[attempt.steps.length] as ProvisioningStep;
      const request = await this.request(state, instanceId, attempt.number);
      try {
        const result = await this.run(step, request, state);
        await send({ type: 'CompleteProvisioningStep', id: instanceId, attemptId: attempt.attemptId, step, detail: result.detail, databaseId: result.databaseId, at: at() }, step);
        this.logger.info({ instanceId, attempt: attempt.number, step, detail: result.detail }, 'provisioning step done');
      } catch (err) {
        if (this.halt.signal.aborted) return; // shutting down: the next start resumes this step
        const message = `${step} failed: ${(err as Error).message}`;
        this.logger.warn({ instanceId, attempt: attempt.number, step, error: message }, 'provisioning attempt failed');
        await send({ type: 'FailProvisioning', id: instanceId, attemptId: attempt.attemptId, step, error: message, at: at() }, 'failed');
        // The deployment goes; the database stays, so a retry does not allocate again.
        await this.provider.removeDeployment(request, AbortSignal.timeout(this.config.provisioning.step_timeout_ms));
        await send({ type: 'RecordDeploymentRemoved', id: instanceId, attemptId: attempt.attemptId, at: at() }, 'removed');
        return;
      }
    }
  }

  private async run(step: ProvisioningStep, r: ProvisioningRequest, state: InstanceState): Promise<{ detail: string; databaseId: string | null }> {
    const cfg = this.config.provisioning;
    const signal = AbortSignal.any([this.halt.signal, AbortSignal.timeout(cfg.step_timeout_ms)]);
    switch (step) {
      case 'database': {
        const db = await this.provider.allocateDatabase(r, signal);
        return { detail: `${db.created ? 'allocated' : 'reused'} ${r.dbType} database ${db.databaseId}`, databaseId: db.databaseId };
      }
      case 'deploy': {
        const d = await this.provider.deploy({ ...r, databaseId: state.databaseId! }, signal);
        return { detail: `deployed ${d.deploymentId} on ${r.machineId}`, databaseId: null };
      }
      case 'ready': {
        const deadline = Date.now() + cfg.ready_timeout_ms;
        while (!(await this.provider.isReady(r, signal))) {
          if (Date.now() >= deadline) throw new Error(`not ready within ${cfg.ready_timeout_ms} ms`);
          await sleep(Math.min(cfg.ready_poll_ms, Math.max(deadline - Date.now(), 1)), undefined, { signal: this.halt.signal });
        }
        return { detail: 'ready', databaseId: null };
      }
    }
  }

  private async request(state: InstanceState, instanceId: string, attempt: number): Promise<ProvisioningRequest> {
    const machine = await this.projections.findOne('machines', { _id: state.machineId! });
    return {
      instanceId,
      tenantId: state.tenantId!,
      machineId: state.machineId!,
      dbType: state.dbType ?? 'shared',
      attempt,
      labels: (machine?.labels as Record<string, string> | undefined) ?? {},
    };
  }

  /** Released or moved on meanwhile: a refusal is an answer. */
  private send(stream: string, command: InstanceCommand, context: CommandContext) {
    return this.pipeline.runUnlessRefused(instanceDecider, stream, command, context);
  }

  /** Credentials come from the provider, never from an event or a read model. */
  credentials(databaseId: string) {
    return this.provider.credentials(databaseId, AbortSignal.timeout(this.config.provisioning.step_timeout_ms));
  }
}
