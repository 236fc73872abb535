/**
 * Where a benchmark's stores live. Every app, baseline and seeded log in a scenario gets a place
 * of its own, opened the way the app opens its stores (`createEventStore`, `createReadStore`):
 * - embedded: a directory of SQLite files;
 * - servers: a namespace on the EventStoreDB server (the scenarios' apps and baselines run side
 *   by side, and one server has one `$all`) and a database on the MongoDB server.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config';
import { createEventStore } from '../../src/event-store/create-event-store';
import type { EventStore } from '../../src/event-store/event-store.port';
import { createReadStore } from '../../src/read-store/create-read-store';
import type { ReadStore } from '../../src/read-store/read-store.port';

export interface Place {
  /** The settings of an app on this place: for `loadConfig` or a server process's environment. */
  readonly env: Record<string, string>;
  /** The place's event log, opened as the app opens it; `groupCommit` is the embedded log's setting. */
  events(options?: { groupCommit?: boolean }): Promise<EventStore>;
  /** The place's read store; `writerThread` is the embedded read store's setting. */
  read(options?: { writerThread?: boolean }): Promise<ReadStore>;
}

export interface BenchStores {
  readonly kind: 'embedded' | 'servers';
  /** A new, empty place, named after what it holds. */
  place(name: string): Place;
}

function placeOf(env: Record<string, string>): Place {
  return {
    env,
    events: (o = {}) => createEventStore(loadConfig({ ...env, ...(o.groupCommit === undefined ? {} : { EVENTSTORE_GROUP_COMMIT: String(o.groupCommit) }) })),
    read: (o = {}) => createReadStore(loadConfig({ ...env, ...(o.writerThread === undefined ? {} : { READ_STORE_WRITER_THREAD: String(o.writerThread) }) })),
  };
}

/** SQLite files, a directory per place under `dir`. */
export function embeddedStores(dir: string): BenchStores {
  return {
    kind: 'embedded',
    place(name) {
      const dataDir = join(dir, `${name}-${randomUUID()}`);
      mkdirSync(dataDir, { recursive: true });
      return placeOf({ DATA_DIR: dataDir });
    },
  };
}

/**
 * One EventStoreDB server and one MongoDB server: a namespace and a database per place, named
 * after the run and the place. The run leaves them behind (EventStoreDB does not give back what
 * it wrote), so point it at servers kept for benchmarking.
 */
export function serverStores(dir: string, eventStore: string, mongodbUri: string): BenchStores {
  const run = randomUUID().slice(0, 8);
  let n = 0;
  return {
    kind: 'servers',
    place(name) {
      const id = `bench_${run}_${n++}_${name.replace(/[^A-Za-z0-9]/g, '').slice(0, 24)}`;
      const dataDir = join(dir, id); // the admin key file and the simulated providers' files
      mkdirSync(dataDir, { recursive: true });
      return placeOf({ DATA_DIR: dataDir, EVENTSTORE_CONNECTION_STRING: eventStore, EVENTSTORE_NAMESPACE: id, MONGODB_URI: withDatabase(mongodbUri, id) });
    },
  };
}

/** The MongoDB URI with its database (the path) set to `db`, hosts and options kept. */
export function withDatabase(uri: string, db: string): string {
  const m = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?(\?.*)?$/.exec(uri);
  if (!m) throw new Error(`MONGODB_URI is not a mongodb:// URI: ${uri}`);
  return `${m[1]}/${db}${m[2] ?? ''}`;
}
