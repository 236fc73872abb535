/** HTTP load generator (its own process): autocannon against one URL with one POST body. */
import autocannon from 'autocannon';
import { childArgs, report } from './child';

export interface HttpLoadArgs {
  url: string;
  body: string;
  headers: Record<string, string>;
  connections: number;
  seconds: number;
}

export interface HttpLoadResult {
  requestsPerSecond: number;
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  p50: number;
  p99: number;
}

async function main() {
  const a = childArgs<HttpLoadArgs>();
  const r = await autocannon({ url: a.url, method: 'POST', body: a.body, headers: a.headers, connections: a.connections, duration: a.seconds });
  report({
    requestsPerSecond: r.requests.total / (r.duration || a.seconds),
    total: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    p50: r.latency.p50,
    p99: r.latency.p99,
  } satisfies HttpLoadResult);
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
