import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { newEvent } from '../contract/event-store.contract';
import { gql } from '../support/api-client';
import { ServerProcess, startReadyServer, TEST_ADMIN_KEY, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

interface Ev {
  id: string;
  stream: string;
  type: string;
  data: Record<string, unknown>;
  metadata: { actor: string; causationId: string | null; hash: string | null };
}
interface Caused {
  event: Ev;
  parentId: string | null;
  depth: number;
}

const EVENT = 'id stream type data metadata { actor causationId hash }';

describe('auditors: history, cause chains, time travel and tamper evidence', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  let tenant: string;
  let repair: string;
  let auditor: string;

  const key = async (role: string, tenantId?: string) =>
    (await gql(port, 'mutation($r: Role!, $t: String) { createApiKey(input: { role: $r, tenantId: $t, name: "k" }) { key } }', { r: role, t: tenantId })).data!.createApiKey.key as string;
  const revisionOf = async (id: string) => (await gql(port, `{ machine(id: "${id}") { revision } }`)).data!.machine.revision as number;
  const streamEvents = async (stream: string): Promise<Ev[]> => (await gql(port, `query($s: String) { events(filter: { stream: $s }, first: 1000) { nodes { ${EVENT} } } }`, { s: stream }, auditor)).data!.events.nodes;
  const machineAt = async (id: string, revision: number) =>
    (await gql(port, 'query($id: ID!, $r: Int) { machineAt(id: $id, revision: $r) { revision allocatable notAllocatableBecause healthOverrides instance } }', { id, r: revision }, auditor)).data!.machineAt;

  beforeAll(async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: join(dir.path, 'data'), LOG_LEVEL: 'warn', AUTO_MACHINE_REPAIR_ENABLED: 'true' }));
    tenant = await key('TENANT', 'acme');
    repair = await key('REPAIR_TENANT');
    auditor = await key('AUDITOR');
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  it('a full repair journey reads back as history, as a cause tree, and as the machine at each step', async () => {
    const id = 'journey-1';
    const steps: Array<[string, number]> = [];
    await gql(port, `mutation { registerMachines(input: { ids: ["${id}"], phase: READY }) { id } }`);
    steps.push(['registered', await revisionOf(id)]);
    const inst = (await gql(port, `mutation { allocateInstance(input: { machineId: "${id}", requestId: "j1" }) { id } }`, undefined, tenant)).data!.allocateInstance;
    steps.push(['allocated', await revisionOf(id)]);
    await gql(port, `mutation { releaseInstance(input: { id: "${inst.id}", issue: { category: HARDWARE, summary: "ECC errors" } }) { id } }`, undefined, tenant);
    await waitFor(async () => (await machineAt(id, await revisionOf(id))).healthOverrides['repair-request'] !== undefined, 5_000, 'the repair request');
    steps.push(['reported', await revisionOf(id)]);
    const claimed = (await gql(port, `mutation { claimMachineForRepair(input: { machineId: "${id}" }) { id } }`, undefined, repair)).data!.claimMachineForRepair;
    steps.push(['claimed', await revisionOf(id)]);
    await gql(port, `mutation { completeRepair(input: { machineId: "${id}", repairStatus: "completed" }) { id } }`, undefined, repair);
    await waitFor(async () => Object.keys((await machineAt(id, await revisionOf(id))).healthOverrides).length === 0, 5_000, 'the return to the pool');
    steps.push(['returned', await revisionOf(id)]);

    // machineAt after each step, folded from the log.
    const at = Object.fromEntries(await Promise.all(steps.map(async ([name, rev]) => [name, await machineAt(id, rev)] as const)));
    expect(at.registered).toMatchObject({ allocatable: true, instance: null, healthOverrides: {} });
    expect(at.allocated).toMatchObject({ allocatable: false, instance: inst.id });
    expect(Object.keys(at.reported.healthOverrides).sort()).toEqual(['repair-request', 'tenant-reported-issue']);
    expect(at.reported).toMatchObject({ allocatable: false, instance: null, notAllocatableBecause: expect.stringMatching(/prevents allocations/) });
    expect(at.claimed).toMatchObject({ allocatable: false, instance: claimed.id });
    expect(at.returned).toMatchObject({ allocatable: true, instance: null, healthOverrides: {} });

    // The history of the machine, by an auditor, with every event's actor.
    const history = await streamEvents(`machine-${id}`);
    expect(history.map((e) => e.type)).toEqual([
      'MachineRegistered',
      'MachineAssigned',
      'MachineUnassigned',
      'HealthOverrideAdded',
      'HealthOverrideAdded',
      'MachineAssigned',
      'MachineUnassigned',
      'RepairOutcomeRecorded',
      'HealthOverrideRemoved',
      'HealthOverrideRemoved',
    ]);
    expect(history[1].metadata.actor).toMatch(/^TENANT/);
    expect(history[4].metadata.actor).toMatch(/^saga:repair-workflow/);
    expect(history[5].metadata.actor).toMatch(/^REPAIR_TENANT/);

    // The cause tree from the tenant's issue report down to the return to the pool.
    const report = (await streamEvents(`instance-${inst.id}`)).find((e) => e.type === 'IssueReported')!;
    const chain = (await gql(port, `query($e: ID!) { causationChain(eventId: $e) { rootId truncated ancestors { event { ${EVENT} } parentId depth } descendants { event { ${EVENT} } parentId depth } } }`, { e: report.id }, auditor)).data!.causationChain;
    expect(chain.rootId).toBe(report.id);
    expect(chain.truncated).toBe(false);
    const line = (c: Caused) => `${'  '.repeat(c.depth)}${c.event.type}${c.event.data.source ? ` ${String(c.event.data.source)}` : ''}`;
    expect((chain.descendants as Caused[]).map(line)).toEqual([
      '  MachineUnassigned',
      '  HealthOverrideAdded tenant-reported-issue',
      '  HealthOverrideAdded repair-request',
      '    MachineAssigned',
      '      InstanceAllocated',
      '      InstanceLabelsChanged',
      '      InstanceReleased',
      '        MachineUnassigned',
      '        RepairOutcomeRecorded',
      '        HealthOverrideRemoved repair-request',
      '        HealthOverrideRemoved tenant-reported-issue',
    ]);
    const placed = new Set([report.id]);
    for (const c of chain.descendants as Caused[]) {
      expect(placed.has(c.parentId!)).toBe(true);
      expect(c.event.metadata.causationId).toBe(c.parentId);
      placed.add(c.event.id);
    }

    // And back: from the last removal to the first cause, with actors.
    const last = history[history.length - 1];
    const back = (await gql(port, `query($e: ID!) { causationChain(eventId: $e) { rootId ancestors { event { type metadata { actor } } depth } descendants { depth } } }`, { e: last.id }, auditor)).data!.causationChain;
    expect(back.rootId).toBe(report.id);
    expect(back.ancestors.map((a: { event: { type: string } }) => a.event.type)).toEqual(['IssueReported', 'HealthOverrideAdded', 'MachineAssigned', 'InstanceReleased', 'HealthOverrideRemoved']);
    expect(back.ancestors.map((a: { event: { metadata: { actor: string } } }) => a.event.metadata.actor.split(/[: ]/)[0])).toEqual(['TENANT', 'saga', 'REPAIR_TENANT', 'REPAIR_TENANT', 'saga']);
    expect(back.descendants).toEqual([]);

    // Every stream of the journey verifies.
    for (const stream of [`machine-${id}`, `instance-${inst.id}`, `instance-${claimed.id}`]) {
      expect((await gql(port, 'query($s: String!) { verifyStream(stream: $s) { ok checked firstBreak { reason } } }', { s: stream }, auditor)).data!.verifyStream).toMatchObject({ ok: true, firstBreak: null });
    }
  });

  it('analytics over the API count the journey inside its window and not outside; every read model verifies against the log', async () => {
    const q = `query($w: AnalyticsWindow) { analytics(window: $w) {
      repairs { overall { finished completed meanTimeToRepairSeconds } byCategory { key completed } open }
      issueReports { total byCategory { key count } byMachine { key count } repeatOffenders { machineId } }
      drains { byMode { key started } }
      operations { type requested }
      timeInState(machineId: "journey-1") { state seconds } } }`;
    const now = (await gql(port, q, {}, auditor)).data!.analytics;
    expect(now.repairs.overall).toMatchObject({ finished: 1, completed: 1 });
    expect(now.repairs.overall.meanTimeToRepairSeconds).toBeGreaterThan(0);
    expect(now.repairs.byCategory).toEqual([{ key: 'HARDWARE', completed: 1 }]);
    expect(now.issueReports.byMachine).toContainEqual({ key: 'journey-1', count: 1 });
    expect(now.issueReports.byCategory).toContainEqual({ key: 'HARDWARE', count: 1 });
    // No operation ran on it and no condition blocked it: all its time was IDLE (assigned or not).
    expect(now.timeInState).toEqual([{ state: 'IDLE', seconds: expect.any(Number) }]);
    expect(now.timeInState[0].seconds).toBeGreaterThan(0);
    const past = (await gql(port, q, { w: { from: '2020-01-01T00:00:00Z', to: '2020-02-01T00:00:00Z' } }, auditor)).data!.analytics;
    expect(past.repairs.overall.finished).toBe(0);
    expect(past.issueReports.total).toBe(0);
    expect(past.timeInState).toEqual([]);
    const reversed = await gql(port, q, { w: { from: '2020-02-01T00:00:00Z', to: '2020-01-01T00:00:00Z' } }, auditor);
    expect(reversed.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'window.from' });

    for (const name of ['machines', 'instances', 'analytics_repairs', 'analytics_issue_reports', 'analytics_drains', 'analytics_operations', 'analytics_machine_states']) {
      const drift = (await gql(port, 'query($n: String!) { verifyProjection(name: $n) { ok checkpoint collections { name liveDocuments differences } differences { id kind } } }', { n: name }, auditor)).data!.verifyProjection;
      expect({ name, ok: drift.ok, differences: drift.differences }).toEqual({ name, ok: true, differences: [] });
    }
  });

  it('instanceAt shows an instance before and after its release', async () => {
    await gql(port, 'mutation { registerMachines(input: { ids: ["tt-1"], phase: READY }) { id } }');
    const inst = (await gql(port, 'mutation { allocateInstance(input: { machineId: "tt-1", requestId: "tt" }) { id } }', undefined, tenant)).data!.allocateInstance;
    await gql(port, `mutation { releaseInstance(input: { id: "${inst.id}" }) { id } }`, undefined, tenant);
    const q = 'query($id: ID!, $r: Int) { instanceAt(id: $id, revision: $r) { revision status released tenantId machineId } }';
    expect((await gql(port, q, { id: inst.id, r: 0 }, auditor)).data!.instanceAt).toMatchObject({ revision: 0, released: false, tenantId: 'acme', machineId: 'tt-1' });
    expect((await gql(port, q, { id: inst.id, r: 5 }, auditor)).data!.instanceAt).toMatchObject({ status: 'RELEASED', released: true });
    const missing = await gql(port, 'query { instanceAt(id: "nope", revision: 0) { revision } }', undefined, auditor);
    expect(missing.errors![0].extensions!.code).toBe('NOT_FOUND');
    const both = await gql(port, `query { instanceAt(id: "${inst.id}", revision: 0, asOf: "2020-01-01T00:00:00Z") { revision } }`, undefined, auditor);
    expect(both.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'asOf' });
  });

  it('an event changed or removed directly in the SQLite file is found by verifyStream', async () => {
    await gql(port, 'mutation { registerMachines(input: { ids: ["tamper-1"], phase: READY }) { id } }');
    for (const rack of ['r1', 'r2', 'r3']) await gql(port, `mutation { setMachineLabels(input: { machineId: "tamper-1", labels: { rack: "${rack}" } }) { id } }`);
    const verify = async () => (await gql(port, 'query { verifyStream(stream: "machine-tamper-1") { ok checked firstBreak { revision reason } } }', undefined, auditor)).data!.verifyStream;
    expect(await verify()).toMatchObject({ ok: true, checked: 4 });

    const db = new Database(join(dir.path, 'data', 'events.db'));
    try {
      db.prepare("UPDATE events SET data = json_set(data, '$.labels.rack', 'r9') WHERE stream = 'machine-tamper-1' AND revision = 2").run();
      expect(await verify()).toMatchObject({ ok: false, checked: 3, firstBreak: { revision: 2, reason: 'CONTENT_CHANGED' } });
      // Recomputing the changed event's own hash does not help: the next event names the old one.
      db.prepare("UPDATE events SET metadata = json_set(metadata, '$.actor', 'someone else') WHERE stream = 'machine-tamper-1' AND revision = 1").run();
      expect((await verify()).firstBreak).toMatchObject({ revision: 1, reason: 'CONTENT_CHANGED' });
    } finally {
      db.close();
    }
    await gql(port, 'mutation { registerMachines(input: { ids: ["tamper-2"], phase: READY }) { id } }');
    for (const rack of ['r1', 'r2']) await gql(port, `mutation { setMachineLabels(input: { machineId: "tamper-2", labels: { rack: "${rack}" } }) { id } }`);
    const db2 = new Database(join(dir.path, 'data', 'events.db'));
    try {
      db2.prepare("DELETE FROM events WHERE stream = 'machine-tamper-2' AND revision = 1").run();
    } finally {
      db2.close();
    }
    const gap = (await gql(port, 'query { verifyStream(stream: "machine-tamper-2") { ok firstBreak { revision reason } } }', undefined, auditor)).data!.verifyStream;
    expect(gap).toMatchObject({ ok: false, firstBreak: { revision: 2, reason: 'REVISION_GAP' } });
  });

  it('an edit of when, why or where an event was recorded changes what auditors read, and verifyStream finds it', async () => {
    const verify = async (id: string) => (await gql(port, 'query($s: String!) { verifyStream(stream: $s) { ok firstBreak { revision reason } } }', { s: `machine-${id}` }, auditor)).data!.verifyStream;
    for (const id of ['field-at', 'field-cause', 'field-pos']) {
      await gql(port, `mutation { registerMachines(input: { ids: ["${id}"], phase: READY }) { id } }`);
      for (const rack of ['r1', 'r2', 'r3']) await gql(port, `mutation { setMachineLabels(input: { machineId: "${id}", labels: { rack: "${rack}" } }) { id } }`);
      expect(await verify(id)).toMatchObject({ ok: true });
    }
    const [registered] = await streamEvents('machine-field-cause');
    const db = new Database(join(dir.path, 'data', 'events.db'));
    try {
      // When: the registration and the first labels now seem recorded years ago, and machineAt(asOf) finds them then.
      db.prepare("UPDATE events SET recorded_at = '2020-01-01T00:00:00.000Z' WHERE stream = 'machine-field-at' AND revision <= 1").run();
      const then = (await gql(port, 'query { machineAt(id: "field-at", asOf: "2020-06-01T00:00:00Z") { revision } }', undefined, auditor)).data!.machineAt;
      expect(then).toMatchObject({ revision: 1 });
      // Why: the labels set at revision 2 now seem caused by the registration, in causationChain.
      db.prepare(`UPDATE events SET causation_id = '${registered.id}' WHERE stream = 'machine-field-cause' AND revision = 2`).run();
      const chain = (await gql(port, 'query($e: ID!) { causationChain(eventId: $e) { descendants { event { stream } } } }', { e: registered.id }, auditor)).data!.causationChain;
      expect(chain.descendants).toHaveLength(1);
      // Where: revision 1 moved past the head, so events(filter:) lists it after the others.
      db.prepare("UPDATE events SET position = (SELECT max(position) + 1000 FROM events) WHERE stream = 'machine-field-pos' AND revision = 1").run();
      expect((await streamEvents('machine-field-pos')).map((e) => e.data.labels && (e.data.labels as { rack: string }).rack)).toEqual([undefined, 'r2', 'r3', 'r1']);
    } finally {
      db.close();
    }
    expect(await verify('field-at')).toMatchObject({ ok: false, firstBreak: { revision: 0, reason: 'CONTENT_CHANGED' } });
    expect(await verify('field-cause')).toMatchObject({ ok: false, firstBreak: { revision: 2, reason: 'CONTENT_CHANGED' } });
    expect(await verify('field-pos')).toMatchObject({ ok: false, firstBreak: { revision: 1, reason: 'CONTENT_CHANGED' } });
  });

  it('the auditor role reads but every mutation refuses it', async () => {
    const r = await gql(port, 'mutation { registerMachines(input: { ids: ["aud-1"], phase: READY }) { id } }', undefined, auditor);
    expect(r.errors![0].extensions!.code).toBe('FORBIDDEN');
    expect((await gql(port, '{ events(first: 1) { nodes { id } } }', undefined, auditor)).data!.events.nodes).toHaveLength(1);
  });

  it('the NDJSON export needs an auditing role and names a bad filter', async () => {
    const get = (query: string, k: string | null = auditor) => fetch(`http://localhost:${port}/audit/export?${query}`, { headers: k ? { authorization: `Bearer ${k}` } : {} });
    expect((await get('', null)).status).toBe(401);
    expect((await get('', tenant)).status).toBe(403);
    const bad = await get('from=yesterday');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'BAD_USER_INPUT', field: 'from' } });
    const res = await get('category=machine&types=MachineRegistered');
    expect(res.headers.get('content-type')).toMatch(/application\/x-ndjson/);
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as Ev);
    expect(lines.length).toBeGreaterThan(3);
    expect(new Set(lines.map((e) => e.type))).toEqual(new Set(['MachineRegistered']));
    expect(lines.every((e) => e.metadata.hash)).toBe(true);
  });
});

