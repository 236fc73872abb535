import { MongoClient, MongoServerError, type ClientSession, type Db } from 'mongodb';
import type { IntegrityReport } from '../../storage/integrity';
import { Change, ConcurrentCommitError, Doc, Filter, FindOptions, IndexSpec, POSITION_FIELD, ReadStore, Update } from '../read-store.port';

/**
 * The production read store on MongoDB. A batch and its checkpoint commit in one
 * transaction (replica set). Where the server has no transactions, each document keeps
 * the position that last changed it and a change at or below it is skipped, so a
 * replayed batch is harmless.
 */
export class MongoReadStore implements ReadStore {
  readonly description: string;
  private readonly client: MongoClient;
  private readonly db: Db;
  private transactions: boolean | null = null;

  constructor(uri: string) {
    this.client = new MongoClient(uri);
    this.db = this.client.db();
    this.description = `MongoDB (${uri.replace(/\/\/[^@/]*@/, '//***@')})`;
  }

  async findOne(collection: string, filter: Filter): Promise<Doc | null> {
    return (await this.db.collection<Doc>(collection).findOne(filter, { projection: { [POSITION_FIELD]: 0 } })) as Doc | null;
  }

  async find(collection: string, filter: Filter, options: FindOptions = {}): Promise<Doc[]> {
    let cursor = this.db.collection<Doc>(collection).find(filter, { projection: { [POSITION_FIELD]: 0 } });
    if (options.sort) cursor = cursor.sort(options.sort);
    if (options.skip) cursor = cursor.skip(options.skip);
    if (options.limit !== undefined) cursor = cursor.limit(options.limit);
    return cursor.toArray() as Promise<Doc[]>;
  }

  async count(collection: string, filter: Filter): Promise<number> {
    return this.db.collection(collection).countDocuments(filter);
  }

  async commit(changes: readonly Change[], position?: number): Promise<void> {
    if (changes.length === 0) return;
    if (this.transactions !== false) {
      const session = this.client.startSession();
      try {
        await session.withTransaction(async () => {
          for (const ch of changes) await this.apply(ch, session);
        });
        this.transactions = true;
        return;
      } catch (err) {
        // Code 20 (IllegalOperation): a standalone server, which has no transactions.
        if (!(err instanceof MongoServerError && err.code === 20)) throw err;
        this.transactions = false;
      } finally {
        await session.endSession();
      }
    }
    for (const ch of changes) await this.apply(ch, undefined, position);
  }

  private async apply(ch: Change, session?: ClientSession, position?: number): Promise<void> {
    const coll = this.db.collection<Doc>(ch.collection);
    const guard = (filter: Filter): Filter =>
      position === undefined
        ? filter
        : { $and: [filter, { $or: [{ [POSITION_FIELD]: { $lt: position } }, { [POSITION_FIELD]: { $exists: false } }] }] };
    const stamp = (update: Update): Update =>
      position === undefined ? update : { ...update, $set: { ...(update.$set as object), [POSITION_FIELD]: position } };
    try {
      switch (ch.op) {
        case 'updateOne': {
          const r = await coll.updateOne(guard(ch.filter), stamp(ch.update), { upsert: ch.upsert, session });
          if (ch.mustMatch && r.matchedCount === 0) throw new ConcurrentCommitError(ch.collection, ch.filter);
          break;
        }
        case 'updateMany':
          await coll.updateMany(guard(ch.filter), stamp(ch.update), { session });
          break;
        case 'replaceOne':
          await coll.replaceOne(guard(ch.filter), position === undefined ? ch.doc : { ...ch.doc, [POSITION_FIELD]: position }, {
            upsert: ch.upsert,
            session,
          });
          break;
        case 'insertOne':
          await coll.insertOne(position === undefined ? { ...ch.doc } : { ...ch.doc, [POSITION_FIELD]: position }, { session });
          break;
        case 'deleteOne':
          await coll.deleteOne(ch.filter, { session });
          break;
        case 'deleteMany':
          await coll.deleteMany(ch.filter, { session });
          break;
        case 'expect': {
          // Written, not only read: two transactions that both touch the document conflict. Never position-guarded.
          const r = await coll.updateOne(ch.filter, { $inc: { fenced: 1 } } as Update, { session });
          if (r.matchedCount === 0) throw new ConcurrentCommitError(ch.collection, ch.filter);
          break;
        }
      }
    } catch (err) {
      // Without transactions, an upsert guarded out by a newer document collides on _id: already applied.
      if (position !== undefined && err instanceof MongoServerError && err.code === 11000 && ch.op !== 'insertOne') return;
      throw err;
    }
  }

  async ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void> {
    for (const ix of indexes) {
      if (ix.field === '_id') continue;
      await this.db.collection(collection).createIndex({ [ix.field]: 1 }, { unique: ix.unique ?? false });
    }
  }

  async dropCollection(collection: string): Promise<void> {
    await this.db.collection(collection).drop().catch((err) => {
      if (!(err instanceof MongoServerError && err.codeName === 'NamespaceNotFound')) throw err;
    });
  }

  async listCollections(): Promise<string[]> {
    const list = await this.db.listCollections({}, { nameOnly: true }).toArray();
    return list.map((c) => c.name).sort();
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }

  /** Nothing this app runs: MongoDB checks its own storage (see the details); the read models are checked against the log by verifyProjection. */
  async checkIntegrity(): Promise<IntegrityReport> {
    return {
      status: 'NOT_APPLICABLE',
      details: ["MongoDB checks its own storage (WiredTiger block checksums); a full check is the server's validate command, which this app does not run (it locks each collection). Each read model is compared with the log by verifyProjection."],
      milliseconds: 0,
    };
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
