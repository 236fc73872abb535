import { randomBytes } from 'node:crypto';
import stringify from 'safe-stable-stringify';
import { EventStore } from '../event-store/event-store.port';
import { Change, Doc, POSITION_FIELD, ReadStore } from '../read-store/read-store.port';
import { Projection } from './projection';

export type DriftKind = 'MISSING_IN_LIVE' | 'MISSING_IN_REBUILD' | 'DIFFERENT';

export interface Drift {
  collection: string;
  id: string;
  kind: DriftKind;
  live: Doc | null;
  rebuilt: Doc | null;
}

export interface DriftReport {
  projection: string;
  /** The log position both sides were compared at. */
  checkpoint: number;
  ok: boolean;
  collections: Array<{ name: string; liveDocuments: number; rebuiltDocuments: number; differences: number }>;
  /** The first differences found (at most `limit`), in _id order per collection. */
  differences: Drift[];
}

const PAGE = 1000;

/** A document's content, for comparison: key order and the adapter's bookkeeping do not count. */
function content(doc: Doc): string | undefined {
  const { [POSITION_FIELD]: _pos, ...rest } = doc;
  return stringify(rest);
}

/**
 * A private rebuild of one projection into throw-away collections, to compare with the live
 * read model document by document: proof that the read model is what the log says.
 */
export class ShadowBuild {
  private checkpoint = 0;
  private readonly suffix = `verify_${randomBytes(4).toString('hex')}`;

  constructor(
    private readonly projection: Projection,
    private readonly events: EventStore,
    private readonly store: ReadStore,
  ) {}

  private physical(logical: string): string {
    return `${logical}_${this.suffix}`;
  }

  async prepare(): Promise<void> {
    for (const [logical, spec] of Object.entries(this.projection.collections)) await this.store.ensureIndexes(this.physical(logical), spec.indexes ?? []);
  }

  /** Applies the log after what is already applied, up to and including `position`. */
  async applyUpTo(position: number): Promise<void> {
    while (this.checkpoint < position) {
      const page = (await this.events.readAll({ from: this.checkpoint, maxCount: PAGE })).filter((e) => e.position <= position);
      if (page.length === 0) break;
      const changes: Change[] = [];
      for (const e of page) {
        const handler = this.projection.handlers[e.type];
        if (handler) for (const ch of handler(e)) changes.push({ ...ch, collection: this.physical(ch.collection) } as Change);
      }
      if (changes.length) await this.store.commit(changes, page[page.length - 1].position);
      this.checkpoint = page[page.length - 1].position;
    }
  }

  /** Compares every collection with the live generation's, a page at a time in _id order. */
  async compare(live: (logical: string) => string, checkpoint: number, limit: number): Promise<DriftReport> {
    const report: DriftReport = { projection: this.projection.name, checkpoint, ok: true, collections: [], differences: [] };
    for (const logical of Object.keys(this.projection.collections)) {
      const counts = { name: logical, liveDocuments: 0, rebuiltDocuments: 0, differences: 0 };
      const a = this.pages(live(logical));
      const b = this.pages(this.physical(logical));
      let x = await a.next();
      let y = await b.next();
      const note = (kind: DriftKind, l: Doc | null, r: Doc | null) => {
        counts.differences += 1;
        report.ok = false;
        if (report.differences.length < limit) report.differences.push({ collection: logical, id: (l ?? r)!._id, kind, live: l, rebuilt: r });
      };
      while (!x.done || !y.done) {
        if (!x.done && (y.done || x.value._id < y.value._id)) {
          counts.liveDocuments += 1;
          note('MISSING_IN_REBUILD', x.value, null);
          x = await a.next();
        } else if (!y.done && (x.done || y.value._id < x.value._id)) {
          counts.rebuiltDocuments += 1;
          note('MISSING_IN_LIVE', null, y.value);
          y = await b.next();
        } else {
          counts.liveDocuments += 1;
          counts.rebuiltDocuments += 1;
          if (content(x.value) !== content(y.value)) note('DIFFERENT', x.value as Doc, y.value as Doc);
          x = await a.next();
          y = await b.next();
        }
      }
      report.collections.push(counts);
    }
    return report;
  }

  async drop(): Promise<void> {
    for (const logical of Object.keys(this.projection.collections)) await this.store.dropCollection(this.physical(logical));
  }

  private async *pages(collection: string): AsyncGenerator<Doc> {
    let after: string | null = null;
    for (;;) {
      const page: Doc[] = await this.store.find(collection, after === null ? {} : { _id: { $gt: after } }, { sort: { _id: 1 }, limit: PAGE });
      yield* page;
      if (page.length < PAGE) return;
      after = page[page.length - 1]._id;
    }
  }
}
