/**
 * SQLite's own words for a file that is not a whole database: SQLITE_CORRUPT (with its extended
 * codes, SQLITE_CORRUPT_INDEX and the like) and SQLITE_NOTADB. Read from the error's code, not its
 * class: the driver's error class is set once per process, when first loaded.
 */
const DAMAGE = /^SQLITE_(CORRUPT|NOTADB)/;

/** Whether a SQLite result code says the file is damaged. */
export function isDamageCode(code: unknown): boolean {
  return typeof code === 'string' && DAMAGE.test(code);
}

/** Whether an error from the driver says the file is damaged (by shape: an Error of another realm is one too). */
export function isSqliteDamage(err: unknown): err is { code: string; message: string } {
  return typeof err === 'object' && err !== null && 'code' in err && isDamageCode(err.code) && 'message' in err && typeof err.message === 'string';
}
