import Database from 'better-sqlite3';
import { closeSync, fdatasync, fdatasyncSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import {
  AllFilter,
  AppendResult,
  DuplicateEventIdError,
  EventMetadata,
  EventStoreFullError,
  EventStore,
  EventSubscription,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamAppend,
  StreamNotFoundError,
  SubscribeOptions,
  WrongExpectedRevisionError,
} from '../event-store.port';
import { ModeChange, openPrivateFile, privateSqliteFile } from '../../storage/private-files';
import { chain, GENESIS_HASH } from '../hash-chain';
import { StoreDamagedError, type IntegrityReport } from '../../storage/integrity';
import { isSqliteDamage } from '../../storage/sqlite/damage';
import { quickCheck } from '../../storage/sqlite/quick-check';

export interface SqliteEventStoreOptions {
  /** Group concurrent appends into one transaction (one fsync). Default true. */
  groupCommit?: boolean;
  /** Rows read per query by subscriptions. Default 512. */
  subscriptionBatchSize?: number;
  /** Upper bound of a wait for new events when no notification arrives (safety net only). Default 1000 ms. */
  idleWakeMs?: number;
}

interface EventRow {
  position: number;
  id: string;
  stream: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
  recorded_at: string;
  causation_id: string | null;
}

/** The insert's failure is the event id's uniqueness (not the disk, not the stream's revision). */
function isIdTaken(err: unknown): boolean {
  // By its code, not its class: the driver's error class is set once per process, when first loaded.
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' && typeof e.message === 'string' && e.message.includes('events.id');
}

/** An insert failed after others of the same append: only rolling back the whole transaction undoes them. */
class PartialWriteError extends Error {
  constructor(readonly failure: unknown) {
    super('append failed part-way');
  }
}

/** SQLite refused the write for want of space (the disk, or the file's page limit). */
function isFull(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 'SQLITE_FULL';
}

/** The error a caller is given for a failed write: a full store is said so, in the port's terms. */
function writeFailure(err: unknown): unknown {
  return isFull(err) ? new EventStoreFullError(`${(err as Error).message}; nothing of this append was written`) : err;
}

interface PendingAppend extends StreamAppend {
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

/** An append to several streams: its parts are written under one savepoint, all or none. */
interface PendingAll {
  parts: readonly StreamAppend[];
  resolve: (r: AppendResult[]) => void;
  reject: (e: unknown) => void;
}

type Pending = PendingAppend | PendingAll;
type Outcome = { ok: AppendResult } | { all: AppendResult[] } | { err: unknown };

/**
 * Positions are the table's rowids: each insert takes the largest one plus one, assigned by the
 * append itself (under the write lock) so the hash can cover it. Events are never deleted, so
 * none is given out twice. (Files made before kept the counter in `sqlite_sequence` with
 * AUTOINCREMENT, which rewrote a page of it at every commit: 26 KB of WAL for a one-event commit
 * instead of 22 KB. They keep it; both number their events the same way.)
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position    INTEGER PRIMARY KEY,
  id          TEXT    NOT NULL UNIQUE,
  stream      TEXT    NOT NULL,
  revision    INTEGER NOT NULL,
  type        TEXT    NOT NULL,
  data        TEXT    NOT NULL,
  metadata    TEXT    NOT NULL,
  recorded_at TEXT    NOT NULL,
  causation_id TEXT,
  UNIQUE (stream, revision)
);
`;

/**
 * What caused an event, for cause chains: a column of its own, set at insert from the metadata,
 * with an index over the events that have one. (The first files indexed an expression over the
 * metadata JSON instead, which parsed every event's metadata at every insert: a fifth of a
 * grouped append. `migrate` moves such a file over once.)
 */
const CAUSATION_INDEX = 'CREATE INDEX IF NOT EXISTS events_caused_by ON events (causation_id) WHERE causation_id IS NOT NULL';

type Envelope = Omit<EventRow, 'data' | 'metadata'>;
/**
 * How many of the newest rows the shared tail keeps: at least the first figure, and up to the
 * second while a reader in the window still needs them (runners catching up together drift
 * apart while their writes wait for the read store; one that fell out would read for itself).
 */
const TAIL_ROWS = 4096;
const TAIL_ROWS_MAX = 32_768;
/**
 * Rows the tail may hold past what it keeps before they are trimmed. Taking rows off the front of
 * an array copies all of it: trimming the two or three rows of each commit from 4,096 cost 31 µs
 * a commit, trimming a thousand at a time costs about 0.2 µs a commit.
 */
const TAIL_TRIM_BATCH = 1024;
/** While the disk is idle, the share of the queue committed and synced first (a quarter; see `flush`). */
const FIRST_PART = 4;
/** Streams whose last revision a connection keeps in mind at most (then it starts again). */
const KNOWN_STREAMS_MAX = 100_000;
const ENVELOPE = 'position, id, stream, revision, type, recorded_at, causation_id';

/**
 * The metadata as the store acts on it: what caused the event is the causation column (cause
 * chains read it), so a column that disagrees with the metadata's text shows in the metadata,
 * and the hash over the metadata finds the edit.
 */
function parseMetadata(text: string, causation: string | null): EventMetadata {
  const metadata = JSON.parse(text) as EventMetadata;
  const inText = typeof metadata.causationId === 'string' ? metadata.causationId : null;
  if (inText !== causation) metadata.causationId = causation;
  return metadata;
}

/**
 * A recorded event whose data and metadata are read and parsed on first use: a subscriber that
 * skips an event by its type (most projections skip most events) never pays for its payload.
 * The getters are the object's own, so a copy (`{ ...event }`) still carries data and metadata.
 */
function recorded(row: Envelope, payload: () => { data: string; metadata: string }): RecordedEvent {
  let data: Record<string, unknown> | undefined;
  let metadata: EventMetadata | undefined;
  let raw: { data: string; metadata: string } | undefined;
  const load = () => (raw ??= payload());
  return {
    id: row.id,
    stream: row.stream,
    revision: row.revision,
    position: row.position,
    type: row.type,
    get data() {
      return (data ??= JSON.parse(load().data) as Record<string, unknown>);
    },
    get metadata() {
      return (metadata ??= parseMetadata(load().metadata, row.causation_id));
    },
    recordedAt: row.recorded_at,
  };
}

function toRecorded(row: EventRow): RecordedEvent {
  return recorded(row, () => row);
}

/**
 * The embedded event store: one SQLite file in WAL mode. An append is acknowledged only once
 * the WAL holding it is synced to disk, so an acknowledged append survives power loss.
 * Positions are rowids (see SCHEMA); SQLite's single writer makes them commit-ordered, so a
 * reader never sees a gap that fills later.
 *
 * With group commit, a commit does not sync (synchronous=NORMAL): the WAL is synced with
 * fdatasync on libuv's thread pool, and the group is acknowledged when that returns. The event
 * loop goes on meanwhile (deciding the next commands, serving reads) instead of waiting on the
 * disk; the syncs of groups that commit while one is in flight are one sync.
 *
 * A commit is visible to readers before it is synced, and a power loss can take back what was
 * not synced (its positions are then given out again). So nothing acts on it before: every read
 * that hands out events (streams, `$all`, subscriptions, the head) makes sure what it read is on
 * disk first, waiting for a sync if need be. Any connection's sync of the WAL makes every commit
 * written to it so far durable, another process's too.
 */
export class SqliteEventStore implements EventStore {
  readonly description: string;
  /** The file modes tightened when the store opened (owner-only data), for the caller to log. */
  readonly tightened: readonly ModeChange[];
  private readonly db: Database.Database;
  private readonly groupCommit: boolean;
  private readonly batchSize: number;
  private readonly idleWakeMs: number;
  private queue: Pending[] = [];
  private flushScheduled = false;
  private closed = false;
  /** Bumped on every local commit and every change seen on the file by another process. */
  private changeCounter = 0;
  private waiters = new Set<() => void>();
  private watcher: FSWatcher | null = null;
  private trailingWakes: NodeJS.Timeout[] = [];
  /** The safety net while subscribers wait (see `ensureIdleWake`). */
  private idleWake: NodeJS.Timeout | null = null;
  /** `PRAGMA data_version` when last checked: it moves only on commits by other connections. */
  private dataVersion = 0;
  /**
   * The newest rows of the log, read once for every caught-up subscriber instead of once by each:
   * rows after `from` up to `to` are all here (`to` is the head when `complete`).
   */
  private tail = { rows: [] as EventRow[], from: -1, to: -1, complete: false, counter: -1 };
  /** The rows the transaction being written has inserted, as a read of them would return them. */
  private written: EventRow[] = [];
  /** See `knownLastRevision`: each stream's last revision, while `dataVersion` holds. */
  private readonly lastRevisions = new Map<string, number>();
  /** The WAL file, opened for fdatasync. */
  private readonly walFd: number;
  /** Every position up to this one is known to be on disk. */
  private durableThrough = 0;
  /** The sync in flight: it makes everything up to `through` durable. */
  private inFlight: { through: number; done: Promise<void> } | null = null;
  /** The sync that starts when the one in flight ends, for what was committed after that one began. */
  private nextSync: Promise<void> | null = null;
  /** A failed sync: what was written may or may not be on disk, so nothing more is written or handed out. */
  private syncFailure: Error | null = null;
  /** The first damage this store saw (a read or write SQLite found corrupt, or its integrity check): `ping` fails with it from then on. */
  private damage: StoreDamagedError | null = null;
  /** Where each reader of the shared tail is: the slowest one inside the window keeps its rows. */
  private readonly tailReaders = new Map<object, number>();
  private readonly tailTx: Database.Transaction<(after: number) => { rows: EventRow[]; scannedTo: number }>;
  private readonly stmts: ReturnType<SqliteEventStore['prepare']>;
  private readonly appendOne: Database.Transaction<(req: Pending) => Outcome>;
  private readonly appendMany: Database.Transaction<(reqs: Pending[]) => Outcome[]>;
  /** Every part of an append to several streams, or none: a savepoint inside the group's transaction. */
  private readonly writeParts: Database.Transaction<(parts: readonly StreamAppend[]) => AppendResult[]>;

  constructor(
    private readonly file: string,
    options: SqliteEventStoreOptions = {},
  ) {
    this.groupCommit = options.groupCommit ?? true;
    this.batchSize = options.subscriptionBatchSize ?? 512;
    this.idleWakeMs = options.idleWakeMs ?? 1000;
    this.tightened = privateSqliteFile(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // Group commit syncs the WAL itself, off the event loop (see `durable`); one transaction per
    // append has SQLite sync at every commit.
    this.db.pragma(this.groupCommit ? 'synchronous = NORMAL' : 'synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.migrate();
    // Touch the schema so a corrupt file fails here, at start-up, not on the first write.
    this.db.prepare('SELECT count(*) FROM events WHERE position < 0').get();
    this.description = `sqlite event store (${file})`;
    this.stmts = this.prepare();
    this.writeParts = this.db.transaction((parts: readonly StreamAppend[]) => parts.map((part) => this.write(part)));
    this.appendOne = this.db.transaction((req: Pending) => this.writeRequest(req));
    this.tailTx = this.db.transaction((after: number) => {
      const rows = this.stmts.allForwards.all(after, this.batchSize);
      const scannedTo = rows.length === this.batchSize ? rows[rows.length - 1].position : (this.stmts.head.get()?.position ?? 0);
      return { rows, scannedTo };
    });
    this.dataVersion = this.db.pragma('data_version', { simple: true }) as number;
    // The WAL exists while a connection is open. Whatever it holds now (a crashed process's
    // commits, still in the page cache) is synced before anything is read.
    try {
      this.walFd = openPrivateFile(`${file}-wal`);
    } catch (err) {
      this.db.close();
      throw new Error(`cannot open the event log's WAL file ${file}-wal: ${(err as Error).message}`);
    }
    fdatasyncSync(this.walFd);
    this.durableThrough = this.stmts.head.get()?.position ?? 0;
    // One transaction for the whole group, without a savepoint per append: `write` decides every
    // rejection before its first insert, so a rejected append has written nothing and the others
    // still commit together. A failure after an insert (disk full, I/O) fails the whole group.
    this.appendMany = this.db.transaction((reqs: Pending[]) =>
      reqs.map((req) => {
        try {
          return this.writeRequest(req);
        } catch (err) {
          if (err instanceof PartialWriteError) throw err.failure;
          return { err };
        }
      }),
    );
  }

  /**
   * A file from before the causation column gets it, filled from the metadata, with its index, in
   * one transaction (a crash leaves the file as it was), and the expression index goes. Another
   * process opening the same file at the same moment finds the work done once it has the lock.
   */
  private migrate(): void {
    const hasColumn = () => (this.db.pragma('table_info(events)') as Array<{ name: string }>).some((c) => c.name === 'causation_id');
    if (!hasColumn()) {
      this.db
        .transaction(() => {
          if (hasColumn()) return;
          this.db.exec('ALTER TABLE events ADD COLUMN causation_id TEXT');
          this.db.exec("UPDATE events SET causation_id = json_extract(metadata, '$.causationId') WHERE json_extract(metadata, '$.causationId') IS NOT NULL");
          this.db.exec(CAUSATION_INDEX);
          this.db.exec('DROP INDEX IF EXISTS events_causation');
        })
        .immediate();
    }
    this.db.exec(CAUSATION_INDEX);
  }

  private prepare() {
    const db = this.db;
    return {
      lastRevision: db.prepare<[string], { revision: number; hash: string | null }>(
        "SELECT revision, json_extract(metadata, '$.hash') AS hash FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1",
      ),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      // The (stream, revision) index alone answers it: no row, no JSON.
      streamExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM events WHERE stream = ? LIMIT 1'),
      byId: db.prepare<[string], { stream: string; revision: number; position: number }>(
        'SELECT stream, revision, position FROM events WHERE id = ?',
      ),
      insert: db.prepare(
        'INSERT INTO events (position, id, stream, revision, type, data, metadata, recorded_at, causation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      causedBy: db.prepare<[string, number], EventRow>('SELECT * FROM events WHERE causation_id = ? ORDER BY position ASC LIMIT ?'),
      eventById: db.prepare<[string], EventRow>('SELECT * FROM events WHERE id = ?'),
      head: db.prepare<[], { position: number | null }>('SELECT max(position) AS position FROM events'),
      streamForwards: db.prepare<[string, number, number], EventRow>(
        'SELECT * FROM events WHERE stream = ? AND revision >= ? ORDER BY revision ASC LIMIT ?',
      ),
      streamBackwards: db.prepare<[string, number, number], EventRow>(
        'SELECT * FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC LIMIT ?',
      ),
      // The same without a limit: a bound LIMIT costs SQLite about 7 µs a query even when nothing
      // matches, and the command pipeline's read from its cached revision mostly finds nothing.
      streamForwardsAll: db.prepare<[string, number], EventRow>('SELECT * FROM events WHERE stream = ? AND revision >= ? ORDER BY revision ASC'),
      streamBackwardsAll: db.prepare<[string, number], EventRow>('SELECT * FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC'),
      // Subscriptions read the envelope only; the payload is fetched when a consumer looks at it.
      envelopesForwards: db.prepare<[number, number], Envelope>(
        `SELECT ${ENVELOPE} FROM events WHERE position > ? ORDER BY position ASC LIMIT ?`,
      ),
      payload: db.prepare<[number], { data: string; metadata: string }>('SELECT data, metadata FROM events WHERE position = ?'),
      allForwards: db.prepare<[number, number], EventRow>(
        'SELECT * FROM events WHERE position > ? ORDER BY position ASC LIMIT ?',
      ),
      allBackwards: db.prepare<[number, number], EventRow>(
        'SELECT * FROM events WHERE position < ? ORDER BY position DESC LIMIT ?',
      ),
      // From either end: every row, whatever its position (see `readAll`).
      allFirst: db.prepare<[number], EventRow>('SELECT * FROM events ORDER BY position ASC LIMIT ?'),
      allLast: db.prepare<[number], EventRow>('SELECT * FROM events ORDER BY position DESC LIMIT ?'),
    };
  }

  append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) return Promise.reject(new Error('append needs at least one event'));
    return this.enqueue<AppendResult>((resolve, reject) => ({ stream, events, expected, resolve, reject }));
  }

  /**
   * Every part in one savepoint of the group's transaction: a part refused rolls back the others
   * (and the rest of the group still commits); a failure of the disk fails the whole group.
   */
  appendAll(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    if (appends.length === 0) return Promise.resolve([]);
    if (appends.some((a) => a.events.length === 0)) return Promise.reject(new Error('append needs at least one event'));
    if (new Set(appends.map((a) => a.stream)).size !== appends.length) return Promise.reject(new Error('appendAll takes each stream once'));
    return this.enqueue<AppendResult[]>((resolve, reject) => ({ parts: appends, resolve, reject }));
  }

  private enqueue<T>(make: (resolve: (r: T) => void, reject: (e: unknown) => void) => Pending): Promise<T> {
    if (this.closed) return Promise.reject(new Error('event store is closed'));
    if (this.syncFailure) return Promise.reject(this.syncFailure);
    return new Promise<T>((resolve, reject) => {
      const req = make(resolve, reject);
      if (!this.groupCommit) {
        let outcome: Outcome;
        try {
          outcome = this.appendOne.immediate(req);
        } catch (err) {
          this.takeWritten();
          reject(this.failure(writeFailure(err instanceof PartialWriteError ? err.failure : err)));
          return;
        }
        const rows = this.takeWritten();
        // synchronous=FULL: the commit synced the WAL, and with it every commit written before.
        this.durableThrough = Math.max(this.durableThrough, lastPosition(outcome));
        this.settle(req, outcome);
        this.changed(rows);
        return;
      }
      this.queue.push(req);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** One request's writes: a plain append, or every part of an append to several streams (all or none). */
  private writeRequest(req: Pending): Outcome {
    if (!('parts' in req)) return { ok: this.write(req) };
    const mark = this.written.length;
    try {
      return { all: this.writeParts(req.parts) };
    } catch (err) {
      // The savepoint is rolled back: the rows its parts wrote are not in the file.
      this.written.length = mark;
      throw err;
    }
  }

  /** Answers a request once its writes are on disk, and notes each stream's new end. */
  private settle(req: Pending, outcome: Outcome): void {
    if ('err' in outcome) return req.reject(this.failure(outcome.err));
    if ('parts' in req && 'all' in outcome) {
      req.parts.forEach((part, i) => this.noteLastRevision(part.stream, outcome.all[i].nextExpectedRevision));
      req.resolve(outcome.all);
    } else if (!('parts' in req) && 'ok' in outcome) {
      this.noteLastRevision(req.stream, outcome.ok.nextExpectedRevision);
      req.resolve(outcome.ok);
    }
  }

  /**
   * Commits every append queued since the last flush. While no sync is in flight the disk is
   * idle, so the first quarter goes in a transaction of its own and its sync starts at once; the
   * rest is committed while the disk syncs the first, and synced next. Otherwise all of it goes in
   * one transaction, which the next sync covers.
   */
  private flush(): void {
    this.flushScheduled = false;
    const queued = this.queue;
    this.queue = [];
    if (queued.length === 0) return;
    if (this.inFlight || queued.length < 2) return this.commitGroup(queued);
    const first = Math.max(1, Math.floor(queued.length / FIRST_PART));
    this.commitGroup(queued.slice(0, first));
    this.commitGroup(queued.slice(first));
  }

  /** One transaction for the group; each append acknowledged once the WAL holding it is on disk. */
  private commitGroup(batch: Pending[]): void {
    let outcomes: Outcome[];
    let rows: EventRow[];
    try {
      // IMMEDIATE: take the write lock before the first read. A deferred transaction that read and
      // then wrote would fail (SQLITE_BUSY_SNAPSHOT) whenever another process committed in between.
      outcomes = this.appendMany.immediate(batch);
      rows = this.takeWritten();
    } catch (err) {
      this.takeWritten();
      const failure = this.failure(writeFailure(err));
      for (const req of batch) req.reject(failure);
      return;
    }
    // Acknowledged only once on disk: the WAL synced after the commit. (A retried append answered
    // again may point at a commit of another group still waiting for its sync: the same wait.)
    let through = 0;
    for (const o of outcomes) through = Math.max(through, lastPosition(o));
    const settle = () => {
      outcomes.forEach((o, i) => this.settle(batch[i], o));
      this.changed(rows);
    };
    const synced = this.durable(through);
    if (synced) synced.then(settle, (err) => batch.forEach((req) => req.reject(err)));
    else settle();
  }

  /**
   * Null when everything up to `position` is known to be on disk; otherwise the sync that puts it
   * there: the one in flight if it began after that commit, else the next. A sync covers every
   * commit visible when it began, whichever connection wrote it.
   */
  private durable(position: number): Promise<void> | null {
    if (position <= this.durableThrough) return null;
    if (this.syncFailure) return Promise.reject(this.syncFailure);
    if (!this.inFlight) return this.startSync();
    if (position <= this.inFlight.through) return this.inFlight.done;
    return (this.nextSync ??= this.inFlight.done.then(
      () => {
        this.nextSync = null;
        return this.startSync();
      },
      (err: unknown) => {
        this.nextSync = null;
        throw err;
      },
    ));
  }

  private startSync(): Promise<void> {
    // Every commit visible now has been written to the WAL file: this sync covers it.
    const through = this.stmts.head.get()?.position ?? 0;
    const done = new Promise<void>((resolve, reject) => {
      fdatasync(this.walFd, (err) => {
        this.inFlight = null;
        if (err) {
          this.syncFailure ??= new Error(`the event log could not be synced to disk (${err.message}): no more appends or reads until a restart`);
          return reject(this.syncFailure);
        }
        this.durableThrough = Math.max(this.durableThrough, through);
        resolve();
      });
    });
    // Each waiter handles the failure; the promise kept here must not count as unhandled.
    done.catch(() => undefined);
    this.inFlight = { through, done };
    return done;
  }

  /** Once everything up to `position` is on disk: reads hand out nothing a power loss could take back. */
  private async onDiskThrough(position: number): Promise<void> {
    const synced = this.durable(position);
    if (synced) await synced;
  }

  /** The rows, once every one of them is on disk. */
  private async onDisk<T extends { position: number }>(rows: T[]): Promise<T[]> {
    let last = 0;
    for (const r of rows) if (r.position > last) last = r.position;
    await this.onDiskThrough(last);
    return rows;
  }

  private write({ stream, events, expected }: StreamAppend): AppendResult {
    // A retried append (same event ids, same stream, same order) is recognised and answered again.
    // One event alone is looked up only when it cannot go in (below): the id index is probed once
    // per append, by the insert, not twice.
    const single = events.length === 1;
    if (!single && this.stmts.byId.get(events[0].id)) return this.replayedAppend(stream, events);

    const last = this.stmts.lastRevision.get(stream);
    const actual: number | 'no_stream' = last ? last.revision : 'no_stream';
    const wrong =
      (expected === 'no_stream' && actual !== 'no_stream') ||
      (expected === 'stream_exists' && actual === 'no_stream') ||
      (typeof expected === 'number' && expected !== actual);
    if (wrong) {
      if (single && this.stmts.byId.get(events[0].id)) return this.replayedAppend(stream, events);
      throw new WrongExpectedRevisionError(stream, expected, actual);
    }

    if (!single) {
      // Every id checked before the first insert, so a duplicate rejects the append with nothing written.
      const ids = new Set<string>([events[0].id]);
      for (const e of events.slice(1)) {
        if (ids.has(e.id) || this.stmts.byId.get(e.id)) throw new DuplicateEventIdError(e.id);
        ids.add(e.id);
      }
    }

    let revision = actual === 'no_stream' ? -1 : actual;
    // The fields the store sets are fixed before the hash is computed over them: the time (one
    // for the append) and the positions, the next rowids (this transaction holds the write lock).
    const recordedAt = new Date().toISOString();
    let position = this.nextPosition() - 1;
    const { chained } = chain(stream, revision + 1, last?.hash ?? GENESIS_HASH, events, { recordedAt, firstPosition: position + 1 });
    try {
      for (const { event: e, dataJson: data, metadataJson: metadata } of chained) {
        revision += 1;
        position += 1;
        const cause = e.metadata.causationId;
        const causation = typeof cause === 'string' ? cause : null;
        this.stmts.insert.run(position, e.id, stream, revision, e.type, data, metadata, recordedAt, causation);
        this.written.push({ position, id: e.id, stream, revision, type: e.type, data, metadata, recorded_at: recordedAt, causation_id: causation });
      }
    } catch (err) {
      // One event whose id is taken: SQLite undid the failed insert alone, so nothing of this append
      // is written and the group goes on. A retry is answered again; another event's id is refused.
      if (single && isIdTaken(err)) return this.replayedAppend(stream, events);
      throw new PartialWriteError(err);
    }
    return { nextExpectedRevision: revision, position };
  }

  /** The position the next insert of the transaction being written takes: after its own inserts, or the log's last. */
  private nextPosition(): number {
    const own = this.written;
    return own.length ? own[own.length - 1].position + 1 : (this.stmts.head.get()?.position ?? 0) + 1;
  }

  private replayedAppend(stream: string, events: readonly NewEvent[]): AppendResult {
    let prev: { stream: string; revision: number; position: number } | undefined;
    for (const e of events) {
      const row = this.stmts.byId.get(e.id);
      const inSequence = row && row.stream === stream && (!prev || row.revision === prev.revision + 1);
      if (!inSequence) throw new DuplicateEventIdError(e.id);
      prev = row;
    }
    return { nextExpectedRevision: prev!.revision, position: prev!.position };
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const max = options.maxCount;
    const backwards = options.direction === 'backwards';
    const from = options.fromRevision ?? (backwards ? Number.MAX_SAFE_INTEGER : 0);
    if (max === undefined && !backwards) {
      // Past the end of a stream this connection knows: nothing to read (the command pipeline
      // reads from its cached revision before every decision, and mostly finds nothing).
      const last = this.knownLastRevision(stream);
      if (last !== undefined && from > last) return [];
    }
    const rows = this.reading(() =>
      max === undefined
        ? (backwards ? this.stmts.streamBackwardsAll : this.stmts.streamForwardsAll).all(stream, from)
        : (backwards ? this.stmts.streamBackwards : this.stmts.streamForwards).all(stream, from, max),
    );
    if (rows.length === 0 && !this.reading(() => this.stmts.streamExists.get(stream))) throw new StreamNotFoundError(stream);
    // To the end: the last row is the stream's end; nothing from `from` on: its end is before it.
    if (max === undefined && !backwards) this.noteLastRevision(stream, rows.length ? rows[rows.length - 1].revision : from - 1);
    return (await this.onDisk(rows)).map(toRecorded);
  }

  /**
   * A stream's last revision as this connection last saw it (its own appends, reads to the end;
   * never below the true one), while no other connection has committed since: `data_version`
   * moves only on their commits, and then everything known is forgotten.
   */
  private knownLastRevision(stream: string): number | undefined {
    return this.sawCommitsElsewhere() ? undefined : this.lastRevisions.get(stream);
  }

  private noteLastRevision(stream: string, revision: number): void {
    if (this.lastRevisions.size >= KNOWN_STREAMS_MAX) this.lastRevisions.clear();
    this.lastRevisions.set(stream, revision);
  }

  async readEvent(id: string): Promise<RecordedEvent | null> {
    const row = this.reading(() => this.stmts.eventById.get(id));
    return row ? toRecorded((await this.onDisk([row]))[0]) : null;
  }

  async readCausedBy(eventId: string, maxCount = 1000): Promise<RecordedEvent[]> {
    return (await this.onDisk(this.reading(() => this.stmts.causedBy.all(eventId, maxCount)))).map(toRecorded);
  }

  /**
   * Without `from`, from the table's first row (its last, backwards): a row someone put at a
   * position this store never assigns (below 1) is read too.
   */
  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const max = options.maxCount ?? 4096;
    const backwards = options.direction === 'backwards';
    const from = options.from;
    if (!options.filter) {
      const rows = this.reading(() =>
        this.inLogOrder(from === undefined ? (backwards ? this.stmts.allLast : this.stmts.allFirst).all(max) : (backwards ? this.stmts.allBackwards : this.stmts.allForwards).all(from, max), backwards, from),
      );
      return (await this.onDisk(rows)).map(toRecorded);
    }
    const { sql, params } = filteredQuery(options.filter, backwards ? 'backwards' : 'forwards', '*', from !== undefined);
    const bound = from === undefined ? [] : [from];
    return (await this.onDisk(this.reading(() => this.inLogOrder(this.db.prepare(sql).all(...bound, ...params, max) as EventRow[], backwards, from)))).map(toRecorded);
  }

  subscribeToAll(options: SubscribeOptions = {}): EventSubscription {
    this.ensureWatcher();
    let closed = false;
    let wake: (() => void) | null = null;
    const store = this;
    const start = options.after === undefined || options.after === 'start' ? 0 : options.after;
    const filter = options.filter;
    const envelopes = this.envelopeStatement(options.payloadTypes);
    const readBatch = this.db.transaction((after: number, limit: number) => {
      // One read transaction: the batch and the head come from the same snapshot, so
      // advancing past filtered-out events can never skip a matching one.
      const events = this.inLogOrder(filter ? this.readFilteredRows(after, filter) : envelopes.all(after, limit), false, after);
      const atHead = events.length < (filter ? this.batchSize : limit);
      const scannedTo = atHead ? (this.stmts.head.get()?.position ?? 0) : events[events.length - 1].position;
      return { events, scannedTo, atHead };
    });

    // Each step is what one read found: a page of rows, or nothing (then it waits for a change).
    async function* pages(maxCount: number): AsyncGenerator<RecordedEvent[]> {
      let after = start;
      const reader = {};
      try {
        while (!closed && !store.closed) {
          const seen = store.changeCounter;
          // A reader of pages larger than the shared tail's (a rebuild) reads for itself, that much at a time.
          const own = filter !== undefined || maxCount > store.batchSize;
          if (!own) store.tailReaders.set(reader, after);
          const { events, scannedTo, atHead } = store.reading(() => (own ? null : store.fromTail(after)) ?? readBatch.deferred(after, Math.max(store.batchSize, maxCount)));
          // Nothing is handed out, nor passed over, before it is on disk.
          await store.onDiskThrough(Math.max(scannedTo, events.length ? events[events.length - 1].position : 0));
          for (let i = 0; i < events.length && !closed; i += maxCount) {
            const page = events.slice(i, i + maxCount).map((row) => {
              const r = row as Envelope & { data?: string | null; metadata?: string | null; event?: RecordedEvent };
              // One event object per row, shared by every runner reading the tail: made once, its
              // payload parsed once (events are read-only to their consumers; see the port).
              return (r.event ??= recorded(row, () => (r.data != null ? (r as EventRow) : store.reading(() => store.stmts.payload.get(row.position)!))));
            });
            yield page;
            after = page[page.length - 1].position;
          }
          if (closed) return;
          after = Math.max(after, scannedTo);
          // Read again while there may be more: the read stopped short of the head, or the log moved
          // since (a commit here, or one elsewhere that `data_version` showed). Otherwise wait.
          if (store.changeCounter !== seen || !atHead) continue;
          await new Promise<void>((resolve) => {
            const done = () => {
              store.waiters.delete(done);
              wake = null;
              resolve();
            };
            wake = done;
            store.waiters.add(done);
            store.ensureIdleWake();
          });
        }
      } finally {
        store.tailReaders.delete(reader);
      }
    }

    async function* iterate(): AsyncGenerator<RecordedEvent> {
      for await (const page of pages(store.batchSize)) yield* page;
    }

    let consumer: AsyncGenerator<unknown> | null = null;
    let events: AsyncGenerator<RecordedEvent> | null = null;
    const claim = <T extends AsyncGenerator<unknown>>(g: T): T => {
      if (consumer) throw new Error('a subscription is read either event by event or page by page, once');
      consumer = g;
      return g;
    };
    return {
      [Symbol.asyncIterator]: () => (events ??= claim(iterate())),
      pages: (maxCount: number) => claim(pages(maxCount)),
      close: async () => {
        closed = true;
        const w = wake as (() => void) | null;
        if (w) w();
        await consumer?.return(undefined);
      },
    };
  }

  /**
   * Rows after `after` from the shared tail, refreshed first when the log may have moved; null
   * when `after` is outside the tail (a subscriber catching up reads for itself).
   */
  private fromTail(after: number): { events: EventRow[]; scannedTo: number; atHead: boolean } | null {
    const t = this.tail;
    if (t.to < 0) {
      // The window opens where the first reader is: runners starting together (a start-up catch-up)
      // share every read from there on; one that falls out of the window reads for itself.
      t.from = t.to = after;
      t.complete = false;
    }
    if (after < t.from) return null;
    // Past the window's end while the window is still catching up: this reader is ahead, on its own.
    if (after > t.to && !t.complete) return null;
    // Read more when the log moved, when this reader is past the window, or at its end while it is
    // still catching up. A reader at the end of a complete window has nothing new: no read.
    if (t.counter !== this.changeCounter || after > t.to || (after === t.to && !t.complete)) this.refreshTail();
    if (after > t.to) return null;
    const lo = this.tailIndexAfter(after);
    const events = t.rows.slice(lo, lo + this.batchSize);
    const scannedTo = events.length === this.batchSize ? events[events.length - 1].position : t.to;
    // The window is refreshed to this connection's latest change: complete, it reached the head.
    return { events, scannedTo, atHead: t.complete && events.length < this.batchSize };
  }

  /** The index of the first row of the tail past `position` (binary search: rows are in position order). */
  private tailIndexAfter(position: number): number {
    const rows = this.tail.rows;
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rows[mid].position <= position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private refreshTail(): void {
    const t = this.tail;
    t.counter = this.changeCounter;
    const { rows, scannedTo } = this.tailTx.deferred(t.to);
    this.inLogOrder(rows, false, t.to);
    for (const row of rows) t.rows.push(row);
    t.complete = rows.length < this.batchSize;
    t.to = Math.max(t.to, scannedTo);
    this.trimTail();
  }

  /**
   * Keeps the rows the slowest reader inside the window still needs, and at most `TAIL_ROWS_MAX`
   * (plus up to `TAIL_TRIM_BATCH` waiting to be trimmed together).
   */
  private trimTail(): void {
    const t = this.tail;
    let slowest = Number.POSITIVE_INFINITY;
    for (const at of this.tailReaders.values()) if (at >= t.from && at < slowest) slowest = at;
    const needed = slowest === Number.POSITIVE_INFINITY ? 0 : t.rows.length - this.tailIndexAfter(slowest);
    const keep = Math.min(TAIL_ROWS_MAX, Math.max(TAIL_ROWS, needed));
    if (t.rows.length > keep + TAIL_TRIM_BATCH) {
      const drop = t.rows.length - keep;
      t.from = t.rows[drop - 1].position;
      t.rows.splice(0, drop);
    }
  }

  /** Envelopes after a position; the payload comes along for the types the consumer said it reads. */
  private envelopeStatement(payloadTypes?: readonly string[]): Database.Statement<[number, number], Envelope> {
    if (!payloadTypes) return this.stmts.envelopesForwards;
    if (payloadTypes.length === 0 || payloadTypes.some((t) => !/^[A-Za-z0-9_]+$/.test(t))) return this.stmts.envelopesForwards;
    const types = payloadTypes.map((t) => `'${t}'`).join(',');
    return this.db.prepare<[number, number], Envelope>(
      `SELECT ${ENVELOPE}, CASE WHEN type IN (${types}) THEN data END AS data, CASE WHEN type IN (${types}) THEN metadata END AS metadata FROM events WHERE position > ? ORDER BY position ASC LIMIT ?`,
    );
  }

  private readFilteredRows(after: number, filter: AllFilter): Envelope[] {
    const { sql, params } = filteredQuery(filter, 'forwards', ENVELOPE);
    return this.db.prepare(sql).all(after, ...params, this.batchSize) as Envelope[];
  }

  async headPosition(): Promise<number> {
    const head = this.reading(() => this.stmts.head.get()?.position ?? 0);
    await this.onDiskThrough(head);
    return head;
  }

  /**
   * Waits until every append made so far has been answered (committed and synced, or refused);
   * true when there was one to wait for.
   */
  async settled(): Promise<boolean> {
    let waited = false;
    for (;;) {
      const pending = this.flushScheduled ? new Promise<void>((r) => setImmediate(r)) : (this.nextSync ?? this.inFlight?.done);
      if (!pending) return waited;
      waited = true;
      await pending.catch(() => undefined);
    }
  }

  /** Fails with the damage once the store has seen it (see `failure`), whether or not it still answers. */
  async ping(): Promise<void> {
    if (this.damage) throw this.damage;
    this.reading(() => this.db.prepare('SELECT 1').get());
  }

  /** `PRAGMA quick_check` of the file, on a thread and a read-only connection of its own (see `quickCheck`); damage found is remembered. */
  async checkIntegrity(timeoutMs: number): Promise<IntegrityReport> {
    const report = await quickCheck(this.file, timeoutMs);
    if (report.status === 'DAMAGED') this.damaged(`PRAGMA quick_check: ${report.details.slice(0, 5).join('; ')}`);
    return report;
  }

  /** A read of the file: SQLite's word that it is damaged reaches the caller as the port's (see `failure`). */
  private reading<T>(read: () => T): T {
    try {
      return read();
    } catch (err) {
      throw this.failure(err);
    }
  }

  /**
   * The error a caller is given: SQLite's corruption errors (SQLITE_CORRUPT, SQLITE_NOTADB) as a
   * `StoreDamagedError`, and remembered (see `ping`); anything else as it is.
   */
  private failure(err: unknown): unknown {
    return isSqliteDamage(err) ? this.damaged(err.message) : err;
  }

  /**
   * The rows of a read in position order (after `from`, or before it backwards), checked: SQLite
   * hands a whole table's rows in the order asked, so rows out of it mean its pages are damaged
   * (a read that would otherwise page round the same rows for ever). Positions past what a number
   * holds exactly (never assigned: see the port) may read as equal, and are left to the caller.
   */
  private inLogOrder<T extends { position: number }>(rows: T[], backwards: boolean, from?: number): T[] {
    let prev = from;
    for (const { position } of rows) {
      if (prev !== undefined && Number.isSafeInteger(prev) && Number.isSafeInteger(position) && (backwards ? position >= prev : position <= prev)) {
        throw this.damaged(`a read of the log in position order found position ${position} after ${prev}: the table of events is damaged`);
      }
      prev = position;
    }
    return rows;
  }

  private damaged(detail: string): StoreDamagedError {
    const err = new StoreDamagedError('EVENT_STORE_DAMAGED', this.description, detail);
    this.damage ??= err;
    return err;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.queue.length) this.flush();
    this.closed = true;
    // The last groups are acknowledged (or refused) before the file closes.
    await this.settled();
    this.watcher?.close();
    for (const t of this.trailingWakes) clearTimeout(t);
    if (this.idleWake) clearInterval(this.idleWake);
    this.idleWake = null;
    for (const w of [...this.waiters]) w();
    this.db.close();
    closeSync(this.walFd);
  }

  /**
   * The log moved: subscribers are woken. With the rows this connection just committed, a shared
   * tail that held everything announced so far takes them as they are, without reading them back.
   */
  private changed(written?: EventRow[]): void {
    const current = this.tail.counter === this.changeCounter;
    this.changeCounter += 1;
    if (written && current && this.extendTail(written)) this.tail.counter = this.changeCounter;
    for (const w of [...this.waiters]) w();
  }

  /** What the last transaction inserted (nothing if it failed: SQLite undid it). */
  private takeWritten(): EventRow[] {
    const rows = this.written;
    this.written = [];
    return rows;
  }

  /**
   * Adds rows just committed to a complete tail window when they follow its end directly (one
   * transaction's positions are consecutive: it holds the only write lock). A commit by another
   * process in between leaves a gap, and one a reader already brought in overlaps: then nothing
   * is added, and the next read refreshes the window from the file.
   */
  private extendTail(rows: EventRow[]): boolean {
    const t = this.tail;
    if (rows.length === 0 || t.to < 0 || !t.complete || rows[0].position !== t.to + 1) return false;
    for (const row of rows) t.rows.push(row);
    t.to = rows[rows.length - 1].position;
    this.trimTail();
    return true;
  }

  /**
   * Another process wrote to the file. inotify reports the WAL frame writes, but the commit
   * becomes visible only when the writer updates the memory-mapped WAL index, which inotify
   * cannot see: so wake now, and re-check a few times after the last write. The last frame is
   * written before the writer's fsync, which can take a second on a busy disk: the re-checks
   * reach 3 s, then the idle wake-up takes over.
   */
  private externalChange(): void {
    this.changedElsewhere();
    for (const t of this.trailingWakes) clearTimeout(t);
    this.trailingWakes = [2, 20, 200, 1_000, 3_000].map((ms) => {
      const t = setTimeout(() => this.changedElsewhere(), ms);
      t.unref();
      return t;
    });
  }

  /**
   * The safety net for a commit elsewhere that no file notification reported: while subscribers
   * wait, `data_version` is looked at every `idleWakeMs` (and they are woken if it moved). One
   * timer for the store, not one set and cleared by every subscriber at every wait.
   */
  private ensureIdleWake(): void {
    if (this.idleWake || this.closed) return;
    this.idleWake = setInterval(() => {
      if (this.waiters.size === 0 || this.closed) {
        clearInterval(this.idleWake!);
        this.idleWake = null;
        return;
      }
      this.changedElsewhere();
    }, this.idleWakeMs);
  }

  /** Wakes subscribers only if another connection committed: our own commits wake them already. */
  private changedElsewhere(): void {
    if (!this.closed) this.sawCommitsElsewhere();
  }

  /**
   * Whether another connection has committed since this one last looked (`data_version` moves
   * only on their commits). If so, what this connection knew of streams' ends is forgotten and
   * the subscribers are woken.
   */
  private sawCommitsElsewhere(): boolean {
    const version = this.stmts.dataVersion.get() as number;
    if (version === this.dataVersion) return false;
    this.dataVersion = version;
    this.lastRevisions.clear();
    this.changed();
    return true;
  }

  /** Appends by another process show up as writes to the WAL file; inotify wakes us without polling. */
  private ensureWatcher(): void {
    if (this.watcher || this.closed) return;
    const name = basename(this.file);
    try {
      this.watcher = watch(dirname(this.file), (_event, changed) => {
        if (changed && String(changed).startsWith(name)) this.externalChange();
      });
      this.watcher.unref();
    } catch {
      // No file watching on this platform: the idle wake-up still bounds the delay.
      this.watcher = null;
    }
  }
}

/** The highest position a request's writes reached (0 when refused). */
function lastPosition(o: Outcome): number {
  if ('ok' in o) return o.ok.position;
  if ('all' in o) return Math.max(0, ...o.all.map((r) => r.position));
  return 0;
}

/** A filtered read of `$all`; `bounded`: its first parameter is the position it reads past. */
function filteredQuery(filter: AllFilter, direction: 'forwards' | 'backwards', columns = '*', bounded = true) {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (filter.eventTypes) {
    clauses.push(`type IN (${filter.eventTypes.map(() => '?').join(',') || 'NULL'})`);
    params.push(...filter.eventTypes);
  }
  if (filter.streamPrefixes) {
    // A range on stream, so the (stream, revision) index answers it instead of a scan.
    const ors = filter.streamPrefixes.map(() => '(stream >= ? AND stream < ?)');
    clauses.push(`(${ors.join(' OR ') || '0'})`);
    for (const p of filter.streamPrefixes) params.push(p, `${p}\uffff`);
  }
  const cmp = direction === 'forwards' ? '>' : '<';
  const order = direction === 'forwards' ? 'ASC' : 'DESC';
  if (bounded) clauses.unshift(`position ${cmp} ?`);
  const where = clauses.length ? ` WHERE ${clauses.join(' AND ')}` : '';
  return { sql: `SELECT ${columns} FROM events${where} ORDER BY position ${order} LIMIT ?`, params };
}
