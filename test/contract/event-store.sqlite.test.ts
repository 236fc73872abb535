import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { eventStoreContract } from './event-store.contract';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function open(groupCommit: boolean) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drydock-es-'));
    dirs.push(dir);
    return new SqliteEventStore(join(dir, 'events.db'), { groupCommit });
  };
}

eventStoreContract('sqlite (group commit)', open(true));
eventStoreContract('sqlite (one transaction per append)', open(false));
