import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { EventStore, RecordedEvent, StreamNotFoundError } from '../event-store/event-store.port';
import { ChainBreakReason, ChainVerifier } from '../event-store/hash-chain';
import { readSeal, SEAL_STREAM, SealData } from '../event-store/log-seals';

/**
 * Beyond a stream's own chain: `TRUNCATED`, the stream ends before the head a seal recorded (its
 * newest events removed); `STREAM_MISSING`, a stream a seal recorded has no event left;
 * `SEAL_MISMATCH`, the stream's head where a seal was made is not the event it recorded (written
 * again with fresh hashes, or events moved); `BAD_SEAL`, a seal that cannot be read or does not
 * take up where the one before it stopped (a seal removed); `ANCHOR_MISSING`, the seal whose hash
 * the caller kept from an earlier check is not in the log (the log was cut after it, seals and all:
 * what no seal left in the log can show).
 */
export type LogBreakReason = ChainBreakReason | 'TRUNCATED' | 'STREAM_MISSING' | 'SEAL_MISMATCH' | 'BAD_SEAL' | 'ANCHOR_MISSING';

/** The first problem found in one stream. */
export interface LogBreak {
  stream: string;
  reason: LogBreakReason;
  revision: number | null;
  eventId: string | null;
  detail: string;
}

export interface LatestSeal {
  position: number;
  revision: number;
  hash: string | null;
  through: number;
  sealedAt: string;
}

export interface LogReport {
  ok: boolean;
  /** The head of the log when the check began: the events up to it were checked. */
  head: number;
  checkedEvents: number;
  checkedStreams: number;
  /** Seal events applied. */
  seals: number;
  latestSeal: LatestSeal | null;
  /** Events (seals aside) after the latest seal's `through`: not yet protected against removal. */
  unsealedEvents: number;
  brokenStreams: number;
  /** One per broken stream (and ANCHOR_MISSING besides), in the order found, at most `limit`. */
  breaks: LogBreak[];
  durationMs: number;
}

export interface LogProgress {
  checkedEvents: number;
  checkedStreams: number;
  /** The position of the last event checked. */
  position: number;
  head: number;
  brokenStreams: number;
  /** Every break found since the previous step. */
  newBreaks: LogBreak[];
  elapsedMs: number;
  /** Set on the last step only. */
  report: LogReport | null;
}

export interface VerifyLogOptions {
  /** The most breaks the report lists (all are counted). Default 100. */
  limit?: number;
  /** Events read at a time. Default 1000. */
  pageSize?: number;
  /** The least time between two progress steps. Default 500 ms. */
  progressEveryMs?: number;
  /** The hash of a seal (`latestSeal.hash` of an earlier report, kept outside the log) that must still be in it. */
  anchor?: string;
  now?: () => number;
}

/** Seal events read at a time: each holds up to a thousand heads. */
const SEAL_PAGE = 16;
/** A step is made early once this many breaks wait to be told. */
const BREAKS_PER_STEP = 100;

/**
 * Checks the whole log up to its head as the check begins: every stream's hash chain, and every
 * seal against the streams as they stood where it was made. It reads the log once, in position
 * order a page at a time from its first row (an event at a position no store assigns, below 1,
 * is read and reported: `POSITION_OUT_OF_RANGE`), beside the seal stream (its own cursor, a few seals at a time); a seal
 * is applied when the reading passes its `through`, so each stream is then exactly where the seal
 * found it. Memory: a page of events, a few seals, and per stream its chain's last hash and
 * revision (O(streams)); never the events read. Yields progress steps; the last carries the report.
 */
