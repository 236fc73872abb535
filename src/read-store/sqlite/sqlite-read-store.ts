import Database from 'better-sqlite3';
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from 'mingo';
import type { Query as MingoQuery } from 'mingo';
import { Change, ConcurrentCommitError, Doc, Filter, FindOptions, IndexSpec, ReadStore, Update, upsertSeed } from '../read-store.port';
import { ModeChange, privateSqliteFile } from '../../storage/private-files';
import { fastUpdate } from './fast-update';
import { DuplicateKeyError, WriterClient } from './writer-client';
import { ResultCache } from './result-cache';
import { StoreDamagedError, type IntegrityReport } from '../../storage/integrity';
import { isSqliteDamage } from '../../storage/sqlite/damage';
import { quickCheck } from '../../storage/sqlite/quick-check';

const NAME = /^[A-Za-z][A-Za-z0-9_]{0,100}$/;
const FIELD = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/;

export { DuplicateKeyError };

export interface SqliteReadStoreOptions {
  /**
   * Apply writes on a thread of their own (see `WriterClient`): what the app does. Off, writes
   * are applied on the caller's thread (the writer thread's own store, and tests of the store alone).
   */
  writerThread?: boolean;
  /**
   * With a writer thread: a commit of at most this many changes, made while the thread has
   * nothing in flight, is applied on the caller's connection at once (see `commit`). 0: never.
   */
  inlineChanges?: number;
  /**
   * Commits applied on the caller's connection between two checkpoints of the WAL, which the
   * writer thread is then asked to make. 0: never asked (the thread still checkpoints after its
   * own commits).
   */
  inlineCommitsPerCheckpoint?: number;
  /** The writer thread's script: the compiled `writer-thread.js` beside this file unless given. */
  writerScript?: string;
}

type Bindable = string | number | null;

/**
 * The largest commit applied on the caller's connection when a writer thread is idle: a live
 * projection batch of a few events. Larger ones (catch-ups, rebuilds, busy moments) go to the thread.
 */
export const INLINE_CHANGES = 16;

/** How long a write waits for another connection's write lock. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * The default of `inlineCommitsPerCheckpoint`: a few pages a commit, so about as often as
 * SQLite's own checkpoints (every 1,000 pages).
 */
const INLINE_COMMITS_PER_CHECKPOINT = 100;

function bindable(v: unknown): Bindable | undefined {
  if (typeof v === 'string' || typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v === null) return null;
  return undefined;
}

/** The value at a dotted path of a document (no array traversal: indexes are on scalar fields). */
function pathValue(doc: Doc, path: string): unknown {
  let v: unknown = doc;
  for (const key of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  return v;
}

const ASCII = /^[\x00-\x7f]*$/;

/**
 * The column that holds an indexed field's value beside the document (a dot cannot be part of an
 * identifier, and `$` cannot be part of a field).
 */
const keyColumn = (field: string) => `"k_${field.replace(/\./g, '$')}"`;
/** An indexed field's value as its column holds it: scalars as json_extract gives them, anything else null. */
const keyValue = (doc: Doc, field: string): Bindable => bindable(pathValue(doc, field)) ?? null;
/** An index on a key column, as `ensureIndexes` creates it: the collection and the field. */
const KEY_INDEX = /ON "rm_([^"]+)" \("k_([^"]+)"\)/;
/** An index over an expression of the JSON, as the first files had them. */
const EXPRESSION_INDEX = /ON "rm_([^"]+)" \(json_extract\(doc, '\$\.([^']+)'\)\)/;

/** An `_id` range (`$gt`, `$gte`, `$lt`, `$lte` on ASCII strings) as SQL on the key. */
function idRange(condition: unknown): { sql: string; params: string[] } | null {
  const values = equalityValues(condition);
  if (values) return { sql: `id IN (${values.map(() => '?').join(',')})`, params: values.map(String) };
  if (!condition || typeof condition !== 'object' || Array.isArray(condition)) return null;
  const ops: Record<string, string> = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' };
  const entries = Object.entries(condition as Record<string, unknown>);
  if (entries.length === 0 || !entries.every(([op, v]) => op in ops && typeof v === 'string' && ASCII.test(v))) return null;
  return { sql: entries.map(([op]) => `id ${ops[op]} ?`).join(' AND '), params: entries.map(([, v]) => v as string) };
}

