import { join } from 'node:path';
import type { AppConfig } from '../config/config';
import { logModeChanges, Warn } from '../storage/private-files';
import type { EventStore } from './event-store.port';
import { bootLogger } from '../app/logging';
import { SqliteEventStore } from './sqlite/sqlite-event-store';

/**
 * EventStoreDB when a connection string is configured; otherwise the embedded SQLite log (file
 * modes it had to tighten go to `warn`). The EventStoreDB adapter (and its gRPC client) is loaded
 * only when configured: the embedded default does not pay its start-up time.
 */
export async function createEventStore(config: AppConfig, warn: Warn = () => undefined): Promise<EventStore> {
  const cs = config.event_store.connection_string;
  if (cs) {
    const { EsdbEventStore } = await import('./esdb/esdb-event-store');
    const store = new EsdbEventStore(cs, { namespace: config.event_store.namespace });
    try {
      await withTimeout(store.ping(), 10_000);
    } catch (err) {
      await store.close().catch(() => undefined);
      throw new Error(
        `EventStoreDB is unreachable at event_store.connection_string (EVENTSTORE_CONNECTION_STRING): ${(err as Error).message}`,
      );
    }
    return store;
  }
  const file = join(config.storage.data_dir, 'events.db');
  let store: SqliteEventStore;
  try {
    store = new SqliteEventStore(file, { groupCommit: config.event_store.group_commit });
  } catch (err) {
    throw new Error(
      `cannot open the event log ${file} (storage.data_dir / DATA_DIR): ${(err as Error).message}`,
    );
  }
  logModeChanges(store.tightened, warn);
  const timeout = config.storage.integrity_check_timeout_ms;
  if (timeout === 0) return store;
  // The log is the only source of truth: a damaged one is not served (it answered INTERNAL on
  // whatever read crossed the damage). Bounded: a check that takes too long is said, not waited for.
  const report = await store.checkIntegrity(timeout);
  if (report.status === 'DAMAGED') {
    await store.close().catch(() => undefined);
    throw new Error(
      `the event log ${file} failed its integrity check (PRAGMA quick_check): ${report.details.slice(0, 5).join('; ')}. ` +
        'Restore it from a backup (the read models are rebuilt from it at the next start)',
    );
  }
  const log = bootLogger(config);
  if (report.status === 'OK') log.info({ store: 'eventStore', file, milliseconds: report.milliseconds }, 'event log integrity check passed');
  else log.warn({ store: 'eventStore', file, status: report.status, details: report.details }, 'event log integrity not checked at start-up: starting unchecked');
  log.flush();
  return store;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref()),
  ]);
}
