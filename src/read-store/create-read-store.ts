import { join } from 'node:path';
import type { AppConfig } from '../config/config';
import { logModeChanges, Warn } from '../storage/private-files';
import type { ReadStore } from './read-store.port';
import { bootLogger } from '../app/logging';
import { setAside, SqliteReadStore } from './sqlite/sqlite-read-store';

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
  const log = bootLogger(config);
  const open = () => {
    try {
      return new SqliteReadStore(file, { writerThread: config.read_store.writer_thread });
    } catch (err) {
      throw new Error(`cannot open the read store ${file} (storage.data_dir / DATA_DIR): ${(err as Error).message}`);
    }
  };
  // Read models are disposable, the log rebuilds them: a damaged read.db is set aside (kept for
  // a look) and a new one is built from the log, not served until it is (see ProjectionRunner).
  const setAsideBecause = (details: readonly string[]) => {
    const kept = setAside(file);
    log.error({ store: 'readStore', file, keptAs: kept, details: details.slice(0, 5) }, 'the read store is damaged: set aside; the read models are rebuilt from the event log');
    log.flush();
  };
  let store: SqliteReadStore;
  try {
    store = open();
  } catch (err) {
    if (!isDamage((err as Error).message)) throw err;
    setAsideBecause([(err as Error).message]);
    store = open();
  }
  logModeChanges(store.tightened, warn);
  const timeout = config.storage.integrity_check_timeout_ms;
  if (timeout === 0) return store;
  const report = await store.checkIntegrity(timeout);
  if (report.status === 'DAMAGED') {
    await store.close();
    setAsideBecause(report.details);
    return open();
  }
  if (report.status === 'OK') log.info({ store: 'readStore', file, milliseconds: report.milliseconds }, 'read store integrity check passed');
  else log.warn({ store: 'readStore', file, status: report.status, details: report.details }, 'read store integrity not checked at start-up: starting unchecked');
  log.flush();
  return store;
}

/** SQLite's words for a file that is not a whole database, as they reach the message. */
function isDamage(message: string): boolean {
  return /file is not a database|database disk image is malformed/i.test(message);
}
