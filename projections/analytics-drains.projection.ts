import type { DrainEvent } from '../src/drains/drain.decider';
import type { Projection } from '../src/messaging/projection';

type Data<T extends DrainEvent['type']> = Extract<DrainEvent, { type: T }>['data'];

/** `analytics_drains`: one document per drain or undrain: node, mode, when it started and ended, and how. */
export const analyticsDrainsProjection: Projection = {
  name: 'analytics_drains',
  version: 1,
  collections: { analytics_drains: { indexes: [{ field: 'startedAt' }, { field: 'node' }] } },
  handlers: {
    DrainStarted: (e) => {
      const d = e.data as unknown as Data<'DrainStarted'>;
      return [
        {
          op: 'replaceOne',
          collection: 'analytics_drains',
          filter: { _id: d.drainId },
          upsert: true,
          doc: { _id: d.drainId, node: d.node, kind: d.kind, mode: d.mode, totalVMs: d.progress.totalVMs, startedAt: d.at, finishedAt: null, status: d.progress.status, failedVMs: 0 },
        },
      ];
    },
    DrainFinished: (e) => {
      const d = e.data as Data<'DrainFinished'>;
      return [{ op: 'updateOne', collection: 'analytics_drains', filter: { _id: d.drainId }, update: { $set: { finishedAt: d.at, status: d.status, failedVMs: d.progress.failedVMs, completedVMs: d.progress.completedVMs } } }];
    },
  },
};
