import { randomUUID } from 'node:crypto';
import { ANALYTICS_PROJECTIONS } from '../../../projections';
import { EventStore, NewEvent } from '../../../src/event-store/event-store.port';
import { gql } from '../../support/api-client';
import { freePort, startServer, TEST_ADMIN_KEY, waitFor } from '../../support/server-process';
import { measure, Row, spreadOf } from '../harness';
import { appRunners } from './bench-app';
import { rawReadRate } from './read-path';
import type { BenchContext } from './write-path';

const meta = { actor: 'bench', correlationId: 'bench', causationId: null, requestId: null, occurredAt: new Date().toISOString(), schemaVersion: 1 };
const ev = (type: string, data: Record<string, unknown>): NewEvent => ({ id: randomUUID(), type, data, metadata: meta });
const idle = { effectiveState: 'IDLE', allocatable: true };
const busy = { effectiveState: 'BUSY', allocatable: false };

/**
 * A fleet's history for the analytics projections: machines going round tenant use, an issue
 * report, a repair and a reboot; nodes drained now and then. About 14 events a cycle.
 */
export async function seedFleetForProfile(store: EventStore, total: number): Promise<number> {
  return seedFleet(store, total);
}

async function seedFleet(store: EventStore, total: number): Promise<number> {
  const machines = 2_000;
  const at = (n: number) => new Date(Date.UTC(2026, 0, 1) + n * 60_000).toISOString();
  const pending: Promise<unknown>[] = [];
  const revisions = new Map<string, number>();
  const append = (stream: string, events: NewEvent[]) => {
    const expected = revisions.get(stream) ?? -1;
    revisions.set(stream, expected + events.length);
    pending.push(store.append(stream, events, expected === -1 ? 'no_stream' : expected));
  };
  for (let m = 0; m < machines; m++) append(`machine-m${m}`, [ev('MachineRegistered', { id: `m${m}`, phase: 'READY', hypervisor: false, capacity: null, labels: {}, at: at(0), ...idle })]);
  let written = machines;
  for (let cycle = 0; written < total; cycle++) {
    for (let m = 0; m < machines && written < total; m++) {
      const id = `m${m}`;
      const t = cycle * 100;
      const instanceId = randomUUID();
      const operationId = randomUUID();
      const issue = { category: ['HARDWARE', 'NETWORK', 'PERFORMANCE', 'OTHER'][m % 4], summary: 's', details: null };
      const machineEvents = [
        ev('MachineAssigned', { id, instanceId, tenantId: `t${m % 50}`, purpose: 'TENANT', at: at(t + 1), ...idle, allocatable: false }),
        ev('MachineUnassigned', { id, instanceId, tenantId: `t${m % 50}`, at: at(t + 2), ...idle, allocatable: false }),
        ev('HealthOverrideAdded', { id, source: 'tenant-reported-issue', template: 'TENANT_REPORTED_ISSUE', classifications: ['PREVENT_ALLOCATIONS'], message: 'm', issue: { ...issue, tenantId: `t${m % 50}` }, addedBy: 'b', at: at(t + 2), ...idle, allocatable: false }),
        ev('HealthOverrideAdded', { id, source: 'repair-request', template: 'REQUEST_REPAIR', classifications: ['PREVENT_ALLOCATIONS'], message: 'm', issue: { ...issue, tenantId: `t${m % 50}` }, addedBy: 'b', at: at(t + 2), ...idle, allocatable: false }),
        ev('MachineAssigned', { id, instanceId: randomUUID(), tenantId: 'repair', purpose: 'REPAIR', at: at(t + 10), ...idle, allocatable: false }),
        ev('MachineUnassigned', { id, instanceId, tenantId: 'repair', at: at(t + 40), ...idle, allocatable: false }),
        ev('RepairOutcomeRecorded', { id, repairStatus: 'completed', completed: m % 5 !== 0, cycle: cycle + 1, at: at(t + 40) }),
        ev('HealthOverrideRemoved', { id, source: 'repair-request', reason: 'r', removedBy: 'b', at: at(t + 40), ...idle, allocatable: false }),
        ev('HealthOverrideRemoved', { id, source: 'tenant-reported-issue', reason: 'r', removedBy: 'b', at: at(t + 40), ...idle }),
        ev('OperationRequested', { id, operationId, operation: 'REBOOT', params: {}, requestId: randomUUID(), stages: [], at: at(t + 50), ...busy }),
        ev('OperationSucceeded', { id, operationId, operation: 'REBOOT', at: at(t + 55), ...idle }),
      ];
      append(`machine-${id}`, machineEvents);
      append(`instance-${instanceId}`, [ev('IssueReported', { id: instanceId, tenantId: `t${m % 50}`, machineId: id, purpose: 'TENANT', issue, at: at(t + 2) })]);
      written += machineEvents.length + 1;
      if (m % 20 === 0) {
        const drainId = randomUUID();
        const progress = { status: 'COMPLETED', totalVMs: 10, completedVMs: 10, failedVMs: 0, skippedVMs: 0, inFlight: 0, message: '' };
        append(`drain-${drainId}`, [
          ev('DrainStarted', { drainId, node: `hv${m % 40}`, kind: 'DRAIN', undoes: null, vms: [], mode: m % 40 < 20 ? 'SOFT' : 'HARD', parallel: true, maxConcurrent: 3, allowOffline: false, targetNode: null, deadline: null, at: at(t), progress: { ...progress, status: 'IN_PROGRESS', completedVMs: 0 } }),
          ev('DrainFinished', { drainId, status: m % 80 === 0 ? 'FAILED' : 'COMPLETED', reason: null, at: at(t + 30), progress }),
        ]);
        written += 2;
      }
      if (pending.length >= 500) await Promise.all(pending.splice(0));
    }
  }
  await Promise.all(pending);
  return written;
}

