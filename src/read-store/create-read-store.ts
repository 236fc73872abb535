import { join } from 'node:path';
import type { AppConfig } from '../config/config';
import { logModeChanges, Warn } from '../storage/private-files';
import type { ReadStore } from './read-store.port';
import { SqliteReadStore } from './sqlite/sqlite-read-store';

/**
 * MongoDB when a URI is configured; otherwise the embedded SQLite read store (file modes it had to
 * tighten go to `warn`). The MongoDB adapter (and its driver) is loaded only when configured: the
 * embedded default does not pay its start-up time.
 */
export async function createReadStore(config: AppConfig, warn: Warn = () => undefined): Promise<ReadStore> {
  const uri = config.read_store.mongodb_uri;
  if (uri) {
    const { MongoReadStore } = await import('./mongo/mongo-read-store');
    const store = new MongoReadStore(uri);
    try {
      await store.ping();
    } catch (err) {
      await store.close().catch(() => undefined);
      throw new Error(`MongoDB is unreachable at read_store.mongodb_uri (MONGODB_URI): ${(err as Error).message}`);
    }
    return store;
  }
  const file = join(config.storage.data_dir, 'read.db');
  let store: SqliteReadStore;
  try {
    store = new SqliteReadStore(file, { writerThread: config.read_store.writer_thread });
  } catch (err) {
    throw new Error(`cannot open the read store ${file} (storage.data_dir / DATA_DIR): ${(err as Error).message}`);
  }
  logModeChanges(store.tightened, warn);
  return store;
}
