import type { Projection } from '../../src/messaging/projection';

/** A projection that shows any double or missed application: it counts and lists every position. */
export const countingProjection: Projection = {
  name: 'counting',
  version: 1,
  collections: { counters: { indexes: [{ field: 'kind' }] } },
  handlers: {
    Counted: (e) => [
      {
        op: 'updateOne',
        collection: 'counters',
        filter: { _id: e.stream },
        update: { $inc: { n: 1 }, $push: { positions: e.position }, $set: { kind: 'counter' } },
        upsert: true,
      },
    ],
  },
};

export function countingVersion(version: number): Projection {
  return { ...countingProjection, version };
}
