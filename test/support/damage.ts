import Database from 'better-sqlite3';
import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';

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

/**
 * One page of a table's rows made unreadable, as a bad sector leaves it: the middle leaf of the
 * table's b-tree gets a page type SQLite does not know. The file opens, its schema and the rows
 * before and after read, and any read that reaches the page fails with SQLITE_CORRUPT ("database
 * disk image is malformed"). The file must hold its rows itself (no WAL left: closed cleanly).
 * `table` is a GLOB pattern (a read model's table carries its generation: `rm_machines_g*`).
 */
export function damageLeaf(file: string, table = 'events'): void {
  const { leaves, pageSize } = leafPages(file, table);
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.from([0]), 0, 1, (leaves[Math.floor(leaves.length / 2)] - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
}

/**
 * Two leaves of a table's b-tree trade places (a misdirected write): each page is whole, so SQLite
 * reads both without complaint, but a scan of the table meets their rows out of key order.
 */
export function swapLeaves(file: string, table = 'events'): void {
  const { leaves, pageSize } = leafPages(file, table);
  const [a, b] = [leaves[Math.floor(leaves.length / 3)], leaves[Math.floor((2 * leaves.length) / 3)]].map((p) => (p - 1) * pageSize);
  const fd = openSync(file, 'r+');
  try {
    const [pageA, pageB] = [Buffer.alloc(pageSize), Buffer.alloc(pageSize)];
    readSync(fd, pageA, 0, pageSize, a);
    readSync(fd, pageB, 0, pageSize, b);
    writeSync(fd, pageB, 0, pageSize, a);
    writeSync(fd, pageA, 0, pageSize, b);
  } finally {
    closeSync(fd);
  }
}

/** The leaf pages of the tables named by a GLOB pattern, in key order, and the page size. */
function leafPages(file: string, table: string): { leaves: number[]; pageSize: number } {
  const db = new Database(file, { readonly: true });
  try {
    const leaves = db.prepare<[string], { pageno: number }>("SELECT pageno FROM dbstat WHERE name GLOB ? AND pagetype = 'leaf' ORDER BY name, path").all(table).map((r) => r.pageno);
    if (leaves.length < 3) throw new Error(`${file} has too few pages of ${table} (${leaves.length}) to damage one in the middle`);
    return { leaves, pageSize: db.pragma('page_size', { simple: true }) as number };
  } finally {
    db.close();
  }
}
