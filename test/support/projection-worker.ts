/**
 * A child process for crash tests: runs the counting projection over a log, printing its
 * checkpoint after each commit, until killed.
 * Usage: node projection-worker.js <dataDir> live|rebuild
 */
import { join } from 'node:path';
import { Subject } from 'rxjs';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { ProjectionRunner } from '../../src/messaging/projection-runner';
import { SqliteReadStore } from '../../src/read-store/sqlite/sqlite-read-store';
import { countingProjection } from './counting-projection';

const [dir, mode] = process.argv.slice(2);
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function main() {
  const events = new SqliteEventStore(join(dir, 'events.db'));
  const read = new SqliteReadStore(join(dir, 'read.db'));
  const runner = new ProjectionRunner(countingProjection, events, read, { batchSize: 200, maxWaitMs: 0 }, quiet, new Subject());
  await runner.start();
  if (mode === 'rebuild') {
    await runner.beginRebuild();
    runner.rebuildProgress$.subscribe((p) => process.stdout.write(`rebuild ${p.checkpoint}\n`));
  } else {
    setInterval(() => process.stdout.write(`live ${runner.checkpoint}\n`), 5).unref();
  }
  setInterval(() => undefined, 1000);
}

void main();
