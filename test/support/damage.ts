import { closeSync, openSync, statSync, writeSync } from 'node:fs';

/**
 * Garbage inside a SQLite file, as a failing disk leaves it: the cell pointers of a run of pages
 * from the middle of the file are overwritten. The file still opens, its first and last pages
 * read, and PRAGMA quick_check finds it; a read that crosses those pages fails.
 */
export function damageMiddle(file: string, pageSize = 4096): void {
  const pages = Math.floor(statSync(file).size / pageSize);
  if (pages < 40) throw new Error(`${file} is too small (${pages} pages) to damage its middle alone`);
  const fd = openSync(file, 'r+');
  try {
    for (let p = Math.floor(pages * 0.4); p < Math.floor(pages * 0.45); p++) writeSync(fd, Buffer.alloc(256, 0x5a), 0, 256, p * pageSize + 8);
  } finally {
    closeSync(fd);
  }
}
