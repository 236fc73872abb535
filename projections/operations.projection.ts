import type { MachineEvent } from '../src/machines/machine.decider';
import type { Projection } from '../src/messaging/projection';
import type { Change } from '../src/read-store/read-store.port';

type Data<T extends MachineEvent['type']> = Extract<MachineEvent, { type: T }>['data'];
const set = (operationId: string, fields: Record<string, unknown>, push?: Record<string, unknown>): Change => ({
  op: 'updateOne',
  collection: 'operations',
  filter: { _id: operationId },
  update: push ? { $set: fields, $push: push } : { $set: fields },
});
const logLines = (d: { stage: string; log: string[]; at: string }) => ({ logs: { $each: d.log.map((line) => ({ stage: d.stage, line, at: d.at })) } });

/** `operations`: one document per operation, with its stages and the log lines they wrote. */
export const operationsProjection: Projection = {
  name: 'operations',
  version: 1,
  collections: { operations: { indexes: [{ field: 'machineId' }, { field: 'phase' }, { field: 'type' }] } },
  handlers: {
    OperationRequested: (e) => {
      const d = e.data as Data<'OperationRequested'>;
      return [
        {
          op: 'replaceOne',
          collection: 'operations',
          filter: { _id: d.operationId },
          upsert: true,
          doc: {
            _id: d.operationId,
            id: d.operationId,
            machineId: d.id,
            type: d.operation,
            phase: 'PENDING',
            currentStage: null,
            params: d.params,
            error: null,
            requestId: d.requestId,
            requestedBy: e.metadata.actor,
            createdAt: d.at,
            updatedAt: d.at,
            stageOrder: d.stages,
            stages: Object.fromEntries(d.stages.map((name) => [name, { name, phase: 'PENDING', attempts: 0, startedAt: null, finishedAt: null, error: null }])),
            logs: [],
          },
        },
      ];
    },
    OperationStageStarted: (e) => {
      const d = e.data as Data<'OperationStageStarted'>;
      return [
        set(d.operationId, {
          phase: 'RUNNING',
          currentStage: d.stage,
          updatedAt: d.at,
          [`stages.${d.stage}.phase`]: 'RUNNING',
          [`stages.${d.stage}.attempts`]: d.attempt,
          [`stages.${d.stage}.startedAt`]: d.at,
        }),
      ];
    },
    OperationStageSucceeded: (e) => {
      const d = e.data as Data<'OperationStageSucceeded'>;
      return [set(d.operationId, { updatedAt: d.at, [`stages.${d.stage}.phase`]: 'SUCCEEDED', [`stages.${d.stage}.finishedAt`]: d.at }, logLines(d))];
    },
    OperationStageAttemptFailed: (e) => {
      const d = e.data as Data<'OperationStageAttemptFailed'>;
      return [set(d.operationId, { updatedAt: d.at, [`stages.${d.stage}.error`]: d.error, [`stages.${d.stage}.phase`]: d.willRetry ? 'RUNNING' : 'FAILED' }, logLines(d))];
    },
    OperationSucceeded: (e) => {
      const d = e.data as Data<'OperationSucceeded'>;
      return [set(d.operationId, { phase: 'SUCCEEDED', currentStage: null, updatedAt: d.at, finishedAt: d.at })];
    },
    OperationFailed: (e) => {
      const d = e.data as Data<'OperationFailed'>;
      return [set(d.operationId, { phase: 'FAILED', error: `${d.stage}: ${d.error}`, updatedAt: d.at, finishedAt: d.at })];
    },
    OperationCanceled: (e) => {
      const d = e.data as Data<'OperationCanceled'>;
      return [set(d.operationId, { phase: 'CANCELED', error: d.reason, updatedAt: d.at, finishedAt: d.at })];
    },
  },
};