export async function* verifyLogSteps(log: EventStore, options: VerifyLogOptions = {}): AsyncGenerator<LogProgress> {
  const limit = options.limit ?? 100;
  const pageSize = options.pageSize ?? 1000;
  const every = options.progressEveryMs ?? 500;
  const now = options.now ?? Date.now;
  const started = now();
  const head = await log.headPosition();
  const streams = new Map<string, ChainVerifier>();
  /** The streams already reported: each once, at its first problem. */
  const reported = new Set<string>();
  const breaks: LogBreak[] = [];
  let newBreaks: LogBreak[] = [];
  let brokenStreams = 0;
  let checkedEvents = 0;
  let position = 0;
  let lastStep = started;

  /** A stream's first problem; `always` tells one about the whole log even when its stream was reported already. */
  const report = (b: LogBreak, always = false) => {
    if (reported.has(b.stream) && !always) return;
    if (!reported.has(b.stream)) brokenStreams += 1;
    reported.add(b.stream);
    if (breaks.length < limit) breaks.push(b);
    newBreaks.push(b);
  };

  // The seals, in order, as far as the head: a cursor beside the reading of the log.
  const seals = sealsUpTo(log, head);
  let pending = await seals.next();
  let sealsApplied = 0;
  let sealedThrough = 0;
  let latestSeal: LatestSeal | null = null;
  /** Events (seals aside) read since the last seal applied, all after its `through`. */
  let unsealed = 0;
  let anchored = false;

  const applySeal = (e: RecordedEvent) => {
    sealsApplied += 1;
    const seal = readSeal(e);
    if (typeof seal === 'string') return report({ stream: SEAL_STREAM, reason: 'BAD_SEAL', revision: e.revision, eventId: e.id, detail: seal });
    latestSeal = { position: e.position, revision: e.revision, hash: typeof e.metadata.hash === 'string' ? e.metadata.hash : null, through: seal.through, sealedAt: e.recordedAt };
    if (latestSeal.hash !== null && latestSeal.hash === options.anchor) anchored = true;
    if (seal.through >= e.position) {
      report({ stream: SEAL_STREAM, reason: 'BAD_SEAL', revision: e.revision, eventId: e.id, detail: `the seal at position ${e.position} claims to cover positions up to ${seal.through}` });
    } else if (seal.from !== sealedThrough) {
      report({ stream: SEAL_STREAM, reason: 'BAD_SEAL', revision: e.revision, eventId: e.id, detail: `the seal covers positions after ${seal.from}, the one before it ended at ${sealedThrough}: a seal is missing` });
    }
    sealedThrough = seal.through;
    unsealed = 0;
    checkHeads(seal, e);
  };

  const checkHeads = (seal: SealData, e: RecordedEvent) => {
    const where = `the seal at position ${e.position} recorded revision`;
    for (const h of seal.heads) {
      if (reported.has(h.stream)) continue;
      const chain = streams.get(h.stream);
      const at = { stream: h.stream, revision: h.revision, eventId: null };
      if (!chain) {
        report({ ...at, reason: 'STREAM_MISSING', detail: `${where} ${h.revision} (hash ${h.hash}); no event of the stream is left up to position ${seal.through}` });
      } else if (chain.lastRevision < h.revision) {
        report({ ...at, reason: 'TRUNCATED', detail: `${where} ${h.revision} (hash ${h.hash}); the stream ends at revision ${chain.lastRevision} there: its newest events were removed` });
      } else if (chain.lastRevision > h.revision || chain.lastHash !== h.hash) {
        report({ ...at, reason: 'SEAL_MISMATCH', detail: `${where} ${h.revision} (hash ${h.hash}); the stream stood at revision ${chain.lastRevision} (hash ${chain.lastHash}) there: it was written again` });
      }
    }
  };

  const step = (report: LogReport | null): LogProgress => {
    const s: LogProgress = { checkedEvents, checkedStreams: streams.size, position, head, brokenStreams, newBreaks, elapsedMs: now() - started, report };
    newBreaks = [];
    lastStep = now();
    return s;
  };

  // From the log's first row, whatever its position: one a store never assigns is read and reported.
  for (let cursor: number | undefined; cursor === undefined || cursor < head; ) {
    const page = await log.readAll({ from: cursor, maxCount: pageSize });
    // Positions past what a number holds exactly (forged) can read as one: the reading would not move on.
    if (cursor !== undefined && page.length > 0 && page[page.length - 1].position <= cursor) {
      const e = page[page.length - 1];
      report({ stream: e.stream, reason: 'POSITION_OUT_OF_RANGE', revision: e.revision, eventId: e.id, detail: `events at positions no store assigns, too far from 0 to be told apart, stop the reading at position ${cursor}: the rest of the log was not checked` }, true);
      break;
    }
    for (const e of page) {
      if (e.position > head) break;
      // Every event up to a seal's `through` is read: each stream stands where the seal found it.
      while (!pending.done && pending.value.through < e.position) {
        applySeal(pending.value.event);
        pending = await seals.next();
      }
      checkedEvents += 1;
      position = e.position;
      if (e.stream !== SEAL_STREAM) unsealed += 1;
      let chain = streams.get(e.stream);
      if (!chain) streams.set(e.stream, (chain = new ChainVerifier()));
      if (!reported.has(e.stream) && !chain.next(e)) report({ stream: e.stream, ...chain.firstBreak! });
    }
    if (page.length < pageSize) break;
    cursor = page[page.length - 1].position;
    if (now() - lastStep >= every || newBreaks.length >= BREAKS_PER_STEP) yield step(null);
    // A long check leaves the event loop to the rest of the app between pages.
    await yieldToLoop();
  }
  // Every seal up to the head was made after the events it covers.
  for (; !pending.done; pending = await seals.next()) applySeal(pending.value.event);
  if (options.anchor !== undefined && !anchored) {
    report({ stream: SEAL_STREAM, reason: 'ANCHOR_MISSING', revision: null, eventId: null, detail: `no seal in the log up to position ${head} has the hash ${options.anchor}: the log was cut after it, or it is another log's` }, true);
  }
  position = head;
  yield step({
    ok: brokenStreams === 0,
    head,
    checkedEvents,
    checkedStreams: streams.size,
    seals: sealsApplied,
    latestSeal,
    unsealedEvents: unsealed,
    brokenStreams,
    breaks,
    durationMs: now() - started,
  });
}

/** The whole check, to its report. */
export async function verifyLog(log: EventStore, options: VerifyLogOptions = {}): Promise<LogReport> {
  let last: LogProgress | null = null;
  for await (const s of verifyLogSteps(log, options)) last = s;
  return last!.report!;
}

/** The seal events up to `head`, in order, each with the position it covers up to (its own position if unreadable). */
async function* sealsUpTo(log: EventStore, head: number): AsyncGenerator<{ event: RecordedEvent; through: number }> {
  for (let from = 0; ; ) {
    let page: RecordedEvent[];
    try {
      page = await log.readStream(SEAL_STREAM, { fromRevision: from, maxCount: SEAL_PAGE });
    } catch (err) {
      if (err instanceof StreamNotFoundError) return;
      throw err;
    }
    for (const event of page) {
      if (event.position > head) return;
      const seal = readSeal(event);
      yield { event, through: typeof seal === 'string' ? event.position - 1 : Math.min(seal.through, event.position - 1) };
    }
    if (page.length < SEAL_PAGE) return;
    from = page[page.length - 1].revision + 1;
  }
}
