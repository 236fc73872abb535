import 'reflect-metadata';
import { createInterface } from 'node:readline';
import { createApp, listen } from '../../src/app/create-app';
import { loadConfig } from '../../src/config/config';
import { EVENT_STORE } from '../../src/event-store/event-store.port';
import { READ_STORE } from '../../src/read-store/read-store.port';

/**
 * The app as `npm start` runs it (built, configured from the environment), whose stores can be
 * capped from a test: a line `cap N` on stdin lets the event log grow by N pages more on the app's
 * own connection (SQLite's max_page_count), so its next larger write fails with a real
 * SQLITE_FULL; `cap-read N` does the same to the read store, whose writes must then be on the
 * app's connection (READ_STORE_WRITER_THREAD=false). Answers `capped` on stdout.
 */
type Pragma = { pragma(sql: string, options?: { simple: boolean }): unknown };

void (async () => {
  const config = loadConfig();
  const app = await createApp(config);
  await listen(app, config);
  // The adapters keep their connection private: a test reaches past the port on purpose, here only.
  const dbs = { cap: (app.get(EVENT_STORE) as unknown as { db: Pragma }).db, 'cap-read': (app.get(READ_STORE) as unknown as { db: Pragma }).db };
  createInterface({ input: process.stdin }).on('line', (line) => {
    const m = /^(cap|cap-read) (\d+)$/.exec(line.trim());
    if (!m) return;
    const db = m[1] === 'cap' ? dbs.cap : dbs['cap-read'];
    db.pragma(`max_page_count = ${(db.pragma('page_count', { simple: true }) as number) + Number(m[2])}`);
    process.stdout.write('capped\n');
  });
})().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
