import { Inject } from '@nestjs/common';
import { Args, ID, Int, Query, Resolver, Subscription } from '@nestjs/graphql';
import { EVENT_STORE, EventStore, RecordedEvent, StreamNotFoundError } from '../event-store/event-store.port';
import { ChainVerifier } from '../event-store/hash-chain';
import { counted } from '../graphql/async-iterator';
import { PositionScalar } from '../graphql/scalars';
import { Allow } from '../graphql/roles';
import { BadInputError, NotFoundError } from '../messaging/domain-errors';
import { CausationChain, CausedEvent, EventConnection, EventFilter, LogVerification, LogVerificationProgress, RecordedEventView, StreamVerification } from './audit.types';
import { history, HistoryFilter } from './history';
import { redactEvent } from './redaction';
import { LogProgress, LogReport, verifyLog, verifyLogSteps } from './log-verification';

/** The largest cause tree returned at once; a bigger one is marked truncated. */
const MAX_CHAIN = 10_000;
const MAX_ANCESTORS = 1_000;

export function historyFilter(f: EventFilter | null | undefined): HistoryFilter {
  return { ...f, from: f?.from?.toISOString() ?? null, to: f?.to?.toISOString() ?? null };
}

const view = (e: RecordedEvent) => e as unknown as RecordedEventView;
/** An event read for a cause chain, shown as history shows it: its secrets redacted. */
const chainView = (e: RecordedEvent) => view(redactEvent(e));

/** The most breaks a whole-log report lists (a subscription's steps tell every one). */
const MAX_LISTED_BREAKS = 1000;

function listedBreaks(limit: number): number {
  if (!Number.isInteger(limit) || limit < 0 || limit > MAX_LISTED_BREAKS) throw new BadInputError('limit', `must be between 0 and ${MAX_LISTED_BREAKS}`);
  return limit;
}

const ANCHOR = "the hash of a seal from an earlier report (latestSeal.hash), kept outside Drydock: ANCHOR_MISSING when the log no longer holds it";

function sealHash(anchor: string | null | undefined): string | undefined {
  if (anchor == null) return undefined;
  if (!/^[0-9a-f]{64}$/.test(anchor)) throw new BadInputError('anchor', 'must be a seal\'s hash: 64 hex digits');
  return anchor;
}

const perSecond = (events: number, ms: number) => (ms > 0 ? (events * 1000) / ms : 0);

function reportView(r: LogReport): LogVerification {
  return { ...r, durationSeconds: r.durationMs / 1000, eventsPerSecond: perSecond(r.checkedEvents, r.durationMs) };
}

function progressView(p: LogProgress): LogVerificationProgress {
  return {
    checkedEvents: p.checkedEvents,
    checkedStreams: p.checkedStreams,
    position: p.position,
    head: p.head,
    // An event at a position below 1 (forged, and reported) is read first: progress starts at 0 all the same.
    progress: p.head > 0 ? Math.min(1, Math.max(0, p.position / p.head)) : 1,
    eventsPerSecond: perSecond(p.checkedEvents, p.elapsedMs),
    brokenStreams: p.brokenStreams,
    newBreaks: p.newBreaks,
    report: p.report && reportView(p.report),
  };
}

async function* progressViews(steps: AsyncGenerator<LogProgress>): AsyncGenerator<LogVerificationProgress> {
  for await (const step of steps) yield progressView(step);
}

/**
 * The recorded history for auditors, read from the event store itself (never a read model),
 * so it is always complete: events, the cause tree around one event, and the hash chain of a stream.
 */
