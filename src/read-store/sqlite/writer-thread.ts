import { parentPort, workerData } from 'node:worker_threads';
import { SqliteReadStore } from './sqlite-read-store';
import { toFailure, WriterReply, WriterRequest } from './writer-client';

/**
 * The writer thread of the embedded read store (see `WriterClient`): its own connection to the
 * file, applying requests strictly in the order they arrive.
 */
const { file } = workerData as { file: string };
const store = new SqliteReadStore(file);
const port = parentPort!;
let queue = Promise.resolve();

port.on('message', (msg: (WriterRequest | { op: 'close' }) & { id: number }) => {
  queue = queue.then(async () => {
    if (msg.op === 'close') {
      await store.close();
      port.close();
      return;
    }
    let reply: WriterReply;
    try {
      if (msg.op === 'commit') await store.commit(msg.changes);
      else if (msg.op === 'ensureIndexes') await store.ensureIndexes(msg.collection, msg.indexes);
      else if (msg.op === 'dropCollection') await store.dropCollection(msg.collection);
      else if (msg.op === 'checkpoint') store.checkpoint();
      else await store.ping();
      reply = { id: msg.id, ok: true };
    } catch (err) {
      reply = { id: msg.id, ok: false, failure: toFailure(err) };
    }
    port.postMessage(reply);
  });
});
