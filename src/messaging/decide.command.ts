import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, CommandOutcome, CommandPipeline } from './command-pipeline';
import { Decider, DomainEvent } from './decider';

/**
 * The one command type on the CommandBus: "run this decider on this stream".
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
