import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { quickCheck } from '../../src/storage/sqlite/quick-check';
import { damageMiddle } from '../support/damage';
import { tempDir } from '../support/temp';

const THREAD = join(__dirname, '../../dist/src/storage/sqlite/quick-check-thread.js');
const meta = { actor: 'a', correlationId: 'c', causationId: null, requestId: null, occurredAt: new Date().toISOString(), schemaVersion: 1 };

describe('quick_check of a SQLite file, bounded in time', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());
  let file: string;
  beforeAll(async () => {
    file = join(dir.path, 'events.db');
    const store = new SqliteEventStore(file);
    await Promise.all(Array.from({ length: 1000 }, (_, m) => store.append(`s-${m}`, Array.from({ length: 8 }, () => ({ id: randomUUID(), type: 'X', data: { m }, metadata: meta })), 'no_stream')));
    await store.close();
  });

  it('OK on a whole file, read while another connection writes to it', async () => {
    const store = new SqliteEventStore(file);
    const writing = Promise.all(Array.from({ length: 50 }, (_, i) => store.append(`w-${i}`, [{ id: randomUUID(), type: 'X', data: {}, metadata: meta }], 'no_stream')));
    const report = await quickCheck(file, 10_000, THREAD);
    await writing;
    await store.close();
    expect(report).toEqual({ status: 'OK', details: [], milliseconds: expect.any(Number) });
  });

  it('TIMED_OUT when it cannot finish within its bound, and the caller is answered at the bound', async () => {
    const started = Date.now();
    const report = await quickCheck(file, 1, THREAD);
    expect(report.status).toBe('TIMED_OUT');
    expect(report.details[0]).toMatch(/did not finish within 1 ms: not checked/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('FAILED, not DAMAGED, when there is no file to check', async () => {
    const report = await quickCheck(join(dir.path, 'missing.db'), 10_000, THREAD);
    expect(report.status).toBe('FAILED');
    expect(report.details[0]).toMatch(/SQLITE_CANTOPEN/);
  });

  it('DAMAGED, with its findings one a line, when there is garbage inside the file', async () => {
    damageMiddle(file);
    const report = await quickCheck(file, 10_000, THREAD);
    expect(report.status).toBe('DAMAGED');
    expect(report.details.length).toBeGreaterThan(0);
    expect(report.details.length).toBeLessThanOrEqual(20);
    expect(report.details[0]).toMatch(/^Tree \d+ page \d+/);
  });
});
