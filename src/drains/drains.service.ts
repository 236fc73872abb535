import { Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { randomUUID } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import { AppConfig } from '../config/config';
import { MachineCommand, machineDecider, machineStream } from '../machines/machine.decider';
import { CommandContext, CommandOutcome, CommandPipeline } from '../messaging/command-pipeline';
import { DecideCommand } from '../messaging/decide.command';
import { Decider } from '../messaging/decider';
import { BadInputError, FailedPreconditionError, NotFoundError } from '../messaging/domain-errors';
import { ProjectionsService } from '../messaging/projections.service';
import { DrainExecutor } from './drain-executor';
import { DrainRequest, drainDecider, drainStream } from './drain.decider';
import { DrainKind, DrainMode } from './drain.rules';

const DRAIN_ID_NAMESPACE = '2d0b8f6c-5a41-4c4e-8b7a-93f1d6e0c2a7';

export interface DrainAsk {
  mode: DrainMode;
  parallel: boolean;
  maxConcurrent?: number | null;
  allowOffline: boolean;
  targetNode?: string | null;
  deadline?: Date | null;
}

/**
 * What the drain and node-maintenance mutations do, in the order that loses nothing: the node
 * takes the drain (one at a time, in its own stream), then the executor plans and starts it.
 * A combined mutation checks the node's rules first, so it is refused whole or done whole.
 */
@Injectable()
export class DrainsService {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ProjectionsService,
    private readonly pipeline: CommandPipeline,
    private readonly executor: DrainExecutor,
    private readonly config: AppConfig,
  ) {}

  private exec<C>(decider: Decider<C, any, any>, stream: string, command: C, context: CommandContext): Promise<CommandOutcome> {
    return this.bus.execute(new DecideCommand(decider, stream, command, context));
  }

  /** Runs the node's own rule for beginning a drain against its state now (or as it will be), without recording anything. */
  private async checkCanBegin(node: string, kind: DrainKind, context: CommandContext, maintenanceEnded = false): Promise<void> {
    const { state } = await this.pipeline.load(machineDecider, machineStream(node));
    const s = maintenanceEnded ? { ...state, node: { ...state.node, maintenance: null } } : state;
    machineDecider.decide({ type: 'BeginDrain', id: node, drainId: '(check)', kind, request: this.request({ mode: 'SOFT', parallel: true, allowOffline: false }), at: context.issuedAt }, s);
  }

  private request(ask: DrainAsk): DrainRequest {
    return {
      mode: ask.mode,
      parallel: ask.parallel,
      maxConcurrent: ask.maxConcurrent ?? this.config.drains.default_max_concurrent,
      allowOffline: ask.allowOffline,
      targetNode: ask.targetNode ?? null,
      deadline: ask.deadline ? ask.deadline.toISOString() : null,
    };
  }

  /** Starts a drain (or an undrain) of a node and returns its id once the read model shows it. */
  async start(node: string, kind: DrainKind, ask: DrainAsk, context: CommandContext): Promise<string> {
    if (ask.deadline && ask.deadline.getTime() <= Date.parse(context.issuedAt)) throw new BadInputError('deadline', 'must be in the future');
    const request = this.request(ask);
    if (request.targetNode) {
      const why = await this.executor.whyNotTarget(request.targetNode, node);
      if (why) throw new FailedPreconditionError(`targetNode ${request.targetNode} cannot take VMs: ${why}`, { targetNode: request.targetNode });
    }
    const drainId = context.requestId ? uuidv5(`${node}/${kind}/${context.requestId}`, DRAIN_ID_NAMESPACE) : randomUUID();
    const began = await this.exec(machineDecider, machineStream(node), { type: 'BeginDrain', id: node, drainId, kind, request, at: context.issuedAt }, context);
    const opened = await this.executor.open(node, { drainId, kind, request }, { ...context, causationId: began.events[0]?.id ?? null });
    await this.read.waitFor(['drains', 'machines'], Math.max(began.position, opened));
    return drainId;
  }

  /** Moves back what the node's last drain moved away, in the mode that drain used. */
  async undrain(node: string, context: CommandContext): Promise<string> {
    const { state } = await this.pipeline.load(machineDecider, machineStream(node));
    const last = state.node.lastDrainAway ? (await this.pipeline.load(drainDecider, drainStream(state.node.lastDrainAway))).state.request : null;
    return this.start(node, 'UNDRAIN', { mode: last?.mode ?? 'SOFT', parallel: true, allowOffline: last?.allowOffline ?? false }, context);
  }

  async cancel(drainId: string, context: CommandContext): Promise<void> {
    const { state } = await this.pipeline.load(drainDecider, drainStream(drainId));
    if (!state.id) throw new NotFoundError(`drain ${drainId} not found`, { drainId });
    const outcome = await this.exec(drainDecider, drainStream(drainId), { type: 'CancelDrain', drainId, by: context.actor, at: context.issuedAt }, context);
    await this.read.waitFor(['drains'], outcome.position);
  }

  async enableMaintenance(node: string, reason: string, drain: DrainMode | null, context: CommandContext): Promise<void> {
    if (drain) await this.checkCanBegin(node, 'DRAIN', context);
    const outcome = await this.exec(machineDecider, machineStream(node), { type: 'EnableNodeMaintenance', id: node, reason, at: context.issuedAt } satisfies MachineCommand, context);
    await this.read.waitFor(['machines'], outcome.position);
    if (drain) await this.start(node, 'DRAIN', { mode: drain, parallel: true, allowOffline: false }, { ...context, requestId: null });
  }

  async disableMaintenance(node: string, undrain: boolean, context: CommandContext): Promise<void> {
    if (undrain) await this.checkCanBegin(node, 'UNDRAIN', context, true);
    const outcome = await this.exec(machineDecider, machineStream(node), { type: 'DisableNodeMaintenance', id: node, at: context.issuedAt } satisfies MachineCommand, context);
    await this.read.waitFor(['machines'], outcome.position);
    if (undrain) await this.undrain(node, { ...context, requestId: null });
  }
}
