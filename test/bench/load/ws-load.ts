/**
 * Subscription load generator (its own process): for each target server, `subscribers`
 * graphql-ws connections, each watching one of `machines` machines; then rounds of `mutations`
 * label changes at a fixed rate over HTTP: a warm-up round per target, thrown away, and `rounds`
 * measured ones per target, the targets taking turns. Latency is from a mutation's send to each
 * subscriber's message, both on this process's clock.
 */
import { open } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { childArgs, report } from './child';

/** A server under load: Drydock, or the floor beside it (see bare-fanout). */
export interface WsTarget {
  name: string;
  port: number;
  key: string;
  /** Serves Drydock's /metrics (its append-duration histogram). */
  metrics: boolean;
}

export interface WsLoadArgs {
  /** Measured rounds alternate between the targets (ABBA), so a slow spell falls on each alike. */
  targets: WsTarget[];
  machineIds: string[];
  subscribers: number;
  /** Mutations in each measured round, and in each target's warm-up round before them (not measured). */
  mutations: number;
  /** Measured rounds per target. */
  rounds: number;
  warmupMutations: number;
  perSecond: number;
  waitMs: number;
  /** A scratch file on the server's disk: written and synced every 20 ms while the mutations go out. */
  diskProbeFile: string;
}

/** One measured round: latencies from a mutation's send to each subscriber's message, in ms. */
export interface WsRound {
  target: string;
  expected: number;
  received: number;
  mutationErrors: number;
  sendSeconds: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** This process's own event-loop delay while sending: how much of the latency is the generator's. */
  generatorLoopDelayP99: number;
  generatorLoopDelayMax: number;
  /** The server's own durable appends in the round (its append-duration histogram): the disk's share; null without /metrics. */
  serverAppends: { count: number; over25ms: number; over100ms: number } | null;
  /** The disk itself in the same window: a bare 4 KiB write + fdatasync every 20 ms, in ms. */
  diskProbe: { count: number; p50: number; p99: number; max: number };
}

export interface WsLoadResult {
  /** In the order they ran. */
  rounds: WsRound[];
  /** Every measured message of a target's rounds together. */
  pooled: Record<string, { p50: number; p99: number; max: number }>;
  duplicates: number;
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

/** Mutations in flight at once while the subscribers go live (set-up, not measured). */
const GO_LIVE_CONCURRENCY = 16;

const percentile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN);

