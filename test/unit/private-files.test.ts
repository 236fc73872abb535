import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { SqliteReadStore } from '../../src/read-store/sqlite/sqlite-read-store';
import { privateDirectory, privateFile, privateSqliteFile, readPrivateFile, UnsafeDataPathError, writePrivateFile } from '../../src/storage/private-files';
import { tempDir } from '../support/temp';

const modeOf = (path: string) => `0${(statSync(path).mode & 0o777).toString(8)}`;

describe('private files', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('the SQLite stores make their directory 0700 and their files, -wal and -shm included, 0600', async () => {
    const data = join(dir.path, 'a', 'b');
    const events = new SqliteEventStore(join(data, 'events.db'));
    const read = new SqliteReadStore(join(data, 'read.db'));
    await read.commit([{ op: 'insertOne', collection: 'things', doc: { _id: 't1' } }]);
    try {
      expect([modeOf(join(dir.path, 'a')), modeOf(data)]).toEqual(['0700', '0700']);
      for (const f of ['events.db', 'events.db-wal', 'events.db-shm', 'read.db', 'read.db-wal', 'read.db-shm']) expect(`${f} ${modeOf(join(data, f))}`).toBe(`${f} 0600`);
      expect(events.tightened).toEqual([]);
    } finally {
      await events.close();
      await read.close();
    }
  });

  it('a looser mode is tightened and reported; a stricter one is kept', () => {
    const loose = join(dir.path, 'loose');
    writeFileSync(loose, 'x', { mode: 0o664 });
    chmodSync(loose, 0o664);
    expect(privateFile(loose)).toEqual([{ path: loose, from: '0664', to: '0600' }]);
    expect(modeOf(loose)).toBe('0600');
    const strict = join(dir.path, 'strict');
    writeFileSync(strict, 'x', { mode: 0o400 });
    expect(privateFile(strict)).toEqual([]);
    expect(modeOf(strict)).toBe('0400');
    expect(privateFile(join(dir.path, 'missing'))).toEqual([]);
    chmodSync(dir.path, 0o751);
    expect(privateDirectory(dir.path)).toEqual([{ path: dir.path, from: '0751', to: '0700' }]);
  });

  it('a link where a data file belongs is refused by every way in, and what it points at is neither changed nor made', () => {
    const data = join(dir.path, 'links');
    mkdirSync(data);
    const target = join(dir.path, 'target');
    writeFileSync(target, 'elsewhere');
    chmodSync(target, 0o644);
    symlinkSync(target, join(data, 'file'));
    const nowhere = join(dir.path, 'nowhere');
    symlinkSync(nowhere, join(data, 'dangling'));
    for (const name of ['file', 'dangling']) {
      const path = join(data, name);
      for (const use of [() => privateFile(path), () => readPrivateFile(path), () => writePrivateFile(path, 'x', 'create'), () => writePrivateFile(path, 'x', 'replace'), () => privateSqliteFile(path)]) {
        expect(use).toThrow(UnsafeDataPathError);
      }
      expect(() => privateFile(path)).toThrow(`refusing to use ${path}: it is a symbolic link to ${name === 'file' ? target : nowhere}`);
    }
    expect([readFileSync(target, 'utf8'), `0${(statSync(target).mode & 0o777).toString(8)}`]).toEqual(['elsewhere', '0644']);
    expect(existsSync(nowhere)).toBe(false);
    // A directory in a file's place is refused too; a plain file is read and written.
    mkdirSync(join(data, 'dir'));
    expect(() => readPrivateFile(join(data, 'dir'))).toThrow(UnsafeDataPathError);
    expect(readPrivateFile(join(data, 'absent'))).toBeNull();
    writePrivateFile(join(data, 'new'), 'one', 'create');
    expect(() => writePrivateFile(join(data, 'new'), 'two', 'create')).toThrow(/EEXIST/);
    writePrivateFile(join(data, 'new'), 'two', 'replace');
    expect([readPrivateFile(join(data, 'new')), `0${(statSync(join(data, 'new')).mode & 0o777).toString(8)}`]).toEqual(['two', '0600']);
  });
});

