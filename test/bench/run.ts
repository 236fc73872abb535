/**
 * `npm run bench [-- --quick] [-- --out results.json]`: every scenario on the embedded
 * stores, each against its baseline measured in the same run.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { NODE_FLAGS } from '../support/server-process';
import { printTable, Row } from './harness';
import { analyticsRebuildScenario, auditScenario } from './scenarios/audit';
import { queryThroughput, subscriptionFanout } from './scenarios/api';
import { drainScenario } from './scenarios/drains';
import { reimageScenario } from './scenarios/operations';
import { startupScenario } from './scenarios/startup';
import { rebuildScenarios } from './scenarios/read-path';
import { appendScenarios, commandScenarios } from './scenarios/write-path';

async function main() {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const outIdx = args.indexOf('--out');
  const out = outIdx >= 0 ? args[outIdx + 1] : null;
  const dir = mkdtempSync(join(tmpdir(), 'drydock-bench-'));
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : null;
  const started = Date.now();
  const rows: Row[] = [];
  const seconds: Record<string, number> = {};
  const ctx = { dir, quick };
  try {
    const all = { append: appendScenarios, commands: commandScenarios, rebuild: rebuildScenarios, latency: subscriptionFanout, query: queryThroughput, startup: startupScenario, reimage: reimageScenario, drain: drainScenario, audit: auditScenario, analytics: analyticsRebuildScenario };
    for (const [name, scenario] of Object.entries(all)) {
      if (only && !only.split(',').includes(name)) continue;
      const began = Date.now();
      rows.push(...(await scenario(ctx)));
      seconds[name] = (Date.now() - began) / 1000;
      process.stderr.write(`${name}: ${seconds[name].toFixed(1)} s\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // The in-process scenarios run on this process's runtime: `npm run bench` gives it npm start's flags.
  const flags = process.execArgv.join(' ');
  if (flags !== NODE_FLAGS.join(' ')) process.stderr.write(`warning: this process runs with Node flags "${flags}", npm start with "${NODE_FLAGS.join(' ')}"\n`);
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}${flags ? ` ${flags}` : ''}`;
  process.stdout.write(`\nDrydock benchmarks (${quick ? 'quick' : 'full'}) on ${machine}\n\n${printTable(rows)}\n`);
  process.stdout.write(`\n${((Date.now() - started) / 1000).toFixed(1)} s in all\n`);
  if (out) writeFileSync(out, JSON.stringify({ machine, quick, at: new Date().toISOString(), seconds, rows }, null, 2));
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