describe('the NDJSON export of a large history', () => {
  const dir = tempDir();
  const TOTAL = 100_000;

  it(`streams ${TOTAL.toLocaleString('en')} events with bounded server memory`, async () => {
    // The history is written by the embedded store itself (as the app would), 3 KiB of data per event.
    const store = new SqliteEventStore(join(dir.path, 'data', 'events.db'));
    const padding = 'x'.repeat(3072);
    for (let i = 0; i < TOTAL; i += 1000) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => store.append(`bulk-${i + j * 10}`, Array.from({ length: 10 }, (_, k) => newEvent('BulkRecorded', { n: i + j * 10 + k, padding })), 'no_stream')));
    }
    await store.close();
    // The server's heap is capped well below the size of the export: holding it would crash the server.
    // Small projection batches keep the start-up catch-up of fourteen runners (thirteen projections, one saga) over these large events inside the cap too.
    const { server, port } = await startReadyServer({ DATA_DIR: join(dir.path, 'data'), LOG_LEVEL: 'warn', NODE_OPTIONS: '--max-old-space-size=128', PROJECTION_BATCH_SIZE: '50' });
    try {
      const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))![1]) * 1024;
      // The projections read the same 100,000 events at start-up: let them finish first.
      await waitFor(async () => ((await gql(port, '{ projections { lag } }')).data?.projections as Array<{ lag: number }> | undefined)?.every((p) => p.lag === 0) ?? false, 60_000, 'the projections');
      const before = rss();
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rss())), 20);
      const res = await fetch(`http://localhost:${port}/audit/export?category=bulk`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
      let lines = 0;
      let bytes = 0;
      let rest = '';
      let lastN = -1;
      let ordered = true;
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        const text = rest + decoder.decode(chunk, { stream: true });
        const parts = text.split('\n');
        rest = parts.pop()!;
        for (const line of parts) {
          const e = JSON.parse(line) as Ev;
          lines += 1;
          if (lines % 997 === 0) {
            ordered &&= (e.data.n as number) > lastN;
            lastN = e.data.n as number;
          }
        }
      }
      clearInterval(sampler);
      expect(rest).toBe('');
      expect(lines).toBe(TOTAL);
      expect(ordered).toBe(true);
      // Over 300 MB went out through a 128 MB heap; a server that held the export would have died.
      // Streaming grows only by garbage not yet collected.
      expect(bytes).toBeGreaterThan(300 * 1024 * 1024);
      expect(peak - before).toBeLessThan(160 * 1024 * 1024);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      dir.cleanup();
    }
  }, 120_000);
});
