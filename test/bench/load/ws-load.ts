/**
 * Subscription load generator (its own process): `subscribers` graphql-ws connections, each
 * watching one of `machines` machines, then `mutations` label changes at a fixed rate over HTTP.
 * Latency is from a mutation's send to each subscriber's message, both on this process's clock.
 */
import { open } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { childArgs, report } from './child';

export interface WsLoadArgs {
  port: number;
  key: string;
  machineIds: string[];
  subscribers: number;
  mutations: number;
  perSecond: number;
  waitMs: number;
  /** A scratch file on the server's disk: written and synced every 20 ms while the mutations go out. */
  diskProbeFile: string;
}

export interface WsLoadResult {
  expected: number;
  received: number;
  duplicates: number;
  mutationErrors: number;
  sendSeconds: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** This process's own event-loop delay while sending: how much of the latency is the generator's. */
  generatorLoopDelayP99: number;
  generatorLoopDelayMax: number;
  /** The server's own durable appends while measuring (its append-duration histogram): the disk's share. */
  serverAppends: { count: number; over25ms: number; over100ms: number };
  /** The disk itself in the same window: a bare 4 KiB write + fdatasync every 20 ms, in ms. */
  diskProbe: { count: number; p50: number; p99: number; max: number };
}

/**
 * The disk's own latency while the mutations go out: a 4 KiB write and an fdatasync of a file
 * of its own, every 20 ms, timed. Every message follows a durable append, so this is the floor
 * under the message's latency that the server cannot lower.
 */
function probeDisk(file: string): { stop: () => Promise<{ count: number; p50: number; p99: number; max: number }> } {
  let running = true;
  const took: number[] = [];
  const done = (async () => {
    const fh = await open(file, 'w');
    const page = Buffer.alloc(4096, 7);
    try {
      for (let i = 0; running; i++) {
        const started = performance.now();
        await fh.write(page, 0, page.length, (i % 256) * page.length);
        await fh.datasync();
        took.push(performance.now() - started);
        await new Promise((r) => setTimeout(r, Math.max(20 - (performance.now() - started), 0)));
      }
    } finally {
      await fh.close();
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      const sorted = [...took].sort((x, y) => x - y);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
      return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN };
    },
  };
}

/** The server's append-duration histogram: appends in all, and those that took longer than 25 and 100 ms. */
async function appendHistogram(port: number): Promise<{ count: number; over25ms: number; over100ms: number }> {
  const text = await (await fetch(`http://localhost:${port}/metrics`)).text();
  const value = (series: string) => Number(text.match(new RegExp(`^drydock_event_append_duration_seconds_${series} (\\d+)$`, 'm'))?.[1] ?? NaN);
  const count = value('count');
  return { count, over25ms: count - value('bucket\\{le="0.025"\\}'), over100ms: count - value('bucket\\{le="0.1"\\}') };
}

const SUBSCRIPTION = 'subscription($id: ID!) { machineChanged(id: $id) { id labels } }';
const MUTATION = 'mutation($id: ID!, $l: JSON!) { setMachineLabels(input: { machineId: $id, labels: $l }) { id } }';

async function main() {
  const a = childArgs<WsLoadArgs>();
  const url = `http://localhost:${a.port}/graphql`;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${a.key}` };
  const mutate = async (id: string, seq: string) => {
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query: MUTATION, variables: { id, l: { seq } } }) });
    const body = (await res.json()) as { errors?: unknown };
    if (!res.ok || body.errors) throw new Error(JSON.stringify(body));
  };

  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let received = 0;
  let duplicates = 0;
  const seen: Array<Set<string>> = [];
  const clients: Client[] = [];
  for (let k = 0; k < a.subscribers; k++) {
    const client = createClient({ url: `ws://localhost:${a.port}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${a.key}` }, retryAttempts: 0 });
    clients.push(client);
    const mine = new Set<string>();
    seen.push(mine);
    client.subscribe<{ machineChanged: { labels: { seq?: string } } }>(
      { query: SUBSCRIPTION, variables: { id: a.machineIds[k % a.machineIds.length] } },
      {
        next: (m) => {
          const now = performance.now();
          const seq = m.data?.machineChanged.labels.seq;
          if (seq === undefined) return;
          if (mine.has(seq)) return void duplicates++;
          mine.add(seq);
          const sent = sentAt.get(seq);
          if (sent === undefined) return; // a warm-up message
          received += 1;
          latencies.push(now - sent);
        },
        error: (e) => process.stderr.write(`subscription error: ${JSON.stringify(e)}\n`),
        complete: () => undefined,
      },
    );
  }

  // Warm-up: one change per machine, until every subscriber has had its message (so all are live).
  for (let round = 0; ; round++) {
    await Promise.all(a.machineIds.map((id) => mutate(id, `warm-${round}`)));
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && seen.some((s) => !s.has(`warm-${round}`))) await new Promise((r) => setTimeout(r, 20));
    if (seen.every((s) => s.has(`warm-${round}`))) break;
    if (round >= 5) throw new Error('subscribers did not all go live');
  }

  // Steady state before measuring: every projection done with the warm-up's events.
  const settledAt = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query: '{ projections { lag } }' }) });
    const body = (await res.json()) as { data?: { projections: Array<{ lag: number }> } };
    if (body.data?.projections.every((p) => p.lag === 0)) break;
    if (Date.now() > settledAt) throw new Error('projections did not catch up after the warm-up');
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 500));

  let mutationErrors = 0;
  const inFlight: Promise<void>[] = [];
  const appendsBefore = await appendHistogram(a.port);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const disk = probeDisk(a.diskProbeFile);
  const started = performance.now();
  for (let i = 0; i < a.mutations; i++) {
    const due = started + (i * 1000) / a.perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const seq = String(i);
    sentAt.set(seq, performance.now());
    inFlight.push(mutate(a.machineIds[i % a.machineIds.length], seq).catch(() => void mutationErrors++));
  }
  const sendSeconds = (performance.now() - started) / 1000;
  await Promise.all(inFlight);
  loop.disable();
  const diskProbe = await disk.stop();
  const perMachine = (k: number) => {
    const m = k % a.machineIds.length;
    return Math.floor((a.mutations - 1 - m) / a.machineIds.length) + 1;
  };
  const expected = Array.from({ length: a.subscribers }, (_, k) => perMachine(k)).reduce((x, y) => x + y, 0);
  const deadline = Date.now() + a.waitMs;
  while (received < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const appendsAfter = await appendHistogram(a.port);
  const serverAppends = {
    count: appendsAfter.count - appendsBefore.count,
    over25ms: appendsAfter.over25ms - appendsBefore.over25ms,
    over100ms: appendsAfter.over100ms - appendsBefore.over100ms,
  };
  await Promise.all(clients.map((c) => c.dispose()));
  const sorted = latencies.sort((x, y) => x - y);
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);
  report({ expected, received, duplicates, mutationErrors, sendSeconds, p50: at(50), p90: at(90), p99: at(99), max: sorted[sorted.length - 1] ?? NaN, generatorLoopDelayP99: loop.percentile(99) / 1e6, generatorLoopDelayMax: loop.max / 1e6, serverAppends, diskProbe } satisfies WsLoadResult);
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
