import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import type { QuickCheckReply } from './quick-check';

/** The thread of `quickCheck`: a read-only connection of its own, one `PRAGMA quick_check`, the rows posted back. */
const { file, max } = workerData as { file: string; max: number };
let reply: QuickCheckReply;
try {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    reply = { rows: (db.pragma(`quick_check(${Number(max)})`) as Array<{ quick_check: string }>).map((r) => r.quick_check) };
  } finally {
    db.close();
  }
} catch (err) {
  const code = (err as { code?: unknown }).code;
  reply = { error: `${typeof code === 'string' ? code : 'error'}: ${(err as Error).message}`, code: typeof code === 'string' ? code : null };
}
parentPort!.postMessage(reply);
