import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Drydock's data on disk is its owner's alone: the event log (every event, and the hashes of API
 * keys), the read models, the development admin key. Directories are 0700 and files 0600, made so
 * when created and tightened at start when an earlier run, or a person, left them looser. Bits
 * already stricter than these are kept.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** A mode tightened (or that could not be), for the log line that says so. */
export interface ModeChange {
  path: string;
  from: string;
  to: string;
  error?: string;
}

/** Where a warning goes (a logger's `warn`). */
export type Warn = (details: Record<string, unknown>, message: string) => void;

const octal = (mode: number) => `0${mode.toString(8)}`;

function tighten(path: string, mode: number, changes: ModeChange[]): void {
  const current = statSync(path).mode & 0o777;
  const wanted = current & mode;
  if (wanted === current) return;
  try {
    chmodSync(path, wanted);
    changes.push({ path, from: octal(current), to: octal(wanted) });
  } catch (err) {
    changes.push({ path, from: octal(current), to: octal(wanted), error: (err as Error).message });
  }
}

/** A directory, made 0700 if missing (with any missing parents), else tightened to 0700. */
export function privateDirectory(dir: string): ModeChange[] {
  const changes: ModeChange[] = [];
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  tighten(dir, PRIVATE_DIR_MODE, changes);
  return changes;
}

/** An existing file tightened to 0600; nothing for a file that does not exist. */
export function privateFile(file: string): ModeChange[] {
  const changes: ModeChange[] = [];
  if (existsSync(file)) tighten(file, PRIVATE_FILE_MODE, changes);
  return changes;
}

/**
 * An SQLite database, before SQLite opens it: its directory private, the file made (empty, 0600)
 * if missing, since SQLite gives the -wal and -shm files it creates the mode of the database file,
 * and the file and any -wal or -shm an earlier run left tightened to 0600.
 */
export function privateSqliteFile(file: string): ModeChange[] {
  const changes = privateDirectory(dirname(file));
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) changes.push(...privateFile(f));
  return changes;
}

/** The one log line for changed modes (a warning: something had left the data readable to others). */
export function logModeChanges(changes: readonly ModeChange[], warn: Warn): void {
  const done = changes.filter((c) => !c.error);
  const failed = changes.filter((c) => c.error);
  if (done.length) warn({ changes: done }, `tightened the modes of ${done.map((c) => c.path).join(', ')} (data is its owner's alone: directories 0700, files 0600)`);
  if (failed.length) warn({ changes: failed }, `could not tighten the modes of ${failed.map((c) => c.path).join(', ')}: make them 0700 (directories) and 0600 (files)`);
}
