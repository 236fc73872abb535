/**
 * HTTP load generator (its own process): autocannon runs one after another, each against one URL
 * with one POST body. One process for all of a scenario's runs: starting one costs about 0.7 s.
 */
import autocannon from 'autocannon';
import { childArgs, report } from './child';

export interface HttpLoadTarget {
  url: string;
  headers: Record<string, string>;
}

export interface HttpLoadArgs {
  /** In the order they run. */
  runs: HttpLoadTarget[];
  body: string;
  connections: number;
  seconds: number;
}

export interface HttpLoadResult {
  url: string;
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
  const results: HttpLoadResult[] = [];
  for (const run of a.runs) {
    const r = await autocannon({ url: run.url, method: 'POST', body: a.body, headers: run.headers, connections: a.connections, duration: a.seconds });
    results.push({
      url: run.url,
      requestsPerSecond: r.requests.total / (r.duration || a.seconds),
      total: r.requests.total,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
      p50: r.latency.p50,
      p99: r.latency.p99,
    });
  }
  report(results);
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