/** Rebuild of all five analytics projections over a fleet's log, through their runners, against a raw read of $all. */
export async function analyticsRebuildScenario(ctx: BenchContext): Promise<Row[]> {
  const total = ctx.quick ? 20_000 : 1_000_000;
  const place = ctx.stores.place('analytics');
  const events = await place.events();
  await seedFleet(events, total);
  const head = await events.headPosition();
  const raw = await measure(() => rawReadRate(events), { warmup: 1, rounds: 3 });
  const read = await place.read({ writerThread: true });
  // Built as the app builds them, on stores of the scenario's own: the app's sagas and executors
  // would act on this history, written straight into the log. The live catch-up is the warm-up.
  const runners = appRunners(ANALYTICS_PROJECTIONS, events, read);
  for (const r of runners) await r.start();
  await Promise.all(runners.map((r) => r.waitFor(head)));
  // One round (over 1,000,000 events it takes over a minute), which says so: it rebuilds all five
  // at once (blue/green, each into its next generation) and waits for all the swaps.
  const rebuild = await measure(async () => {
    const started = performance.now();
    await Promise.all(runners.map((r) => r.beginRebuild()));
    while (runners.some((r) => r.state === 'rebuilding')) await new Promise((res) => setTimeout(res, 5));
    return head / ((performance.now() - started) / 1000);
  }, { warmup: 0, rounds: 1 });
  for (const r of runners) await r.stop();
  await read.close();
  await events.close();
  return [
    {
      scenario: `rebuild of all 5 analytics projections (${(head / 1000).toFixed(0)}k events)`,
      figure: rebuild.median,
      unit: 'events/s',
      baseline: raw.median,
      baselineName: 'raw $all read',
      ratio: rebuild.median / raw.median,
      target: 'info (no target set)',
      pass: null,
      spread: 'one round, after the live catch-up (its warm-up)',
      detail: { events: head, seconds: head / rebuild.median },
    },
  ];
}

/** machineAt on a 10,000-event stream and the NDJSON export, over HTTP against a started server. */
export async function auditScenario(ctx: BenchContext): Promise<Row[]> {
  const place = ctx.stores.place('audit');
  const exportTotal = ctx.quick ? 10_000 : 400_000;
  const events = await place.events();
  const at = new Date().toISOString();
  await events.append('machine-long', [ev('MachineRegistered', { id: 'long', phase: 'READY', hypervisor: false, capacity: null, labels: {}, at, ...idle })], 'no_stream');
  for (let r = 1; r < 10_000; r += 500) {
    await events.append('machine-long', Array.from({ length: 500 }, (_, i) => ev('MachineLabelsChanged', { id: 'long', labels: { n: String(r + i) }, at })), r - 1);
  }
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < exportTotal; i += 100) {
    pending.push(events.append(`bulk-${i}`, Array.from({ length: 100 }, (_, k) => ev('BulkRecorded', { n: i + k, note: 'an event of the kind auditors export' })), 'no_stream'));
    if (pending.length >= 200) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  const raw = await measure(async () => {
    const started = performance.now();
    let n = 0;
    let from = 0;
    for (;;) {
      const page = await events.readAll({ from, maxCount: 1000, filter: { streamPrefixes: ['bulk-'] } });
      if (!page.length) break;
      n += page.length;
      from = page[page.length - 1].position;
    }
    return n / ((performance.now() - started) / 1000);
  }, { warmup: 1, rounds: 3 });
  await events.close();

  const port = await freePort();
  const server = startServer({ ...place.env, LOG_LEVEL: 'warn' }, port);
  try {
    await waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200, 60_000, 'the server');
    const query = 'query($r: Int) { machineAt(id: "long", revision: $r) { revision labels } }';
    const latencies: number[] = [];
    for (let i = 0; i < (ctx.quick ? 20 : 100); i++) {
      const started = performance.now();
      const r = await gql(port, query, { r: 9_999 - (i % 7) });
      if (!r.data?.machineAt) throw new Error(`machineAt failed: ${JSON.stringify(r.errors)}`);
      latencies.push(performance.now() - started);
    }
    const sorted = latencies.slice(5).sort((a, b) => a - b);
    const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

    const exported = await measure(async () => {
      const started = performance.now();
      const res = await fetch(`http://localhost:${port}/audit/export?category=bulk`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
      let lines = 0;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) for (const byte of chunk) if (byte === 10) lines += 1;
      if (lines !== exportTotal) throw new Error(`export gave ${lines} lines, expected ${exportTotal}`);
      return lines / ((performance.now() - started) / 1000);
    }, { warmup: 1, rounds: 3 });
    return [
      {
        scenario: 'machineAt on a 10,000-event stream (HTTP)',
        figure: p(0.5),
        unit: 'ms',
        baseline: null,
        baselineName: null,
        ratio: null,
        target: 'info (no target set)',
        pass: null,
        spread: `p50 ${p(0.5).toFixed(1)} / p99 ${p(0.99).toFixed(1)} ms`,
        detail: { p50: p(0.5), p99: p(0.99), samples: sorted.length },
      },
      {
        scenario: `NDJSON export (${(exportTotal / 1000).toFixed(0)}k events, HTTP)`,
        figure: exported.median,
        unit: 'events/s',
        baseline: raw.median,
        baselineName: 'raw filtered read',
        ratio: exported.median / raw.median,
        target: 'info (no target set)',
        pass: null,
        spread: spreadOf(exported),
      },
    ];
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}
