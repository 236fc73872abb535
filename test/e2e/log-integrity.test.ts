import Database from 'better-sqlite3';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import stringify from 'safe-stable-stringify';
import type { EventMetadata } from '../../src/event-store/event-store.port';
import { eventHash } from '../../src/event-store/hash-chain';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { newEvent } from '../contract/event-store.contract';
import { collect, gql, wsClient } from '../support/api-client';
import { ServerProcess, startReadyServer, TEST_ADMIN_KEY, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

interface Break {
  stream: string;
  reason: string;
  revision: number | null;
  detail: string;
}
interface Report {
  ok: boolean;
  head: string;
  checkedEvents: number;
  checkedStreams: number;
  seals: number;
  unsealedEvents: number;
  brokenStreams: number;
  latestSeal: { position: string; hash: string; through: string } | null;
  breaks: Break[];
}

const REPORT = 'ok head checkedEvents checkedStreams seals unsealedEvents brokenStreams latestSeal { position hash through } breaks { stream reason revision detail }';
const GENESIS = '0'.repeat(64);

/**
 * The first version of the chain, written out as the README defines it (what files written
 * before `hashVersion` hold): SHA-256 of the previous hash, a newline, and the stable JSON of
 * the event's id, stream, revision, type, data and metadata less both hashes.
 */
function legacyHash(prev: string, e: { id: string; stream: string; revision: number; type: string; data: unknown; metadata: Record<string, unknown> }): string {
  return createHash('sha256').update(`${prev}\n${stringify({ id: e.id, stream: e.stream, revision: e.revision, type: e.type, data: e.data, metadata: e.metadata })}`).digest('hex');
}

/** A stream as a file written before this version holds it: rows with the first version's chain. */
function writeLegacyStream(file: string, stream: string, count: number): void {
  const db = new Database(file);
  try {
    let prev = GENESIS;
    const insert = db.prepare('INSERT INTO events (id, stream, revision, type, data, metadata, recorded_at, causation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    for (let revision = 0; revision < count; revision++) {
      const e = newEvent('LegacyRecorded', { n: revision });
      const hash = legacyHash(prev, { id: e.id, stream, revision, type: e.type, data: e.data, metadata: e.metadata });
      insert.run(e.id, stream, revision, e.type, JSON.stringify(e.data), JSON.stringify({ ...e.metadata, prevHash: prev, hash }), new Date().toISOString(), null);
      prev = hash;
    }
  } finally {
    db.close();
  }
}

describe('the whole log: seals and whole-log verification', () => {
  const dir = tempDir();
  const data = join(dir.path, 'data');
  const file = join(data, 'events.db');
  let server: ServerProcess;
  let port: number;
  let auditor: string;

  const verifyLog = async (): Promise<Report> => {
    const r = await gql(port, `{ verifyLog(limit: 50) { ${REPORT} } }`, undefined, auditor);
    if (!r.data) throw new Error(JSON.stringify(r.errors));
    return r.data.verifyLog as Report;
  };
  const verifyStream = async (stream: string) => (await gql(port, 'query($s: String!) { verifyStream(stream: $s) { ok firstBreak { revision reason } } }', { s: stream }, auditor));
  /** Waits for a seal round that covers everything written so far. */
  const sealed = async () => {
    let last: Report | null = null;
    await waitFor(async () => (last = await verifyLog()).unsealedEvents === 0, 10_000, 'a seal covering the log').catch((err) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(last)}`);
    });
    return last!;
  };
  const machine = async (id: string, labels: string[]) => {
    await gql(port, `mutation { registerMachines(input: { ids: ["${id}"], phase: READY }) { id } }`);
    for (const rack of labels) await gql(port, `mutation { setMachineLabels(input: { machineId: "${id}", labels: { rack: "${rack}" } }) { id } }`);
  };

  beforeAll(async () => {
    // A file written before this version: one stream chained by the first version of the hash.
    await new SqliteEventStore(file).close();
    writeLegacyStream(file, 'legacy-1', 3);
    ({ server, port } = await startReadyServer({ DATA_DIR: data, LOG_LEVEL: 'warn', EVENTSTORE_SEAL_INTERVAL_MS: '150' }));
    auditor = (await gql(port, 'mutation { createApiKey(input: { role: AUDITOR, name: "a" }) { key } }')).data!.createApiKey.key as string;
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  it('a clean log verifies whole: every event and stream checked, old chains by their own rule, every head sealed', async () => {
    for (const id of ['lv-1', 'lv-2', 'lv-3']) await machine(id, ['r1', 'r2', 'r3']);
    const report = await sealed();
    expect(report).toMatchObject({ ok: true, brokenStreams: 0, breaks: [], unsealedEvents: 0 });
    // Positions are dense in a fresh file: every event up to the head was checked, seals included.
    expect(report.checkedEvents).toBe(Number(report.head));
    expect(report.seals).toBeGreaterThan(0);
    expect(report.latestSeal).not.toBeNull();
    // The three machines, the legacy stream, the API key, the seals (and whatever else the app keeps).
    expect(report.checkedStreams).toBeGreaterThanOrEqual(6);
    expect((await verifyStream('legacy-1')).data!.verifyStream).toMatchObject({ ok: true, firstBreak: null });
    // The seals are a stream of their own with its own chain, and name each stream's head.
    const seals = (await gql(port, '{ events(filter: { stream: "log-seals" }, first: 1000) { nodes { type data metadata { hash } } } }', undefined, auditor)).data!.events.nodes as Array<{ type: string; data: { heads: Array<{ stream: string; revision: number; hash: string }> } }>;
    expect(new Set(seals.map((s) => s.type))).toEqual(new Set(['LogSealed']));
    const heads = new Map(seals.flatMap((s) => s.data.heads.map((h) => [h.stream, h.revision] as const)));
    expect(heads.get('machine-lv-1')).toBe(3);
    expect(heads.get('legacy-1')).toBe(2);
    expect((await verifyStream('log-seals')).data!.verifyStream).toMatchObject({ ok: true });
    // The latest seal's hash, kept outside, names a seal the log must still hold.
    const anchored = await gql(port, 'query($a: String) { verifyLog(anchor: $a) { ok breaks { reason } } }', { a: report.latestSeal!.hash }, auditor);
    expect(anchored.data!.verifyLog).toEqual({ ok: true, breaks: [] });
    const elsewhere = await gql(port, 'query($a: String) { verifyLog(anchor: $a) { ok breaks { reason } } }', { a: 'f'.repeat(64) }, auditor);
    expect(elsewhere.data!.verifyLog).toEqual({ ok: false, breaks: [{ reason: 'ANCHOR_MISSING' }] });
    const notAHash = await gql(port, '{ verifyLog(anchor: "yesterday") { ok } }', undefined, auditor);
    expect(notAHash.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'anchor' });
  });

  it('seal events are the log\'s own: projections pass them by and the domain views do not show them', async () => {
    await sealed();
    const projections = (await gql(port, '{ projections { name state failure { eventType } } }')).data!.projections as Array<{ state: string; failure: unknown }>;
    expect(projections.every((p) => p.failure === null && p.state === 'running')).toBe(true);
    const machines = (await gql(port, '{ events(filter: { category: "machine" }, first: 1000) { nodes { type } } }', undefined, auditor)).data!.events.nodes as Array<{ type: string }>;
    expect(machines.some((e) => e.type === 'LogSealed')).toBe(false);
    const drift = (await gql(port, '{ verifyProjection(name: "machines") { ok } }', undefined, auditor)).data!.verifyProjection;
    expect(drift).toEqual({ ok: true });
  });

  it('a subscription reports progress as it goes and ends with the report', async () => {
    const client = wsClient(port, auditor);
    const sub = collect<{ logVerification: { checkedEvents: number; position: string; head: string; progress: number; report: Report | null } }>(client, `subscription { logVerification(limit: 50) { checkedEvents position head progress report { ${REPORT} } } }`);
    await waitFor(() => sub.messages.some((m) => m.logVerification.report !== null), 10_000, 'the report');
    sub.unsubscribe();
    await client.dispose();
    expect(sub.errors).toEqual([]);
    const steps = sub.messages.map((m) => m.logVerification);
    const last = steps[steps.length - 1];
    expect(last.report).toMatchObject({ ok: true, brokenStreams: 0 });
    expect(last.progress).toBe(1);
    expect(last.checkedEvents).toBe(last.report!.checkedEvents);
    for (let i = 1; i < steps.length; i++) expect(steps[i].checkedEvents).toBeGreaterThanOrEqual(steps[i - 1].checkedEvents);
  });

  it('every edit of a stored field, a removed tail, a removed stream and a rewritten chain are found, each stream reported', async () => {
    for (const id of ['t-at', 't-cause', 't-pos', 't-tail', 't-gone', 't-rewrite']) await machine(id, ['r1', 'r2', 'r3']);
    await sealed();
    const db = new Database(file);
    try {
      const at = (id: string, revision: number) => `stream = 'machine-${id}' AND revision = ${revision}`;
      // The time it was recorded (machineAt(asOf) and events(filter: { to }) read it).
      db.prepare(`UPDATE events SET recorded_at = '2020-01-01T00:00:00.000Z' WHERE ${at('t-at', 1)}`).run();
      // What caused it (causationChain reads the column).
      db.prepare(`UPDATE events SET causation_id = 'someone-else' WHERE ${at('t-cause', 2)}`).run();
      // Its place in the log (events(filter:) order): moved past the head.
      db.prepare(`UPDATE events SET position = (SELECT max(position) + 1000 FROM events) WHERE ${at('t-pos', 1)}`).run();
      // The newest events of one stream, and a whole stream, removed: each stream's own chain still holds.
      db.prepare("DELETE FROM events WHERE stream = 'machine-t-tail' AND revision >= 2").run();
      db.prepare("DELETE FROM events WHERE stream = 'machine-t-gone'").run();
      // The tail of a stream written again with fresh hashes, as someone who knows the rule could.
      const rows = db.prepare("SELECT * FROM events WHERE stream = 'machine-t-rewrite' ORDER BY revision").all() as Array<Record<string, unknown> & { metadata: string; data: string }>;
      let prev = JSON.parse(rows[1].metadata).hash as string;
      for (const row of rows.slice(2)) {
        const data = { ...JSON.parse(row.data), labels: { rack: 'forged' } };
        const { hash: _h, prevHash: _p, ...metadata } = JSON.parse(row.metadata) as Record<string, unknown>;
        const hash = eventHash(prev, { id: row.id as string, stream: row.stream as string, revision: row.revision as number, position: row.position as number, recordedAt: row.recorded_at as string, type: row.type as string, data, metadata: metadata as never })!;
        db.prepare('UPDATE events SET data = ?, metadata = ? WHERE position = ?').run(JSON.stringify(data), JSON.stringify({ ...metadata, prevHash: prev, hash }), row.position);
        prev = hash;
      }
    } finally {
      db.close();
    }

    // One stream at a time sees the edits of a stored field, and not the rest.
    expect((await verifyStream('machine-t-at')).data!.verifyStream).toMatchObject({ ok: false, firstBreak: { revision: 1, reason: 'CONTENT_CHANGED' } });
    expect((await verifyStream('machine-t-cause')).data!.verifyStream).toMatchObject({ ok: false, firstBreak: { revision: 2, reason: 'CONTENT_CHANGED' } });
    expect((await verifyStream('machine-t-pos')).data!.verifyStream).toMatchObject({ ok: false, firstBreak: { revision: 1, reason: 'CONTENT_CHANGED' } });
    expect((await verifyStream('machine-t-tail')).data!.verifyStream).toMatchObject({ ok: true });
    expect((await verifyStream('machine-t-rewrite')).data!.verifyStream).toMatchObject({ ok: true });
    expect((await verifyStream('machine-t-gone')).errors![0].extensions!.code).toBe('NOT_FOUND');

    // The whole log sees every one of them, each stream once, against the seals.
    const report = await verifyLog();
    const found = Object.fromEntries(report.breaks.map((b) => [b.stream, b.reason]));
    expect(found).toEqual({
      'machine-t-at': 'CONTENT_CHANGED',
      'machine-t-cause': 'CONTENT_CHANGED',
      // Read in log order, the moved event is missing where it was: the next revision comes
      // first, or before that a seal made after it finds the stream short of it.
      'machine-t-pos': expect.stringMatching(/^(REVISION_GAP|TRUNCATED)$/),
      'machine-t-tail': 'TRUNCATED',
      'machine-t-gone': 'STREAM_MISSING',
      'machine-t-rewrite': 'SEAL_MISMATCH',
    });
    expect(report).toMatchObject({ ok: false, brokenStreams: 6 });
    // The first seal the stream no longer reaches: one made after revision 2 or 3 (rounds ran as they were written).
    expect([2, 3]).toContain(report.breaks.find((b) => b.stream === 'machine-t-tail')!.revision);
    // A shorter list still counts them all; a list longer than a thousand is refused, by name.
    const two = (await gql(port, '{ verifyLog(limit: 2) { brokenStreams breaks { stream } } }', undefined, auditor)).data!.verifyLog;
    expect(two).toMatchObject({ brokenStreams: 6, breaks: [{ stream: 'machine-t-at' }, { stream: 'machine-t-cause' }] });
    const tooMany = await gql(port, '{ verifyLog(limit: 1001) { ok } }', undefined, auditor);
    expect(tooMany.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'limit' });
  });
});

/** Issue 31, finding 1: what a store never writes is still read, and reported. */
describe('events at positions the store never assigns', () => {
  const dir = tempDir();
  const data = join(dir.path, 'data');
  const file = join(data, 'events.db');
  afterAll(() => dir.cleanup());

  type Row = { position: number; id: string; stream: string; revision: number; type: string; data: string; metadata: string; recorded_at: string; causation_id: string | null };
  /** The row as it would be written at `at` (revision and position), chained on `prev`, with the hash recomputed by the rule. */
  const forged = (row: Row, at: { stream?: string; revision: number; position: number; id?: string }, prev: string): Row => {
    const { hash: _h, prevHash: _p, ...metadata } = JSON.parse(row.metadata) as Record<string, unknown>;
    const data = JSON.parse(row.data) as Record<string, unknown>;
    const e = { id: at.id ?? randomUUID(), stream: at.stream ?? row.stream, revision: at.revision, position: at.position, recordedAt: row.recorded_at, type: row.type, data, metadata: metadata as EventMetadata };
    const hash = eventHash(prev, e)!;
    return { ...row, id: e.id, stream: e.stream, revision: e.revision, position: e.position, metadata: JSON.stringify({ ...metadata, prevHash: prev, hash }) };
  };
  const hashOf = (row: Row) => JSON.parse(row.metadata).hash as string;

  it('an event put below position 1, a whole stream put there and a stream put out of log order are breaks, with the anchor too', async () => {
    const env = { DATA_DIR: data, LOG_LEVEL: 'warn', EVENTSTORE_SEAL_INTERVAL_MS: '150' };
    let { server, port } = await startReadyServer(env);
    const ask = (query: string, variables?: Record<string, unknown>) => gql(port, query, variables);
    let anchor: string;
    try {
      for (const id of ['c1', 'c2']) {
        await ask(`mutation { registerMachines(input: { ids: ["${id}"], phase: READY }) { id } }`);
        await ask(`mutation { setMachineLabels(input: { machineId: "${id}", labels: { rack: "r1" } }) { id } }`);
      }
      const sealed = await waitForReport(port, (r) => r.ok && r.unsealedEvents === 0);
      anchor = sealed.latestSeal!.hash;
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }

    const db = new Database(file);
    try {
      const rows = (stream: string) => db.prepare('SELECT * FROM events WHERE stream = ? ORDER BY revision').all(stream) as Row[];
      const insert = db.prepare('INSERT INTO events (position, id, stream, revision, type, data, metadata, recorded_at, causation_id) VALUES (@position, @id, @stream, @revision, @type, @data, @metadata, @recorded_at, @causation_id)');
      // The next revision of a sealed stream at position -3, chained on its real head.
      const c1 = rows('machine-c1');
      insert.run(forged(c1[1], { revision: 2, position: -3 }, hashOf(c1[1])));
      // A whole stream nobody wrote, below the log's start.
      const ghost0 = forged(c1[0], { stream: 'machine-ghost', revision: 0, position: -10 }, GENESIS);
      insert.run(ghost0);
      insert.run(forged(c1[1], { stream: 'machine-ghost', revision: 1, position: -9 }, hashOf(ghost0)));
      // A stream's two events trading places in the log, both hashes recomputed.
      const [a, b] = rows('machine-c2');
      const first = forged(a, { revision: 0, position: b.position, id: a.id }, GENESIS);
      const second = forged(b, { revision: 1, position: a.position, id: b.id }, hashOf(first));
      db.transaction(() => {
        db.prepare("DELETE FROM events WHERE stream = 'machine-c2'").run();
        insert.run(first);
        insert.run(second);
      })();
    } finally {
      db.close();
    }

    ({ server, port } = await startReadyServer(env));
    try {
      const report = (await gql(port, `query($a: String) { verifyLog(anchor: $a) { ${REPORT} } }`, { a: anchor })).data!.verifyLog as Report;
      expect(report).toMatchObject({ ok: false, brokenStreams: 3 });
      expect(Object.fromEntries(report.breaks.map((b) => [b.stream, [b.reason, b.revision]]))).toEqual({
        'machine-c1': ['POSITION_OUT_OF_RANGE', 2],
        'machine-ghost': ['POSITION_OUT_OF_RANGE', 0],
        // Read in log order, revision 1 comes first.
        'machine-c2': ['REVISION_GAP', 1],
      });
      expect(report.breaks.find((b) => b.stream === 'machine-c1')!.detail).toMatch(/position -3/);
      // Every row was read: the forged ones too.
      expect(report.checkedEvents).toBe(Number(report.head) + 3);
      const stream = async (s: string) => (await gql(port, 'query($s: String!) { verifyStream(stream: $s) { ok checked firstBreak { revision reason } } }', { s })).data!.verifyStream;
      expect(await stream('machine-c1')).toEqual({ ok: false, checked: 3, firstBreak: { revision: 2, reason: 'POSITION_OUT_OF_RANGE' } });
      expect(await stream('machine-ghost')).toEqual({ ok: false, checked: 1, firstBreak: { revision: 0, reason: 'POSITION_OUT_OF_RANGE' } });
      expect(await stream('machine-c2')).toEqual({ ok: false, checked: 2, firstBreak: { revision: 1, reason: 'POSITION_OUT_OF_ORDER' } });
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 60_000);
});

describe('a clean shutdown', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('seals what was written last, so nothing is left unsealed when the instance stops', async () => {
    const data = join(dir.path, 'data');
    // Seals far apart: only the one written on the way out can cover the machine.
    const { server, port } = await startReadyServer({ DATA_DIR: data, LOG_LEVEL: 'warn', EVENTSTORE_SEAL_INTERVAL_MS: '3600000' });
    await gql(port, 'mutation { registerMachines(input: { ids: ["last-1"], phase: READY }) { id } }');
    await gql(port, 'mutation { setMachineLabels(input: { machineId: "last-1", labels: { rack: "r1" } }) { id } }');
    const before = await waitForReport(port, (r) => r.ok);
    server.child.kill('SIGTERM');
    await server.exited;
    expect(before.unsealedEvents).toBeGreaterThan(0);
    // Read from the file the instance left: its last seal covers the head it had.
    const store = new SqliteEventStore(join(data, 'events.db'));
    try {
      const [last] = await store.readStream('log-seals', { direction: 'backwards', maxCount: 1 });
      expect(last.data.through).toBeGreaterThanOrEqual(Number(before.head));
      expect(await store.headPosition()).toBe(last.position);
    } finally {
      await store.close();
    }
  });
});

async function waitForReport(port: number, ok: (r: Report) => boolean): Promise<Report> {
  let report: Report | null = null;
  await waitFor(async () => {
    const r = await gql(port, `{ verifyLog { ${REPORT} } }`, undefined, TEST_ADMIN_KEY);
    report = (r.data?.verifyLog as Report | undefined) ?? null;
    return report !== null && ok(report);
  }, 10_000, 'a report');
  return report!;
}

describe('the whole-log verification of a large log', () => {
  const dir = tempDir();
  const TOTAL = 200_000;
  const STREAMS = 2_000;

  it(`checks ${TOTAL.toLocaleString('en')} events in pages, with server memory bounded by the streams, not the events`, async () => {
    const store = new SqliteEventStore(join(dir.path, 'data', 'events.db'));
    const padding = 'x'.repeat(1024);
    for (let i = 0; i < TOTAL / STREAMS; i += 10) {
      await Promise.all(Array.from({ length: STREAMS }, (_, s) => store.append(`bulk-${s}`, Array.from({ length: 10 }, (_, k) => newEvent('BulkRecorded', { n: i + k, padding })), i === 0 ? 'no_stream' : i - 1)));
    }
    await store.close();
    // The heap is capped below the size of the log: holding it would crash the server.
    const { server, port } = await startReadyServer({ DATA_DIR: join(dir.path, 'data'), LOG_LEVEL: 'warn', NODE_OPTIONS: '--max-old-space-size=128', PROJECTION_BATCH_SIZE: '50', EVENTSTORE_SEAL_INTERVAL_MS: '3600000' });
    try {
      const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))![1]) * 1024;
      await waitFor(async () => ((await gql(port, '{ projections { lag } }')).data?.projections as Array<{ lag: number }> | undefined)?.every((p) => p.lag === 0) ?? false, 180_000, 'the projections');
      // The first seal round (at start-up) covers the whole log: wait for its last seal.
      const lastSeal = async () => ((await gql(port, '{ events(filter: { stream: "log-seals" }, first: 1, before: "9007199254740991") { nodes { data } } }')).data?.events.nodes[0]?.data as { through: number } | undefined)?.through ?? 0;
      await waitFor(async () => (await lastSeal()) >= TOTAL, 60_000, 'the first seal round');
      const before = rss();
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rss())), 20);
      const started = Date.now();
      const r = await gql(port, `{ verifyLog { ${REPORT} } }`);
      const seconds = (Date.now() - started) / 1000;
      clearInterval(sampler);
      const report = r.data!.verifyLog as Report;
      expect(report).toMatchObject({ ok: true, brokenStreams: 0, unsealedEvents: 0 });
      expect(report.checkedEvents).toBeGreaterThanOrEqual(TOTAL);
      expect(report.checkedStreams).toBeGreaterThanOrEqual(STREAMS);
      // Over 200 MB of events went through a 128 MB heap; what stays is the streams' last hashes.
      expect(peak - before).toBeLessThan(100 * 1024 * 1024);
      // The subscription steps through the same check: progress on the way, the report at the end.
      const client = wsClient(port);
      const sub = collect<{ logVerification: { checkedEvents: number; progress: number; report: { ok: boolean; checkedEvents: number } | null } }>(client, 'subscription { logVerification { checkedEvents progress report { ok checkedEvents } } }');
      await waitFor(() => sub.messages.some((m) => m.logVerification.report !== null), 120_000, 'the last step');
      sub.unsubscribe();
      await client.dispose();
      const steps = sub.messages.map((m) => m.logVerification);
      expect(steps.length).toBeGreaterThan(2);
      expect(steps.slice(0, -1).every((s, i) => s.report === null && s.progress < 1 && (i === 0 || s.checkedEvents > steps[i - 1].checkedEvents))).toBe(true);
      expect(steps[steps.length - 1]).toMatchObject({ progress: 1, report: { ok: true, checkedEvents: report.checkedEvents } });
      console.log(`verifyLog: ${report.checkedEvents} events, ${report.checkedStreams} streams in ${seconds.toFixed(1)} s (${Math.round(report.checkedEvents / seconds)} events/s); RSS ${Math.round(before / 1048576)} MB before, +${Math.round((peak - before) / 1048576)} MB at peak`);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      dir.cleanup();
    }
  }, 240_000);
});
