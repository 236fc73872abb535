/**
 * A child process for durability tests: appends batches of 3 events to fresh streams
 * from 10 concurrent writers, printing `ack <stream>` only after each append resolved.
 * Usage: node append-worker.js <events.db> [once <stream>]
 */
import { randomUUID } from 'node:crypto';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';

const [file, mode, onlyStream] = process.argv.slice(2);
const store = new SqliteEventStore(file);

function batch() {
  const metadata = {
    actor: 'worker',
    correlationId: randomUUID(),
    causationId: null,
    requestId: null,
    occurredAt: new Date().toISOString(),
    schemaVersion: 1,
  };
  return [0, 1, 2].map((i) => ({ id: randomUUID(), type: `Step${i}`, data: { i, pad: 'x'.repeat(200) }, metadata }));
}

async function main() {
  if (mode === 'once') {
    await store.append(onlyStream, batch(), 'any');
    process.stdout.write(`ack ${onlyStream}\n`);
    await store.close();
    return;
  }
  let n = 0;
  const writer = async (w: number) => {
    for (;;) {
      const stream = `w${w}-${n++}`;
      await store.append(stream, batch(), 'no_stream');
      process.stdout.write(`ack ${stream}\n`);
    }
  };
  await Promise.all(Array.from({ length: 10 }, (_, w) => writer(w)));
}

void main();
