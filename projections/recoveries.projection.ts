import type { FleetHealthEvent, RecoveryEvent } from '../src/health/recovery.decider';
import type { Projection } from '../src/messaging/projection';
import type { Change } from '../src/read-store/read-store.port';

type Data<T extends RecoveryEvent['type']> = Extract<RecoveryEvent, { type: T }>['data'];
const set = (id: string, $set: Record<string, unknown>): Change => ({ op: 'updateOne', collection: 'recoveries', filter: { _id: id }, update: { $set } });

/** `recoveries`: one document per recovery of a machine or VM; `fleet_health`: storm control's switch. */
export const recoveriesProjection: Projection = {
  name: 'recoveries',
  version: 1,
  collections: { recoveries: { indexes: [{ field: 'status' }, { field: 'targetId' }, { field: 'startedAt' }] }, fleet_health: {} },
  handlers: {
    RecoveryRequested: (e) => {
      const d = e.data as Data<'RecoveryRequested'>;
      return [
        {
          op: 'replaceOne',
          collection: 'recoveries',
          filter: { _id: d.recoveryId },
          upsert: true,
          doc: {
            _id: d.recoveryId,
            id: d.recoveryId,
            kind: d.kind,
            targetId: d.targetId,
            reason: d.reason,
            manual: d.manual,
            maxRetries: d.maxRetries,
            status: 'IN_PROGRESS',
            attempts: [],
            lastError: null,
            nextAttemptAt: null,
            requestedBy: e.metadata.actor,
            startedAt: d.at,
            finishedAt: null,
          },
        },
      ];
    },
    RecoveryAttemptStarted: (e) => {
      const d = e.data as Data<'RecoveryAttemptStarted'>;
      return [{ op: 'updateOne', collection: 'recoveries', filter: { _id: d.recoveryId }, update: { $push: { attempts: { attempt: d.attempt, startedAt: d.at, outcome: 'RUNNING', error: null, durationMs: null } }, $set: { nextAttemptAt: null } } }];
    },
    RecoveryAttemptFailed: (e) => {
      const d = e.data as Data<'RecoveryAttemptFailed'>;
      return [
        { op: 'updateOne', collection: 'recoveries', filter: { _id: d.recoveryId }, update: { $pull: { attempts: { attempt: d.attempt } } } },
        {
          op: 'updateOne',
          collection: 'recoveries',
          filter: { _id: d.recoveryId },
          update: { $push: { attempts: { attempt: d.attempt, startedAt: d.at, finishedAt: d.at, outcome: 'FAILED', error: d.error, durationMs: d.durationMs } }, $set: { lastError: d.error, nextAttemptAt: d.nextAttemptAt } },
        },
      ];
    },
    RecoverySucceeded: (e) => {
      const d = e.data as Data<'RecoverySucceeded'>;
      return [
        { op: 'updateOne', collection: 'recoveries', filter: { _id: d.recoveryId }, update: { $pull: { attempts: { attempt: d.attempt } } } },
        {
          op: 'updateOne',
          collection: 'recoveries',
          filter: { _id: d.recoveryId },
          update: { $push: { attempts: { attempt: d.attempt, finishedAt: d.at, outcome: 'SUCCEEDED', error: null, durationMs: d.durationMs } }, $set: { status: 'SUCCEEDED', finishedAt: d.at } },
        },
      ];
    },
    RecoveryEscalated: (e) => {
      const d = e.data as Data<'RecoveryEscalated'>;
      return [set(d.recoveryId, { status: 'ESCALATED', finishedAt: d.at, lastError: d.lastError })];
    },
    RecoveryEnded: (e) => {
      const d = e.data as Data<'RecoveryEnded'>;
      return [set(d.recoveryId, { status: 'ENDED', finishedAt: d.at, endReason: d.reason })];
    },
    AutoRecoveryPaused: (e) => {
      const d = e.data as Extract<FleetHealthEvent, { type: 'AutoRecoveryPaused' }>['data'];
      return [{ op: 'updateOne', collection: 'fleet_health', filter: { _id: 'fleet' }, upsert: true, update: { $set: { paused: true, since: d.at, unhealthy: d.unhealthy, total: d.total } } }];
    },
    AutoRecoveryResumed: (e) => {
      const d = e.data as Extract<FleetHealthEvent, { type: 'AutoRecoveryResumed' }>['data'];
      return [{ op: 'updateOne', collection: 'fleet_health', filter: { _id: 'fleet' }, upsert: true, update: { $set: { paused: false, since: d.at, unhealthy: d.unhealthy, total: d.total } } }];
    },
  },
};
