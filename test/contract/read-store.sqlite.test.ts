import { join } from 'node:path';
import { SqliteReadStore } from '../../src/read-store/sqlite/sqlite-read-store';
import { tempDir } from '../support/temp';
import { readStoreContract } from './read-store.contract';

const dir = tempDir();
afterAll(() => dir.cleanup());

readStoreContract('sqlite', async () => new SqliteReadStore(join(dir.path, 'read.db')));

describe('sqlite read store, two connections on one file', () => {
  it('a repeated query sees another connection\'s commit at once', async () => {
    const file = join(dir.path, 'shared.db');
    const a = new SqliteReadStore(file);
    const b = new SqliteReadStore(file);
    await a.commit([{ op: 'insertOne', collection: 'machines', doc: { _id: 'm1', phase: 'READY' } }]);
    expect(await a.findOne('machines', { _id: 'm1' })).toEqual({ _id: 'm1', phase: 'READY' });
    expect(await a.count('machines', {})).toBe(1);
    await b.commit([
      { op: 'updateOne', collection: 'machines', filter: { _id: 'm1' }, update: { $set: { phase: 'MAINTENANCE' } } },
      { op: 'insertOne', collection: 'machines', doc: { _id: 'm2', phase: 'READY' } },
    ]);
    expect(await a.findOne('machines', { _id: 'm1' })).toEqual({ _id: 'm1', phase: 'MAINTENANCE' });
    expect(await a.count('machines', {})).toBe(2);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('sqlite read store indexes', () => {
  it('a query by _id or by an indexed field uses an index, not a scan', async () => {
    const store = new SqliteReadStore(join(dir.path, 'plan.db'));
    await store.ensureIndexes('machines', [{ field: 'phase' }]);
    expect(store.explain('machines', { _id: 'm1' })).toMatch(/SEARCH .* USING PRIMARY KEY/);
    expect(store.explain('machines', { phase: 'READY' })).toMatch(/SEARCH .* USING INDEX ix_machines_phase/);
    expect(store.explain('machines', { cores: 8 })).toMatch(/SCAN/);
    // The parts of an $and are used too: the next page of a scan is a key range, not a scan.
    expect(store.explain('machines', { $and: [{ cores: 8 }, { _id: { $gt: 'm1' } }] })).toMatch(/SEARCH .* USING PRIMARY KEY/);
    await store.close();
  });

  it('declared indexes survive a reopen', async () => {
    const file = join(dir.path, 'reopen.db');
    const first = new SqliteReadStore(file);
    await first.ensureIndexes('machines', [{ field: 'phase' }]);
    await first.close();
    const second = new SqliteReadStore(file);
    expect(second.explain('machines', { phase: 'READY' })).toMatch(/USING INDEX/);
    await second.close();
  });
});