async function main() {
  const a = childArgs<WsLoadArgs>();

  // A label value `<round>:<i>` names the mutation a message answers; the round being measured
  // collects latencies, anything else (the warm-ups) only counts as seen.
  const sentAt = new Map<string, number>();
  let latencies: number[] = [];
  let received = 0;
  let current = '';
  let duplicates = 0;

  const connect = (t: WsTarget) => {
    const url = `http://localhost:${t.port}/graphql`;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${t.key}` };
    const post = async <T>(query: string, variables?: Record<string, unknown>): Promise<T> => {
      const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data?: T; errors?: unknown };
      if (!res.ok || body.errors || !body.data) throw new Error(`${t.name}: ${JSON.stringify(body)}`);
      return body.data;
    };
    const seen: Array<Set<string>> = [];
    const clients: Client[] = [];
    for (let k = 0; k < a.subscribers; k++) {
      const client = createClient({ url: `ws://localhost:${t.port}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${t.key}` }, retryAttempts: 0 });
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
            if (sent === undefined || !seq.startsWith(`${current}:`)) return;
            received += 1;
            latencies.push(now - sent);
          },
          error: (e) => process.stderr.write(`${t.name}: subscription error: ${JSON.stringify(e)}\n`),
          complete: () => undefined,
        },
      );
    }
    return {
      target: t,
      seen,
      clients,
      mutate: (id: string, seq: string) => post(MUTATION, { id, l: { seq } }).then(() => undefined),
      /** Every projection done with what was sent, then a moment's rest: each round starts alike. */
      settle: async () => {
        const settledAt = Date.now() + 30_000;
        while (!(await post<{ projections: Array<{ lag: number }> }>('{ projections { lag } }')).projections.every((p) => p.lag === 0)) {
          if (Date.now() > settledAt) throw new Error(`${t.name}: projections did not catch up`);
          await new Promise((r) => setTimeout(r, 50));
        }
        await new Promise((r) => setTimeout(r, 150));
      },
    };
  };
  type Target = ReturnType<typeof connect>;
  const targets = a.targets.map(connect);

  // Every subscriber live: a change to each machine whose subscribers have not all had a message
  // yet, again until every subscriber has had one (a subscription is live a moment after its
  // socket connects).
  for (const t of targets) {
    const prefix = `${t.target.name}-live-`;
    const live = (k: number) => [...t.seen[k]].some((seq) => seq.startsWith(prefix));
    for (let round = 0; ; round++) {
      const waiting = new Set(t.seen.map((_, k) => k).filter((k) => !live(k)).map((k) => a.machineIds[k % a.machineIds.length]));
      if (waiting.size === 0) break;
      if (round >= 30) throw new Error(`${t.target.name}: subscribers did not all go live`);
      // A few at a time, over a few connections. A thousand at once would open a thousand
      // connections, and each keeps its last request (and all that hangs off it) alive until its
      // keep-alive ends: a heap of garbage for the server's collector in the rounds measured next.
      const ids = [...waiting];
      const one = async () => {
        for (let id = ids.pop(); id !== undefined; id = ids.pop()) await t.mutate(id, `${prefix}${round}`);
      };
      await Promise.all(Array.from({ length: GO_LIVE_CONCURRENCY }, one));
      const deadline = Date.now() + 1_000;
      while (Date.now() < deadline && t.seen.some((_, k) => !live(k))) await new Promise((r) => setTimeout(r, 20));
    }
  }

  // Messages a round must deliver: subscriber k watches machine k mod machines, and mutation i
  // changes machine i mod machines.
  const expectedFor = (mutations: number) =>
    Array.from({ length: a.subscribers }, (_, k) => {
      const m = k % a.machineIds.length;
      return m < mutations ? Math.floor((mutations - 1 - m) / a.machineIds.length) + 1 : 0;
    }).reduce((x, y) => x + y, 0);

  /** One round at the fixed rate: every message timed, the disk sampled alongside. */
  const runRound = async (t: Target, round: string, mutations: number): Promise<WsRound> => {
    await t.settle();
    current = round;
    latencies = [];
    received = 0;
    let mutationErrors = 0;
    const inFlight: Promise<void>[] = [];
    const appendsBefore = t.target.metrics ? await appendHistogram(t.target.port) : null;
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const disk = probeDisk(a.diskProbeFile);
    const started = performance.now();
    for (let i = 0; i < mutations; i++) {
      const due = started + (i * 1000) / a.perSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const seq = `${round}:${i}`;
      sentAt.set(seq, performance.now());
      inFlight.push(t.mutate(a.machineIds[i % a.machineIds.length], seq).catch(() => void mutationErrors++));
    }
    const sendSeconds = (performance.now() - started) / 1000;
    await Promise.all(inFlight);
    loop.disable();
    const diskProbe = await disk.stop();
    const expected = expectedFor(mutations);
    const deadline = Date.now() + a.waitMs;
    while (received < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const appendsAfter = t.target.metrics ? await appendHistogram(t.target.port) : null;
    const sorted = [...latencies].sort((x, y) => x - y);
    return {
      target: t.target.name,
      expected,
      received,
      mutationErrors,
      sendSeconds,
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      max: sorted[sorted.length - 1] ?? NaN,
      generatorLoopDelayP99: loop.percentile(99) / 1e6,
      generatorLoopDelayMax: loop.max / 1e6,
      serverAppends:
        appendsBefore && appendsAfter
          ? {
              count: appendsAfter.count - appendsBefore.count,
              over25ms: appendsAfter.over25ms - appendsBefore.over25ms,
              over100ms: appendsAfter.over100ms - appendsBefore.over100ms,
            }
          : null,
      diskProbe,
    };
  };

  // A warm-up round per target at the measured pace, thrown away: the server's code paths are
  // compiled and its caches filled as in a server that has been running. Then the measured
  // rounds, in turns (A B, B A, A B, ...).
  for (const t of targets) await runRound(t, `${t.target.name}-warmup`, a.warmupMutations);
  const rounds: WsRound[] = [];
  const pooled = new Map<string, number[]>(targets.map((t) => [t.target.name, []]));
  for (let r = 0; r < a.rounds; r++) {
    for (const t of r % 2 ? [...targets].reverse() : targets) {
      rounds.push(await runRound(t, `${t.target.name}-${r}`, a.mutations));
      pooled.get(t.target.name)!.push(...latencies);
    }
  }
  await Promise.all(targets.flatMap((t) => t.clients.map((c) => c.dispose())));
  const summary = (xs: number[]) => {
    const sorted = xs.sort((x, y) => x - y);
    return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN };
  };
  report({ rounds, pooled: Object.fromEntries([...pooled].map(([name, xs]) => [name, summary(xs)])), duplicates } satisfies WsLoadResult);
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