/** Plain values of a top-level equality (`{f: v}` or `{f: {$eq: v}}`, or `$in`), usable as an index lookup. */
function equalityValues(condition: unknown): Bindable[] | undefined {
  const direct = bindable(condition);
  if (direct !== undefined && direct !== null) return [direct];
  if (condition && typeof condition === 'object' && !Array.isArray(condition)) {
    const ops = Object.keys(condition);
    if (ops.length !== 1) return undefined;
    const c = condition as Record<string, unknown>;
    if (ops[0] === '$eq') return equalityValues(c.$eq);
    if (ops[0] === '$in' && Array.isArray(c.$in)) {
      const vals = c.$in.map(bindable);
      return vals.every((v) => v !== undefined && v !== null) ? (vals as Bindable[]) : undefined;
    }
  }
  return undefined;
}

// The query engine with only the query operators in its context. mingo's default Query copies every
// operator it has (several hundred) into a fresh context on each construction, which was most of the
// cost of a projection batch; filters here use query operators only ($expr and $where are not supported).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const BaseQuery = (require('mingo/query') as { Query: typeof MingoQuery }).Query;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const QUERY_CONTEXT = Context.init({ query: require('mingo/operators/query') });
const query = (filter: Filter) => new BaseQuery(filter, { context: QUERY_CONTEXT });

const isScalar = (v: unknown) => v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/**
 * Whether a document (found by its `_id`) meets the rest of a filter. Top-level equalities of
 * scalars on scalar (or missing) fields are compared here: MongoDB's equality on them is plain
 * equality, a null matching a missing field too. Anything else (operators, paths, arrays,
 * documents) is mingo's to decide.
 */
function matchesBesidesId(doc: Doc, filter: Filter): boolean {
  for (const key in filter) {
    if (key === '_id') continue;
    const want = filter[key];
    const have = (doc as Record<string, unknown>)[key];
    if (key.startsWith('$') || key.includes('.') || !isScalar(want) || !(have === undefined || isScalar(have))) return query(filter).test(doc);
    if (want === null ? have !== null && have !== undefined : have !== want) return false;
  }
  return true;
}

/** The key of a filter that is exactly `{ _id: '<string>' }`, else null. */
function idLookup(filter: Filter): string | null {
  let id: string | null = null;
  for (const key in filter) {
    if (key !== '_id' || typeof filter._id !== 'string') return null;
    id = filter._id;
  }
  return id;
}

type UpdateOperator = (expr: unknown, arrayFilters?: unknown[]) => (doc: object) => unknown;
// A public subpath of mingo (its package exports it); required because this project's module resolution predates `exports`.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const UPDATE_OPERATORS = require('mingo/operators/update') as Record<string, UpdateOperator | undefined>;

/**
 * Applies an update in place with mingo's own update operators. Calling them directly skips
 * the operator-registry set-up that `update()` repeats on every call (five sixths of its time
 * in a profile). Positional paths (`$`, `$[]`, `$[id]`) need that set-up and are refused.
 */
function applyUpdate(doc: Doc, update: Update): void {
  for (const [op, expr] of Object.entries(update)) {
    if (op === '$setOnInsert' || fastUpdate(doc, op, expr)) continue;
    const fn = UPDATE_OPERATORS[op];
    if (!fn) throw new Error(`Unknown update operator: '${op}'`);
    if (expr && typeof expr === 'object' && Object.keys(expr).some((path) => /(^|\.)\$(\[[^\]]*\])?(\.|$)/.test(path))) {
      throw new Error(`positional update paths are not supported: ${Object.keys(expr).join(', ')}`);
    }
    fn(expr, [])(doc);
  }
}


/**
 * Moves a read store's files (the database, its WAL and shared memory) aside, to
 * `<file>.damaged-<time>`, so a new one is made at its place; returns the new name. Nothing may
 * have the file open.
 */
