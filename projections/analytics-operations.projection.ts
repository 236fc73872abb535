import type { MachineEvent } from '../src/machines/machine.decider';
import type { Projection } from '../src/messaging/projection';
import type { Change } from '../src/read-store/read-store.port';

type Data<T extends MachineEvent['type']> = Extract<MachineEvent, { type: T }>['data'];
const finish = (operationId: string, outcome: string, at: string): Change[] => [
  { op: 'updateOne', collection: 'analytics_operations', filter: { _id: operationId }, update: { $set: { outcome, finishedAt: at } } },
];

/** `analytics_operations`: one document per lifecycle operation: its type, when it was asked for and ended, and how. */
export const analyticsOperationsProjection: Projection = {
  name: 'analytics_operations',
  version: 1,
  collections: { analytics_operations: { indexes: [{ field: 'requestedAt' }, { field: 'type' }] } },
  handlers: {
    OperationRequested: (e) => {
      const d = e.data as Data<'OperationRequested'>;
      return [
        {
          op: 'replaceOne',
          collection: 'analytics_operations',
          filter: { _id: d.operationId },
          upsert: true,
          doc: { _id: d.operationId, machineId: d.id, type: d.operation, requestedAt: d.at, finishedAt: null, outcome: null },
        },
      ];
    },
    OperationSucceeded: (e) => finish((e.data as Data<'OperationSucceeded'>).operationId, 'SUCCEEDED', (e.data as Data<'OperationSucceeded'>).at),
    OperationFailed: (e) => finish((e.data as Data<'OperationFailed'>).operationId, 'FAILED', (e.data as Data<'OperationFailed'>).at),
    OperationCanceled: (e) => finish((e.data as Data<'OperationCanceled'>).operationId, 'CANCELED', (e.data as Data<'OperationCanceled'>).at),
  },
};
