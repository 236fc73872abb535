import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, CommandOutcome, CommandPipeline } from './command-pipeline';
import { Decider, DomainEvent } from './decider';

/**
 * The command type on the CommandBus: "run this decider on this stream" (and `DecideAllCommand`
 * below for several streams at once).
 * Contexts build it with their own decider and command; the handler is generic.
 */
export class DecideCommand<C = unknown, E extends DomainEvent = DomainEvent, S = unknown> extends Command<CommandOutcome> {
  constructor(
    readonly decider: Decider<C, E, S>,
    readonly stream: string,
    readonly command: C,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(DecideCommand)
export class DecideCommandHandler implements ICommandHandler<DecideCommand> {
  constructor(private readonly pipeline: CommandPipeline) {}

  execute(c: DecideCommand): Promise<CommandOutcome> {
    return this.pipeline.run(c.decider, c.stream, c.command, c.context);
  }
}

/** "Run this decider on each of these streams, all or nothing": one write to them all (see `CommandPipeline.runAll`). */
export class DecideAllCommand<C = unknown, E extends DomainEvent = DomainEvent, S = unknown> extends Command<CommandOutcome[]> {
  constructor(
    readonly decider: Decider<C, E, S>,
    readonly commands: ReadonlyArray<{ stream: string; command: C }>,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(DecideAllCommand)
export class DecideAllCommandHandler implements ICommandHandler<DecideAllCommand> {
  constructor(private readonly pipeline: CommandPipeline) {}

  execute(c: DecideAllCommand): Promise<CommandOutcome[]> {
    return this.pipeline.runAll(c.decider, c.commands, c.context);
  }
}