export function setAside(file: string): string {
  const kept = `${file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  for (const suffix of ['', '-wal', '-shm']) if (existsSync(file + suffix)) renameSync(file + suffix, kept + suffix);
  return kept;
}

/**
 * The embedded read store: `$DATA_DIR/read.db`, one table per collection, documents as JSON.
 * Filter and update semantics are mingo's (MongoDB's). A declared index is a column of its own
 * beside the document, holding the field's value, with an index on it: equality lookups do not
 * scan the collection, and a write that leaves the indexed values as they were (most of a
 * projection's) rewrites the document only, not every index (as an index over an expression of
 * the JSON would, parsing the document once per index for the old row and again for the new).
 */
export class SqliteReadStore implements ReadStore {
  readonly description: string;
  /** The file modes tightened when the store opened (owner-only data), for the caller to log. */
  readonly tightened: readonly ModeChange[];
  private readonly db: Database.Database;
  private readonly indexed = new Map<string, Set<string>>();
  private readonly known = new Set<string>();
  private readonly commitTx: Database.Transaction<(changes: readonly Change[]) => void>;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly results = new ResultCache();
  /** Commits through this connection, by collection: half of a cached result's version. */
  private readonly commitsTo = new Map<string, number>();
  /** `PRAGMA schema_version` when the indexed fields were last read from the file. */
  private schemaVersion = -1;

  private readonly writer: WriterClient | null;
  /** The first damage this store saw: `ping` fails with it from then on. */
  private damage: StoreDamagedError | null = null;
  private readonly inlineChanges: number;
  private readonly inlineCommitsPerCheckpoint: number;
  private inlineCommits = 0;

  constructor(
    private readonly file: string,
    options: SqliteReadStoreOptions = {},
  ) {
    this.tightened = privateSqliteFile(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // Read models are rebuilt from the log after a power loss; NORMAL keeps commits atomic.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    this.description = `sqlite read store (${file})`;
    for (const { name } of this.db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rm\\_%' ESCAPE '\\'`)
      .all() as Array<{ name: string }>) {
      this.known.add(name.slice(3));
    }
    this.migrateIndexes();
    this.learnIndexes();
    this.commitTx = this.db.transaction((changes: readonly Change[]) => this.applyAll(changes));
    this.writer = options.writerThread ? new WriterClient(file, options.writerScript ?? join(__dirname, 'writer-thread.js')) : null;
    this.inlineChanges = options.inlineChanges ?? INLINE_CHANGES;
    this.inlineCommitsPerCheckpoint = options.inlineCommitsPerCheckpoint ?? INLINE_COMMITS_PER_CHECKPOINT;
    // A checkpoint syncs the WAL and the file: never on this connection's thread, the event loop.
    // The writer thread's connection checkpoints after its own commits, and when asked (see `committedInline`).
    if (this.writer) this.db.pragma('wal_autocheckpoint = 0');
  }

  /** Prepared once, reused: preparing per call dominated batch and rebuild time. */
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      // Bounded: an `$in` of every length is its own statement.
      if (this.statements.size >= 1000) this.statements.clear();
      this.statements.set(sql, (st = this.db.prepare(sql)));
    }
    return st;
  }

  /** `PRAGMA schema_version`: moves whenever any connection changes the file's schema. */
  private currentSchema(): number {
    return this.stmt('PRAGMA schema_version').pluck().get() as number;
  }

  private indexes(): Array<{ name: string; sql: string }> {
    return this.db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix\\_%' ESCAPE '\\'`).all() as Array<{ name: string; sql: string }>;
  }

  /**
   * Which fields have key columns, from the file: every write must fill them all, so the writer
   * reads them again whenever the schema moved (another connection may have added one).
   */
  private learnIndexes(): void {
    // Reading the catalogue also brings this connection's copy of the schema up to date, so the
    // key columns another connection added can be named in the statements prepared next.
    this.schemaVersion = this.currentSchema();
    this.indexed.clear();
    for (const { sql } of this.indexes()) {
      const m = KEY_INDEX.exec(sql);
      if (m) this.indexSet(m[1]).add(m[2].replace(/\$/g, '.'));
    }
  }

  /** The indexed fields as the file has them now (another connection may have added some). */
  private knownIndexes(): Map<string, Set<string>> {
    if (this.currentSchema() !== this.schemaVersion) this.learnIndexes();
    return this.indexed;
  }

  /**
   * A file from before key columns has expression indexes: each becomes a key column, filled from
   * the documents, with its index, in one transaction (another process opening the file at the same
   * moment finds the work done once it has the lock).
   */
  private migrateIndexes(): void {
    const old = () => this.indexes().flatMap(({ name, sql }) => {
      const m = EXPRESSION_INDEX.exec(sql);
      return m ? [{ name, collection: m[1], field: m[2], unique: /^CREATE UNIQUE/i.test(sql) }] : [];
    });
    if (old().length === 0) return;
    this.db
      .transaction(() => {
        for (const ix of old()) {
          this.db.exec(`DROP INDEX "${ix.name}"`);
          this.addKeyColumn(ix.collection, ix.field, ix.unique);
        }
      })
      .immediate();
  }

  /** A field's key column, filled from the documents there are, and its index. Inside a write transaction. */
  private addKeyColumn(collection: string, field: string, unique: boolean): void {
    if (!FIELD.test(field)) throw new Error(`invalid index field: ${field}`);
    const table = this.table(collection);
    const column = keyColumn(field);
    const has = this.db.prepare('SELECT 1 FROM pragma_table_info(?) WHERE name = ?').get(`rm_${collection}`, column.slice(1, -1));
    if (!has) {
      this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column}`);
      const page = this.db.prepare(`SELECT id, doc FROM ${table} WHERE id > ? ORDER BY id LIMIT 1000`);
      const set = this.db.prepare(`UPDATE ${table} SET ${column} = ? WHERE id = ?`);
      for (let rows = page.all('') as Array<{ id: string; doc: string }>; rows.length; rows = page.all(rows[rows.length - 1].id) as Array<{ id: string; doc: string }>) {
        for (const row of rows) set.run(keyValue(JSON.parse(row.doc) as Doc, field), row.id);
      }
    }
    const name = `"ix_${collection}_${field.replace(/\./g, '__')}"`;
    this.db.exec(`CREATE ${unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${name} ON ${table} (${column})`);
    this.indexSet(collection).add(field);
  }

  private indexSet(collection: string): Set<string> {
    let s = this.indexed.get(collection);
    if (!s) this.indexed.set(collection, (s = new Set()));
    return s;
  }

  private tableName(collection: string): string {
    if (!NAME.test(collection)) throw new Error(`invalid collection name: ${collection}`);
    return `"rm_${collection}"`;
  }

  private table(collection: string): string {
    const name = this.tableName(collection);
    if (!this.known.has(collection)) {
      this.db.exec(`CREATE TABLE IF NOT EXISTS ${name} (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID`);
      this.known.add(collection);
    }
    return name;
  }

  /**
   * A SQL pre-filter for a filter: `_id` equalities and ranges, and equalities on scalar paths.
   * It may let through documents the filter rejects (mingo decides), never the reverse: where a
   * path could cross an array (which mingo matches element-wise) the row is let through.
   */
  private prefilter(collection: string, filter: Filter): { where: string; params: Bindable[] } {
    const terms: string[] = [];
    const params: Bindable[] = [];
    const indexed = this.knownIndexes().get(collection);
    for (const [key, condition] of Object.entries(filter)) {
      if (key === '$and' && Array.isArray(condition)) {
        // Every part must hold, so each part's pre-filter applies.
        for (const part of condition as Filter[]) {
          const sub = this.prefilter(collection, part);
          if (sub.params.length) (terms.push(`(${sub.where})`), params.push(...sub.params));
        }
        continue;
      }
      if (key.startsWith('$') || !FIELD.test(key)) continue;
      if (key === '_id') {
        const range = idRange(condition);
        if (range) (terms.push(range.sql), params.push(...range.params));
        continue;
      }
      const values = equalityValues(condition);
      if (!values) continue;
      const eq = `json_extract(doc, '$.${key}') IN (${values.map(() => '?').join(',')})`;
      if (indexed?.has(key)) {
        // Declared indexes are on scalar fields: the equality on the key column, which the index answers.
        terms.push(`${keyColumn(key)} IN (${values.map(() => '?').join(',')})`);
      } else {
        const parts = key.split('.');
        const arrays = parts.map((_, i) => `json_type(doc, '$.${parts.slice(0, i + 1).join('.')}') = 'array'`);
        terms.push(`(${eq} OR ${arrays.join(' OR ')})`);
      }
      params.push(...values);
    }
    return { where: terms.length ? terms.join(' AND ') : '1', params };
  }

  /**
   * The table to read a collection from, or null when it has none yet. With a writer thread, a
   * read never creates it: tables are the writer's to make, and nothing is there to find anyway.
   */
  private readTable(collection: string): string | null {
    if (!this.writer || this.known.has(collection)) return this.table(collection);
    const name = this.tableName(collection);
    if (!this.stmt(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(`rm_${collection}`)) return null;
    this.known.add(collection);
    return name;
  }

  /** One document by its key, parsed, or null. */
  private byKey(table: string, id: string): Doc | null {
    const row = this.stmt(`SELECT doc FROM ${table} WHERE id = ?`).get(id) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as Doc) : null;
  }

  /** Documents that may match (the pre-filter's rows), parsed; the caller applies the filter. */
  private candidates(collection: string, filter: Filter): Doc[] {
    const table = this.readTable(collection);
    if (!table) return [];
    const pre = this.prefilter(collection, filter);
    const rows = this.stmt(`SELECT doc FROM ${table} WHERE ${pre.where}`).all(...pre.params) as Array<{ doc: string }>;
    return rows.map((r) => JSON.parse(r.doc) as Doc);
  }

  /**
   * A page in `_id` order without reading the collection: rows come from SQLite in key order, a
   * chunk at a time, and the filter runs on each until the page is full. Null when the order is
   * not SQLite's (a non-ASCII id, where SQLite's byte order and JavaScript's may differ).
   */
  private pageInIdOrder(collection: string, filter: Filter, descending: boolean, skip: number, limit: number): Doc[] | null {
    const table = this.readTable(collection);
    if (!table) return [];
    const pre = this.prefilter(collection, filter);
    const q = query(filter);
    // The first chunk is the page itself (enough when the pre-filter is exact); later chunks double.
    let chunk = Math.min(1000, skip + limit);
    const cmp = descending ? '<' : '>';
    const first = this.stmt(`SELECT id, doc FROM ${table} WHERE ${pre.where} ORDER BY id ${descending ? 'DESC' : 'ASC'} LIMIT ?`);
    const next = this.stmt(`SELECT id, doc FROM ${table} WHERE ${pre.where} AND id ${cmp} ? ORDER BY id ${descending ? 'DESC' : 'ASC'} LIMIT ?`);
    const page: Doc[] = [];
    let toSkip = skip;
    let last: string | null = null;
    for (;;) {
      const rows = (last === null ? first.all(...pre.params, chunk) : next.all(...pre.params, last, chunk)) as Array<{ id: string; doc: string }>;
      for (const row of rows) {
        if (!ASCII.test(row.id)) return null;
        const doc = JSON.parse(row.doc) as Doc;
        if (!q.test(doc)) continue;
        if (toSkip > 0) toSkip -= 1;
        else if (page.push(doc) === limit) return page;
      }
      if (rows.length < chunk) return page;
      last = rows[rows.length - 1].id;
      chunk = Math.min(1000, chunk * 2);
    }
  }

  /** The query plan a filter gets: for tests and operators, "does this scan?". */
  explain(collection: string, filter: Filter): string {
    const pre = this.prefilter(collection, filter);
    const table = this.readTable(collection);
    if (!table) return `no table for ${collection}`;
    const plan = this.db.prepare(`EXPLAIN QUERY PLAN SELECT doc FROM ${table} WHERE ${pre.where}`).all(...pre.params) as Array<{ detail: string }>;
    return plan.map((p) => p.detail).join('; ');
  }

  async findOne(collection: string, filter: Filter): Promise<Doc | null> {
    return (await this.find(collection, filter, { limit: 1 }))[0] ?? null;
  }

  async find(collection: string, filter: Filter, options: FindOptions = {}): Promise<Doc[]> {
    try {
      return this.findNow(collection, filter, options);
    } catch (err) {
      throw this.failure(err);
    }
  }

  private findNow(collection: string, filter: Filter, options: FindOptions): Doc[] {
    const id = idLookup(filter);
    if (id !== null && !options.skip && options.limit !== 0) {
      // One document by its key: the primary key answers it, cheaper than a cached result's bookkeeping.
      const table = this.readTable(collection);
      const doc = table ? this.byKey(table, id) : null;
      return doc ? [doc] : [];
    }
    const key = ResultCache.key('find', collection, filter, options);
    if (key === null) return this.read(collection, filter, options);
    const version = this.version(collection);
    const hit = this.results.get<Doc[]>(key, version);
    // A copy of the list (callers may sort or splice it); the documents themselves are frozen.
    if (hit) return [...hit];
    const docs = this.read(collection, filter, options);
    if (docs.length <= this.results.maxDocuments) this.results.set(key, version, [...docs]);
    return docs;
  }

  private read(collection: string, filter: Filter, options: FindOptions): Doc[] {
    const sortKeys = options.sort ? Object.keys(options.sort) : [];
    const byId = sortKeys.length === 0 || (sortKeys.length === 1 && sortKeys[0] === '_id');
    if (byId && options.limit !== undefined && options.limit > 0) {
      const page = this.pageInIdOrder(collection, filter, options.sort?._id === -1, options.skip ?? 0, options.limit);
      if (page) return page;
    }
    let cursor = query(filter).find(this.candidates(collection, filter));
    if (options.sort) cursor = cursor.sort(options.sort);
    if (options.skip) cursor = cursor.skip(options.skip);
    if (options.limit !== undefined) cursor = cursor.limit(options.limit);
    return cursor.all() as Doc[];
  }

  async count(collection: string, filter: Filter): Promise<number> {
    try {
      const key = ResultCache.key('count', collection, filter);
      if (key === null) return this.countNow(collection, filter);
      const version = this.version(collection);
      return this.results.get<number>(key, version) ?? this.results.set(key, version, this.countNow(collection, filter));
    } catch (err) {
      throw this.failure(err);
    }
  }

  private countNow(collection: string, filter: Filter): number {
    if (Object.keys(filter).length === 0) {
      const table = this.readTable(collection);
      return table ? (this.stmt(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n : 0;
    }
    const q = query(filter);
    return this.candidates(collection, filter).filter((d) => q.test(d)).length;
  }

  async commit(changes: readonly Change[]): Promise<void> {
    if (!changes.length) return;
    // IMMEDIATE: the write lock is taken (waiting up to busy_timeout) before the batch reads, so
    // another process's commit cannot invalidate what it read (SQLITE_BUSY_SNAPSHOT).
    try {
      if (!this.writer) this.commitTx.immediate(changes);
      else if (!this.committedInline(this.writer, changes)) await this.writer.request({ op: 'commit', changes });
    } catch (err) {
      throw this.failure(err);
    } finally {
      for (const c of new Set(changes.map((ch) => ch.collection))) this.touched(c);
    }
  }

  /**
   * A small commit while the writer thread is up with nothing in flight, applied on this connection at
   * once: a live batch's message then waits for no hand-over to the thread and back, and no
   * scheduling of it on a busy machine. The order of writes holds, as nothing sent to the thread
   * is still to be applied. False, with nothing written, when it is not such a commit or another
   * process holds the write lock: the thread applies it then, and waits for the lock there, never
   * on the event loop.
   */
  private committedInline(writer: WriterClient, changes: readonly Change[]): boolean {
    if (changes.length > this.inlineChanges || !writer.idle) return false;
    // Set anew each time (about 3 µs): SQLite applies this pragma when it is prepared, so a
    // prepared statement run again would not.
    this.db.pragma('busy_timeout = 0');
    try {
      this.commitTx.immediate(changes);
      if (++this.inlineCommits === this.inlineCommitsPerCheckpoint) {
        this.inlineCommits = 0;
        // Later writes queue behind it on the thread; a failure is the next checkpoint's to retry.
        writer.request({ op: 'checkpoint' }).catch(() => undefined);
      }
      return true;
    } catch (err) {
      // Refused at BEGIN (or rolled back): nothing of it was written.
      if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY') && !this.db.inTransaction) return false;
      throw err;
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  private touched(collection: string): void {
    this.commitsTo.set(collection, (this.commitsTo.get(collection) ?? 0) + 1);
  }

  /** What a cached result of this collection was computed at: another connection's commit or ours to it changes it. */
  private version(collection: string): string {
    return `${this.stmt('PRAGMA data_version').pluck().get() as number}:${this.commitsTo.get(collection) ?? 0}`;
  }

  /**
   * Applies a batch with a write-back cache: each document touched is read once and
   * written once, which is what makes projection batches and rebuilds fast.
   */
  private applyAll(changes: readonly Change[]): void {
    this.knownIndexes();
    const dirty = new Map<string, Map<string, Doc | null>>();
    // The key columns of each row as the table holds it (null: no row), for the rows this batch read:
    // a row rewritten with the same indexed values updates its document alone.
    const stored = new Map<string, Map<string, Bindable[] | null>>();
    const fieldsOf = (c: string) => [...(this.indexed.get(c) ?? [])];
    const saw = (collection: string, id: string, doc: Doc | null) => {
      let m = stored.get(collection);
      if (!m) stored.set(collection, (m = new Map()));
      m.set(id, doc && fieldsOf(collection).map((f) => keyValue(doc, f)));
    };
    // Dirty documents by the value of each indexed field, as they were last put: lets an indexed
    // lookup see this batch's changes without writing them out first.
    const dirtyIndex = new Map<string, Map<string, Map<Bindable, Set<string>>>>();
    const dirtyOf = (c: string) => {
      let m = dirty.get(c);
      if (!m) dirty.set(c, (m = new Map()));
      return m;
    };
    const put = (collection: string, id: string, doc: Doc | null) => {
      dirtyOf(collection).set(id, doc);
      const fields = this.indexed.get(collection);
      if (!doc || !fields?.size) return;
      let byField = dirtyIndex.get(collection);
      if (!byField) dirtyIndex.set(collection, (byField = new Map()));
      for (const field of fields) {
        const value = bindable(pathValue(doc, field));
        if (value === undefined || value === null) continue;
        let byValue = byField.get(field);
        if (!byValue) byField.set(field, (byValue = new Map()));
        let ids = byValue.get(value);
        if (!ids) byValue.set(value, (ids = new Set()));
        ids.add(id);
      }
    };
    const flush = (collection: string) => {
      const m = dirty.get(collection);
      dirtyIndex.delete(collection);
      if (!m || m.size === 0) return;
      const table = this.table(collection);
      const fields = fieldsOf(collection);
      const columns = fields.map(keyColumn);
      // On the key alone: a unique index's conflict with another document is an error, not that document's removal.
      const write = this.stmt(
        `INSERT INTO ${table} (id, doc${columns.map((c) => `, ${c}`).join('')}) VALUES (?, ?${columns.map(() => ', ?').join('')}) ` +
          `ON CONFLICT (id) DO UPDATE SET doc = excluded.doc${columns.map((c) => `, ${c} = excluded.${c}`).join('')}`,
      );
      const del = this.stmt(`DELETE FROM ${table} WHERE id = ?`);
      const rows = stored.get(collection);
      for (const [id, doc] of m) {
        if (!doc) {
          del.run(id);
          saw(collection, id, null);
          continue;
        }
        const keys = fields.map((f) => keyValue(doc, f));
        const before = rows?.get(id);
        if (before) {
          // The row is there: the document, and only the key columns whose value moved.
          const moved = fields.flatMap((_, i) => (before[i] === keys[i] ? [] : [i]));
          this.stmt(`UPDATE ${table} SET doc = ?${moved.map((i) => `, ${columns[i]} = ?`).join('')} WHERE id = ?`).run(JSON.stringify(doc), ...moved.map((i) => keys[i]), id);
        } else write.run(id, JSON.stringify(doc), ...keys);
        saw(collection, id, doc);
      }
      m.clear();
    };
    const matching = (collection: string, filter: Filter, one: boolean): Doc[] => {
      const id = typeof filter._id === 'string' ? filter._id : null;
      const pending = dirty.get(collection);
      if (id !== null) {
        // One document by its key (the batch's own version if it has one), then the rest of the
        // filter on it: a compare-and-set (`{ _id, checkpoint }`) or a fence (`{ _id, token }`).
        const cached = pending?.get(id);
        let doc: Doc | null;
        if (cached !== undefined) doc = cached;
        else saw(collection, id, (doc = this.byKey(this.table(collection), id)));
        return doc && matchesBesidesId(doc, filter) ? [doc] : [];
      }
      const q = query(filter);
      const field = '_id' in filter ? undefined : Object.keys(filter).find((k) => this.indexed.get(collection)?.has(k) && equalityValues(filter[k]));
      if (field === undefined) {
        flush(collection);
        const found = this.candidates(collection, filter).filter((d) => q.test(d));
        for (const d of found) saw(collection, d._id, d);
        return one ? found.slice(0, 1) : found;
      }
      // An indexed equality: the stored rows with that value, each replaced by its dirty version if
      // it has one, and the dirty documents that had that value when last put. The filter decides.
      const values = equalityValues(filter[field])!;
      const seen = new Set<string>();
      const found: Doc[] = [];
      const consider = (docId: string, doc: Doc | null) => {
        if (seen.has(docId)) return;
        seen.add(docId);
        if (doc && q.test(doc)) found.push(doc);
      };
      const rows = this.stmt(`SELECT id, doc FROM ${this.table(collection)} WHERE ${keyColumn(field)} IN (${values.map(() => '?').join(',')})`).all(...values) as Array<{ id: string; doc: string }>;
      for (const row of rows) {
        if (pending?.has(row.id)) consider(row.id, pending.get(row.id)!);
        else {
          const doc = JSON.parse(row.doc) as Doc;
          saw(collection, row.id, doc);
          consider(row.id, doc);
        }
      }
      const byValue = dirtyIndex.get(collection)?.get(field);
      for (const v of values) for (const dirtyId of byValue?.get(v) ?? []) consider(dirtyId, pending!.get(dirtyId) ?? null);
      return one ? found.slice(0, 1) : found;
    };

    for (const ch of changes) {
      switch (ch.op) {
        case 'updateOne':
        case 'updateMany': {
          const docs = matching(ch.collection, ch.filter, ch.op === 'updateOne');
          for (const doc of docs) {
            applyUpdate(doc, ch.update);
            put(ch.collection, doc._id, doc);
          }
          if (docs.length === 0 && ch.op === 'updateOne' && ch.mustMatch) throw new ConcurrentCommitError(ch.collection, ch.filter);
          if (docs.length === 0 && ch.op === 'updateOne' && ch.upsert) {
            const seed = upsertSeed(ch.filter, ch.update);
            if (typeof seed._id !== 'string') throw new Error(`upsert into ${ch.collection} needs a string _id in its filter`);
            applyUpdate(seed, ch.update);
            put(ch.collection, seed._id, seed);
          }
          break;
        }
        case 'replaceOne': {
          const [doc] = matching(ch.collection, ch.filter, true);
          // Copies: the caller's document may be a frozen cached one, and later changes of the batch update it in place.
          if (doc) put(ch.collection, doc._id, { ...structuredClone(ch.doc), _id: doc._id });
          else if (ch.upsert) put(ch.collection, ch.doc._id, structuredClone(ch.doc));
          break;
        }
        case 'insertOne': {
          if (matching(ch.collection, { _id: ch.doc._id }, true).length) throw new DuplicateKeyError(ch.collection, ch.doc._id);
          put(ch.collection, ch.doc._id, structuredClone(ch.doc));
          break;
        }
        case 'deleteOne':
        case 'deleteMany':
          for (const doc of matching(ch.collection, ch.filter, ch.op === 'deleteOne')) put(ch.collection, doc._id, null);
          break;
        case 'expect':
          // Commits hold the write lock (IMMEDIATE) from their first read: a read is fence enough.
          if (matching(ch.collection, ch.filter, true).length === 0) throw new ConcurrentCommitError(ch.collection, ch.filter);
          break;
      }
    }
    for (const c of dirty.keys()) flush(c);
  }

  async ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void> {
    if (this.writer) {
      // Created by the writer, in order with the writes before it; this connection learns which fields are indexed.
      await this.writer.request({ op: 'ensureIndexes', collection, indexes });
      this.learnIndexes();
      return;
    }
    for (const ix of indexes) if (ix.field !== '_id' && !FIELD.test(ix.field)) throw new Error(`invalid index field: ${ix.field}`);
    const missing = indexes.filter((ix) => ix.field !== '_id' && !this.indexed.get(collection)?.has(ix.field));
    this.table(collection);
    if (missing.length === 0) return;
    this.db.transaction(() => missing.forEach((ix) => this.addKeyColumn(collection, ix.field, ix.unique === true))).immediate();
    this.schemaVersion = this.currentSchema();
  }

  async dropCollection(collection: string): Promise<void> {
    const table = this.tableName(collection);
    for (const sql of [...this.statements.keys()]) if (sql.includes(table)) this.statements.delete(sql);
    if (this.writer) await this.writer.request({ op: 'dropCollection', collection });
    else this.db.exec(`DROP TABLE IF EXISTS ${table}`);
    this.touched(collection);
    this.known.delete(collection);
    this.indexed.delete(collection);
  }

  async listCollections(): Promise<string[]> {
    // From the file, not this connection's memory: the writer thread or another process may have made them.
    const rows = this.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rm\\_%' ESCAPE '\\'`).all() as Array<{ name: string }>;
    return rows.map((r) => r.name.slice(3)).sort();
  }

  /** Copies the WAL into the file as far as no reader needs it (PASSIVE: waits for no one). */
  checkpoint(): void {
    this.db.pragma('wal_checkpoint(PASSIVE)');
  }

  /** `PRAGMA quick_check` of the file, on a thread and a read-only connection of its own (see `quickCheck`); damage found is remembered. */
  async checkIntegrity(timeoutMs: number): Promise<IntegrityReport> {
    const report = await quickCheck(this.file, timeoutMs);
    if (report.status === 'DAMAGED') this.failure(new StoreDamagedError('READ_STORE_DAMAGED', this.description, `PRAGMA quick_check: ${report.details.slice(0, 5).join('; ')}`));
    return report;
  }

  /**
   * The file answers a read, and the writer thread (when there is one) answers too; once the store
   * has seen damage (see `failure`), it fails with it.
   */
  async ping(): Promise<void> {
    if (this.damage) throw this.damage;
    try {
      this.db.prepare('SELECT 1').get();
      await this.writer?.request({ op: 'ping' });
    } catch (err) {
      throw this.failure(err);
    }
  }

  /**
   * The error a caller is given: SQLite's corruption errors (SQLITE_CORRUPT, SQLITE_NOTADB), here
   * or on the writer thread, as a `StoreDamagedError`, and remembered (see `ping`); anything else
   * as it is.
   */
  private failure(err: unknown): unknown {
    const damage = isSqliteDamage(err) ? new StoreDamagedError('READ_STORE_DAMAGED', this.description, err.message) : err instanceof StoreDamagedError ? err : null;
    if (!damage) return err;
    this.damage ??= damage;
    return damage;
  }

  async close(): Promise<void> {
    await this.writer?.close();
    if (this.db.open) this.db.close();
  }
}
