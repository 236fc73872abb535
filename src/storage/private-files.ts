import { chmodSync, closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Drydock's data on disk is its owner's alone: the event log (every event, and the hashes of API
 * keys), the read models, the development admin key. Directories are 0700 and files 0600, made so
 * when created and tightened at start when an earlier run, or a person, left them looser. Bits
 * already stricter than these are kept.
 *
 * A file of the data directory is never reached through a symbolic link: whoever could write the
 * directory could point one at a file elsewhere, and Drydock would tighten, read or write that file
 * instead. A link (dangling or not), or anything else that is not a regular file, where one of
 * these files belongs is refused with `UnsafeDataPathError` naming it; files are opened with
 * O_NOFOLLOW, and made with O_EXCL where they must be new. The data directory itself may be a path
 * through links: it is the operator's to choose.
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

/** The `code` of a failed system call (ENOENT, ELOOP, ...), read by shape: an Error of another realm has one too. */
const errno = (err: unknown): unknown => (typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined);

/** A path where a data file belongs holds something else: a symbolic link, a directory, a device. */
export class UnsafeDataPathError extends Error {
  constructor(
    readonly path: string,
    readonly found: string,
  ) {
    super(
      `refusing to use ${path}: it is ${found}, not a regular file. Drydock never follows a symbolic link for a file of its data directory ` +
        '(whoever can write the directory could point it at another file). Remove it, check who made it, and keep DATA_DIR its owner\'s alone (0700)',
    );
    this.name = 'UnsafeDataPathError';
  }
}

/** What is at `path` (not following a link), for the error that refuses it. */
function describe(path: string): string {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return 'gone';
  if (st.isSymbolicLink()) {
    let target = '?';
    try {
      target = readlinkSync(path);
    } catch {
      // Described without its target.
    }
    return `a symbolic link to ${target}`;
  }
  return st.isDirectory() ? 'a directory' : 'not a regular file';
}

/**
 * Opens a data file without following a link: a link in its place (ELOOP) or anything but a
 * regular file is an `UnsafeDataPathError`. Other failures (ENOENT without O_CREAT, EEXIST with
 * O_EXCL) are thrown as they are.
 */
function openDataFile(path: string, flags: number, mode = PRIVATE_FILE_MODE): number {
  let fd: number;
  try {
    fd = openSync(path, flags | constants.O_NOFOLLOW, mode);
  } catch (err) {
    const code = errno(err);
    if (code === 'ELOOP' || code === 'EISDIR' || (code === 'EEXIST' && lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink())) throw new UnsafeDataPathError(path, describe(path));
    throw err;
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new UnsafeDataPathError(path, describe(path));
  }
  return fd;
}

/** An open file descriptor of a data file, read and written, never through a link (see `openDataFile`); the caller closes it. */
export function openPrivateFile(path: string): number {
  return openDataFile(path, constants.O_RDWR);
}

/** A data file's text, or null when there is none; a link in its place is refused. */
export function readPrivateFile(path: string): string | null {
  let fd: number;
  try {
    fd = openDataFile(path, constants.O_RDONLY);
  } catch (err) {
    if (errno(err) === 'ENOENT') return null;
    throw err;
  }
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a data file (0600), never through a link: `create` makes a new one and fails if anything
 * is there (O_EXCL); `replace` makes it or replaces its content.
 */
export function writePrivateFile(path: string, text: string, how: 'create' | 'replace'): void {
  const flags = constants.O_WRONLY | constants.O_CREAT | (how === 'create' ? constants.O_EXCL : constants.O_TRUNC);
  const fd = openDataFile(path, flags);
  try {
    writeFileSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

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

/**
 * An existing file tightened to 0600; nothing for a path where nothing is. A link there (dangling
 * or not), or anything but a regular file, is refused: its target is never changed.
 */
export function privateFile(file: string): ModeChange[] {
  const changes: ModeChange[] = [];
  const st = lstatSync(file, { throwIfNoEntry: false });
  if (!st) return changes;
  if (!st.isFile()) throw new UnsafeDataPathError(file, describe(file));
  tighten(file, PRIVATE_FILE_MODE, changes);
  return changes;
}

/**
 * An SQLite database, before SQLite opens it: its directory private (first, so that no one else
 * can put a link there meanwhile), the file made (empty, 0600) if missing, since SQLite gives the
 * -wal and -shm files it creates the mode of the database file, and the file and any -wal or -shm
 * an earlier run left tightened to 0600. A link in place of any of them is refused.
 */
export function privateSqliteFile(file: string): ModeChange[] {
  const changes = privateDirectory(dirname(file));
  closeSync(openDataFile(file, constants.O_RDWR | constants.O_CREAT));
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
