import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import type { IntegrityReport } from '../integrity';
import { isDamageCode } from './damage';

/** At most this many findings are reported (SQLite's `quick_check(N)`). */
const MAX_FINDINGS = 20;

/** What the check's thread posts back. */
export type QuickCheckReply = { rows: string[] } | { error: string; code: string | null };


/**
 * `PRAGMA quick_check` on a SQLite file, bounded in time: it runs on a thread of its own with a
 * read-only connection of its own (a snapshot: commits made meanwhile neither disturb it nor are
 * checked), so the event loop goes on, and a check that outlasts `timeoutMs` is answered
 * TIMED_OUT and its thread stopped. A file that cannot even be opened as a database is DAMAGED;
 * any other failure to run the check (no such file, no permission) is FAILED.
 * Used by both SQLite adapters; `script` is the compiled thread beside this file unless given.
 */
export function quickCheck(file: string, timeoutMs: number, script = join(__dirname, 'quick-check-thread.js')): Promise<IntegrityReport> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise<IntegrityReport>((resolve) => {
    const worker = new Worker(script, { workerData: { file, max: MAX_FINDINGS } });
    let settled = false;
    const done = (report: IntegrityReport) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve(report);
    };
    const timer = setTimeout(
      () => done({ status: 'TIMED_OUT', details: [`quick_check of ${file} did not finish within ${timeoutMs} ms: not checked`], milliseconds: elapsed() }),
      timeoutMs,
    );
    worker.once('message', (reply: QuickCheckReply) => {
      if ('error' in reply) return done({ status: isDamageCode(reply.code) ? 'DAMAGED' : 'FAILED', details: [reply.error], milliseconds: elapsed() });
      const ok = reply.rows.length === 1 && reply.rows[0] === 'ok';
      // One finding a line (SQLite may put several in one row).
      const findings = reply.rows.flatMap((r) => r.split('\n')).filter((l) => l && !l.startsWith('*** in database'));
      done({ status: ok ? 'OK' : 'DAMAGED', details: ok ? [] : findings.slice(0, MAX_FINDINGS), milliseconds: elapsed() });
    });
    worker.once('error', (err) => done({ status: 'FAILED', details: [`the check could not run: ${err.message}`], milliseconds: elapsed() }));
  });
}