@Resolver(() => RecordedEventView)
export class EventsResolver {
  constructor(@Inject(EVENT_STORE) private readonly log: EventStore) {}

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => EventConnection, { description: 'Recorded events with all their metadata. `after` pages forwards; `before` pages backwards (newest first).' })
  async events(
    @Args('filter', { type: () => EventFilter, nullable: true }) f: EventFilter | null,
    @Args('first', { type: () => Int, defaultValue: 100 }) first: number,
    @Args('after', { type: () => PositionScalar, nullable: true }) after: number | null,
    @Args('before', { type: () => PositionScalar, nullable: true }) before: number | null,
  ): Promise<EventConnection> {
    if (first < 1 || first > 1000) throw new BadInputError('first', 'must be between 1 and 1000');
    if (after != null && before != null) throw new BadInputError('before', 'give after or before, not both');
    const backwards = before != null;
    const found: RecordedEvent[] = [];
    for await (const e of history(this.log, historyFilter(f), { direction: backwards ? 'backwards' : 'forwards', after: (backwards ? before : after) ?? undefined })) {
      found.push(e);
      if (found.length > first) break;
    }
    const nodes = found.slice(0, first).map(view);
    return {
      nodes,
      pageInfo: {
        startCursor: nodes.length ? nodes[0].position : null,
        endCursor: nodes.length ? nodes[nodes.length - 1].position : null,
        hasMore: found.length > first,
      },
    };
  }

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => CausationChain, { description: 'The chain back to the first cause of an event, and every event it caused, directly or transitively.' })
  async causationChain(@Args('eventId', { type: () => ID }) eventId: string): Promise<CausationChain> {
    const event = await this.log.readEvent(eventId);
    if (!event) throw new NotFoundError(`event ${eventId} not found`, { eventId });
    const up: RecordedEvent[] = [event];
    const seen = new Set([event.id]);
    for (let cause = event.metadata.causationId; cause && !seen.has(cause) && up.length < MAX_ANCESTORS; ) {
      const parent = await this.log.readEvent(cause);
      if (!parent) break; // a cause that is not an event (an outside trigger) ends the chain
      up.unshift(parent);
      seen.add(parent.id);
      cause = parent.metadata.causationId;
    }
    const ancestors = up.map((e, depth): CausedEvent => ({ event: chainView(e), parentId: depth === 0 ? null : up[depth - 1].id, depth }));
    const descendants: CausedEvent[] = [];
    let truncated = false;
    const visit = async (parent: RecordedEvent, depth: number): Promise<void> => {
      for (const child of await this.log.readCausedBy(parent.id, MAX_CHAIN + 1)) {
        if (seen.has(child.id)) continue;
        if (descendants.length >= MAX_CHAIN) {
          truncated = true;
          return;
        }
        seen.add(child.id);
        descendants.push({ event: chainView(child), parentId: parent.id, depth });
        await visit(child, depth + 1);
      }
    };
    await visit(event, up.length);
    return { eventId, rootId: up[0].id, ancestors, descendants, truncated };
  }

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => StreamVerification, { description: "Recomputes a stream's hash chain from its events and reports the first break." })
  async verifyStream(@Args('stream') stream: string): Promise<StreamVerification> {
    if (!stream || stream.length > 200) throw new BadInputError('stream', 'must be a stream name of 1 to 200 characters');
    const verifier = new ChainVerifier();
    for (let from = 0; ; ) {
      const page = await this.log.readStream(stream, { fromRevision: from, maxCount: 1000 }).catch((err: Error) => {
        if (err instanceof StreamNotFoundError) throw new NotFoundError(`stream ${stream} not found`, { stream });
        throw err;
      });
      if (!verifier.feed(page) || page.length < 1000) break;
      from = page[page.length - 1].revision + 1;
    }
    return { stream, ok: verifier.firstBreak === null, checked: verifier.checked, lastHash: verifier.checked ? verifier.lastHash : null, firstBreak: verifier.firstBreak };
  }

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => LogVerification, {
    description:
      "Verifies the whole log up to its head: every stream's hash chain, and every seal against the streams as they stood when it was made (a stream cut short, removed or written again). Reads the log a page at a time; for progress, subscribe to logVerification.",
  })
  async verifyLog(
    @Args('limit', { type: () => Int, defaultValue: 100, description: 'the most breaks listed (all are counted), 0 to 1000' }) limit: number,
    @Args('anchor', { type: () => String, nullable: true, description: ANCHOR }) anchor: string | null | undefined,
  ): Promise<LogVerification> {
    return reportView(await verifyLog(this.log, { limit: listedBreaks(limit), anchor: sealHash(anchor) }));
  }

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Subscription(() => LogVerificationProgress, {
    resolve: (p: LogVerificationProgress) => p,
    description: 'The whole-log verification of verifyLog, with a step at least every half second: how far it is, and every break as it is found. The last step carries the report; then the subscription ends.',
  })
  logVerification(
    @Args('limit', { type: () => Int, defaultValue: 100, description: 'the most breaks the report lists (the steps tell every one), 0 to 1000' }) limit: number,
    @Args('anchor', { type: () => String, nullable: true, description: ANCHOR }) anchor: string | null | undefined,
  ): AsyncIterableIterator<LogVerificationProgress> {
    return counted(progressViews(verifyLogSteps(this.log, { limit: listedBreaks(limit), anchor: sealHash(anchor) })));
  }
}
