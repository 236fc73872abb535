/** Benchmark plumbing: rounds with warm-up, median and spread, one table, JSON out. */
export interface Row {
  scenario: string;
  figure: number;
  unit: string;
  baseline: number | null;
  baselineName: string | null;
  ratio: number | null;
  target: string;
  pass: boolean | null;
  spread: string;
  detail?: Record<string, unknown>;
  /** Which stores the row ran on: `embedded` (SQLite) or `servers` (EventStoreDB + MongoDB). */
  stores?: 'embedded' | 'servers';
}

export interface Stats {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export async function measure(fn: () => Promise<number>, opts: { warmup: number; rounds: number }): Promise<Stats> {
  for (let i = 0; i < opts.warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < opts.rounds; i++) samples.push(await fn());
  return statsOf(samples);
}

/**
 * A figure and its baseline, round by round in turns (baseline, figure, baseline, ...): both meet
 * the same moments of a shared machine and disk, so a slow spell cannot fall on one side only.
 */
export async function measurePair(
  baseline: () => Promise<number>,
  figure: () => Promise<number>,
  opts: { warmup: number; rounds: number },
): Promise<{ baseline: Stats; figure: Stats }> {
  for (let i = 0; i < opts.warmup; i++) {
    await baseline();
    await figure();
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < opts.rounds; i++) {
    a.push(await baseline());
    b.push(await figure());
  }
  return { baseline: statsOf(a), figure: statsOf(b) };
}

export function statsOf(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], samples };
}

export function spreadOf(s: Stats): string {
  const pct = s.median ? ((s.max - s.min) / s.median) * 100 : 0;
  return `${fmt(s.min)}..${fmt(s.max)} (±${pct.toFixed(0)}%)`;
}

/** Runs `total` operations from `clients` concurrent loops; returns operations per second. */
export async function throughput(clients: number, total: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < total; i = next++) await op(i);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return total / seconds;
}

export function fmt(n: number): string {
  if (Number.isInteger(n) || n >= 100) return Math.round(n).toLocaleString('en-US');
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function printTable(rows: Row[]): string {
  const header = ['scenario', 'figure', 'baseline', 'ratio', 'target', 'result', 'spread (min..max)'];
  const lines = rows.map((r) => [
    r.scenario,
    `${fmt(r.figure)} ${r.unit}`,
    r.baseline === null ? '—' : `${fmt(r.baseline)} ${r.unit} (${r.baselineName})`,
    r.ratio === null ? '—' : r.ratio.toFixed(2),
    r.target,
    r.pass === null ? 'info' : r.pass ? 'PASS' : 'FAIL',
    r.spread,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [row(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(row)].join('\n');
}
