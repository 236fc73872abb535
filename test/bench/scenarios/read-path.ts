import { randomUUID } from 'node:crypto';
import { EventStore, NewEvent } from '../../../src/event-store/event-store.port';
import { measure, measurePair, Row, spreadOf } from '../harness';
import { caughtUp, rebuildSeconds, startBenchApp } from './bench-app';
import type { BenchContext } from './write-path';

const meta = { actor: 'bench', correlationId: 'bench', causationId: null, requestId: null, occurredAt: new Date().toISOString(), schemaVersion: 1 };

/** The baseline of every rebuild: all of `$all` read raw, in pages, in events per second. */
export async function rawReadRate(events: EventStore): Promise<number> {
  const started = performance.now();
  let from = 0;
  let n = 0;
  for (;;) {
    const page = await events.readAll({ from, maxCount: 4096 });
    if (page.length === 0) break;
    n += page.length;
    from = page[page.length - 1].position;
  }
  return n / ((performance.now() - started) / 1000);
}

/** A log of `total` machine events: registrations, then label changes over 10,000 machines. */
export async function seedMachines(store: EventStore, total: number): Promise<void> {
  const machines = Math.min(10_000, total);
  const at = new Date().toISOString();
  const perStream = Math.ceil(total / machines);
  const appends: Promise<unknown>[] = [];
  for (let m = 0; m < machines; m++) {
    const id = `m${m}`;
    const events: NewEvent[] = [{ id: randomUUID(), type: 'MachineRegistered', data: { id, phase: 'READY', hypervisor: false, capacity: null, labels: {}, at, effectiveState: 'IDLE', allocatable: true }, metadata: meta }];
    for (let i = 1; i < perStream; i++) events.push({ id: randomUUID(), type: 'MachineLabelsChanged', data: { id, labels: { n: String(i) }, at }, metadata: meta });
    appends.push(store.append(`machine-${id}`, events, 'no_stream'));
    if (appends.length >= 500) await Promise.all(appends.splice(0));
  }
  await Promise.all(appends);
}

export async function rebuildScenarios(ctx: BenchContext): Promise<Row[]> {
  // The scale (1,000,000 events) in the full suite; --quick rebuilds a tenth of it.
  const total = ctx.quick ? 100_000 : 1_000_000;
  const place = ctx.stores.place('rebuild');
  const events = await place.events();
  await seedMachines(events, total);
  const head = await events.headPosition();

  // For reference: raw bulk writes to the same read store, 1,000 documents a transaction.
  const writes = ctx.quick ? 25_000 : 200_000;
  const rawWrite = await measure(async () => {
    const read = await ctx.stores.place('bulk').read({ writerThread: false });
    const started = performance.now();
    for (let b = 0; b < writes / 1000; b++) {
      const changes = Array.from({ length: 1000 }, (_, i) => ({
        op: 'updateOne' as const,
        collection: 'bulk',
        filter: { _id: `m${(b * 1000 + i) % 10_000}` },
        update: { $set: { labels: { n: String(b) } } },
        upsert: true,
      }));
      await read.commit(changes);
    }
    const rate = writes / ((performance.now() - started) / 1000);
    await read.close();
    return rate;
  }, { warmup: 1, rounds: 2 });

  // The app's `machines` runner rebuilding from the start of the log into a new generation (the
  // live one is dropped at the swap), as an operator's `rebuildProjection` starts it: the app's
  // settings, its lease's fence on every write, the rest of the app running beside it. Round by
  // round in turns with its baseline, a raw read of all of $all in pages. The app starts once and
  // every projection catches up on the whole log before the first round: that catch-up runs the
  // same code as a rebuild and is the warm-up, after a warm-up read.
  await rawReadRate(events);
  const app = await startBenchApp(place.env);
  await caughtUp(app, 30 * 60_000);
  const { baseline: rawRead, figure: rebuild } = await measurePair(
    () => rawReadRate(events),
    async () => head / (await rebuildSeconds(app, ['machines'])),
    { warmup: 0, rounds: 3 },
  );
  await app.close();
  await events.close();

  return [
    { scenario: `raw read of $all (${(head / 1000).toFixed(0)}k events)`, figure: rawRead.median, unit: 'events/s', baseline: null, baselineName: null, ratio: null, target: '—', pass: null, spread: spreadOf(rawRead) },
    { scenario: 'raw bulk write, read store (1,000 docs/txn)', figure: rawWrite.median, unit: 'writes/s', baseline: null, baselineName: null, ratio: null, target: '—', pass: null, spread: spreadOf(rawWrite) },
    {
      scenario: `projection rebuild, machines (${(head / 1000).toFixed(0)}k events)`,
      figure: rebuild.median,
      unit: 'events/s',
      baseline: rawRead.median,
      baselineName: 'raw $all read',
      ratio: rebuild.median / rawRead.median,
      target: 'ratio >= 0.3 and >= 30,000/s',
      pass: rebuild.median / rawRead.median >= 0.3 && rebuild.median >= 30_000,
      spread: spreadOf(rebuild),
      detail: { rawBulkWritesPerSecond: rawWrite.median, ratioToRawBulkWrite: rebuild.median / rawWrite.median },
    },
  ];
}
