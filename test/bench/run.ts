/**
 * `npm run bench [-- --quick] [-- --out results.json] [-- --only a,b] [-- --stores embedded|servers]`:
 * every scenario on the embedded stores, and again on EventStoreDB + MongoDB when both
 * EVENTSTORE_CONNECTION_STRING and MONGODB_URI are set, each against its baseline measured in
 * the same run on the same stores.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { NODE_FLAGS } from '../support/server-process';
import { printTable, Row } from './harness';
import { BenchStores, embeddedStores, serverStores } from './stores';
import { analyticsRebuildScenario, auditScenario } from './scenarios/audit';
import { queryThroughput, subscriptionFanout } from './scenarios/api';
import { drainScenario } from './scenarios/drains';
import { edgesScenario } from './scenarios/edges';
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
  const storesArg = args.includes('--stores') ? args[args.indexOf('--stores') + 1] : null;
  const started = Date.now();
  const rows: Row[] = [];
  const seconds: Record<string, number> = {};
  try {
    const runs: BenchStores[] = [];
    if (storesArg !== 'servers') runs.push(embeddedStores(dir));
    const servers = { events: process.env.EVENTSTORE_CONNECTION_STRING, mongodb: process.env.MONGODB_URI };
    if (servers.events && servers.mongodb) {
      if (storesArg !== 'embedded') runs.push(serverStores(dir, servers.events, servers.mongodb));
    } else if (storesArg === 'servers' || servers.events || servers.mongodb) {
      const message = 'the servers run needs both EVENTSTORE_CONNECTION_STRING and MONGODB_URI';
      if (storesArg === 'servers') throw new Error(message);
      process.stderr.write(`warning: ${message}; running the embedded stores only\n`);
    }
    // The servers answer before the embedded run starts, not after it (each check opens a place's stores as the app does).
    for (const stores of runs.filter((r) => r.kind === 'servers')) {
      const place = stores.place('preflight');
      await (await place.events()).close();
      await (await place.read()).close();
    }
    const all = { append: appendScenarios, commands: commandScenarios, rebuild: rebuildScenarios, latency: subscriptionFanout, query: queryThroughput, startup: startupScenario, reimage: reimageScenario, drain: drainScenario, audit: auditScenario, analytics: analyticsRebuildScenario, edges: edgesScenario };
    for (const stores of runs) {
      const ctx = { dir, quick, stores };
      for (const [name, scenario] of Object.entries(all)) {
        if (only && !only.split(',').includes(name)) continue;
        const began = Date.now();
        const key = stores.kind === 'embedded' ? name : `${stores.kind}:${name}`;
        // The targets are set for the embedded stores on one machine: on the servers, the rows are for information.
        rows.push(...(await scenario(ctx)).map((r) => ({ ...r, stores: stores.kind, pass: stores.kind === 'embedded' ? r.pass : null })));
        seconds[key] = (Date.now() - began) / 1000;
        process.stderr.write(`${key}: ${seconds[key].toFixed(1)} s\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // The in-process scenarios run on this process's runtime: `npm run bench` gives it npm start's flags.
  const flags = process.execArgv.join(' ');
  if (flags !== NODE_FLAGS.join(' ')) process.stderr.write(`warning: this process runs with Node flags "${flags}", npm start with "${NODE_FLAGS.join(' ')}"\n`);
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}${flags ? ` ${flags}` : ''}`;
  for (const kind of ['embedded', 'servers'] as const) {
    const these = rows.filter((r) => r.stores === kind);
    if (!these.length) continue;
    const on = kind === 'embedded' ? 'the embedded stores (SQLite)' : `EventStoreDB + MongoDB (the targets are set for the embedded stores; here they are for information)`;
    process.stdout.write(`\nDrydock benchmarks (${quick ? 'quick' : 'full'}) on ${on}, ${machine}\n\n${printTable(these)}\n`);
  }
  process.stdout.write(`\n${((Date.now() - started) / 1000).toFixed(1)} s in all\n`);
  if (out) writeFileSync(out, JSON.stringify({ machine, quick, at: new Date().toISOString(), seconds, rows }, null, 2));
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
