import type { DrainEvent, Progress } from '../src/drains/drain.decider';
import type { RecordedEvent } from '../src/event-store/event-store.port';
import type { Projection } from '../src/messaging/projection';
import type { Change } from '../src/read-store/read-store.port';

type Data<T extends DrainEvent['type']> = Extract<DrainEvent, { type: T }>['data'];

/** The counters, status and message every drain event carries: the document takes them as they are. */
const progress = (p: Progress, at: string) => ({
  status: p.status,
  totalVMs: p.totalVMs,
  completedVMs: p.completedVMs,
  failedVMs: p.failedVMs,
  skippedVMs: p.skippedVMs,
  inFlight: p.inFlight,
  message: p.message,
  updatedAt: at,
});
const drain = (e: RecordedEvent, extra: Record<string, unknown> = {}): Change => {
  const d = e.data as { drainId: string; progress: Progress; at: string };
  return {
    op: 'updateOne',
    collection: 'drains',
    filter: { _id: d.drainId },
    update: { $set: { ...progress(d.progress, d.at), position: e.position, ...extra }, $max: { peakInFlight: d.progress.inFlight } },
  };
};
const vm = (drainId: string, vmid: number, $set: Record<string, unknown>): Change => ({ op: 'updateOne', collection: 'drain_vms', filter: { _id: `${drainId}:${vmid}` }, update: { $set } });

/**
 * `drains`: one document per drain or undrain with its counters; `drain_vms`: one per VM in
 * it, so a change to one VM rewrites one small document, not the whole drain.
 */
export const drainsProjection: Projection = {
  name: 'drains',
  version: 1,
  collections: {
    drains: { indexes: [{ field: 'node' }, { field: 'status' }, { field: 'startedAt' }] },
    drain_vms: { indexes: [{ field: 'drainId' }] },
  },
  handlers: {
    DrainStarted: (e) => {
      const d = e.data as unknown as Data<'DrainStarted'>;
      return [
        {
          op: 'replaceOne',
          collection: 'drains',
          filter: { _id: d.drainId },
          upsert: true,
          doc: {
            _id: d.drainId,
            id: d.drainId,
            node: d.node,
            kind: d.kind,
            mode: d.mode,
            parallel: d.parallel,
            maxConcurrent: d.maxConcurrent,
            allowOffline: d.allowOffline,
            targetNode: d.targetNode,
            deadline: d.deadline,
            undoes: d.undoes,
            requestedBy: e.metadata.actor,
            startedAt: d.at,
            completedAt: null,
            peakInFlight: 0,
            position: e.position,
            ...progress(d.progress, d.at),
          },
        },
        ...d.vms.map(
          (v, seq): Change => ({
            op: 'replaceOne',
            collection: 'drain_vms',
            filter: { _id: `${d.drainId}:${v.vmid}` },
            upsert: true,
            doc: { _id: `${d.drainId}:${v.vmid}`, drainId: d.drainId, seq, restarted: null, ...v },
          }),
        ),
      ];
    },
    VmMigrationStarted: (e) => {
      const d = e.data as Data<'VmMigrationStarted'>;
      return [vm(d.drainId, d.vmid, { status: 'IN_PROGRESS', targetNode: d.targetNode, startedAt: d.at }), drain(e)];
    },
    VmMigrationCompleted: (e) => {
      const d = e.data as Data<'VmMigrationCompleted'>;
      return [vm(d.drainId, d.vmid, { status: 'COMPLETED', restarted: d.restarted, finishedAt: d.at }), drain(e)];
    },
    VmMigrationFailed: (e) => {
      const d = e.data as Data<'VmMigrationFailed'>;
      return [vm(d.drainId, d.vmid, { status: 'FAILED', error: d.error, finishedAt: d.at }), drain(e)];
    },
    VmMigrationSkipped: (e) => {
      const d = e.data as Data<'VmMigrationSkipped'>;
      return [vm(d.drainId, d.vmid, { status: 'SKIPPED', error: d.reason, finishedAt: d.at }), drain(e)];
    },
    DrainCancelRequested: (e) => {
      const d = e.data as Data<'DrainCancelRequested'>;
      return [drain(e, { canceledBy: d.by })];
    },
    DrainDeadlinePassed: (e) => [drain(e)],
    DrainFinished: (e) => {
      const d = e.data as Data<'DrainFinished'>;
      return [drain(e, { completedAt: d.at })];
    },
  },
};
