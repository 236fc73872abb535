import type { InstanceEvent } from '../src/instances/instance.decider';
import type { Projection } from '../src/messaging/projection';
import type { Change } from '../src/read-store/read-store.port';

type Data<T extends InstanceEvent['type']> = Extract<InstanceEvent, { type: T }>['data'];

const attempt = (id: string, number: number) => ({ id, number, status: 'PENDING', steps: [], error: null, deploymentRemoved: null, startedAt: null, finishedAt: null });
/** Sets fields of the instance and of one of its attempts (kept by id, their order beside). */
function onAttempt(id: string, attemptId: string, instance: Record<string, unknown>, change: Record<string, unknown>): Change {
  return {
    op: 'updateOne',
    collection: 'instances',
    filter: { _id: id },
    update: { $set: { ...instance, ...Object.fromEntries(Object.entries(change).map(([k, v]) => [`attempts.${attemptId}.${k}`, v])) } },
  };
}

/** `instances`: one document per instance, as its tenant and operators read it. */
export const instancesProjection: Projection = {
  name: 'instances',
  version: 2,
  collections: { instances: { indexes: [{ field: 'tenantId' }, { field: 'machineId' }, { field: 'status' }] } },
  handlers: {
    InstanceAllocated: (e) => {
      const d = e.data as Data<'InstanceAllocated'>;
      return [
        {
          op: 'replaceOne',
          collection: 'instances',
          filter: { _id: d.id },
          upsert: true,
          doc: {
            _id: d.id,
            id: d.id,
            tenantId: d.tenantId,
            machineId: d.machineId,
            purpose: d.purpose ?? 'TENANT',
            status: d.provisioning ? 'CREATING' : 'READY',
            provisioningStatus: d.provisioning ? 'PENDING' : 'READY',
            errorMessage: null,
            dbType: d.provisioning?.dbType ?? null,
            databaseId: null,
            attempts: d.provisioning ? { [d.provisioning.attemptId]: attempt(d.provisioning.attemptId, 1) } : {},
            attemptOrder: d.provisioning ? [d.provisioning.attemptId] : [],
            currentAttempt: d.provisioning?.attemptId ?? null,
            retries: 0,
            labels: d.labels,
            issue: null,
            createdAt: d.at,
            releasedAt: null,
          },
        },
      ];
    },
    ProvisioningStarted: (e) => {
      const d = e.data as Data<'ProvisioningStarted'>;
      return [onAttempt(d.id, d.attemptId, { provisioningStatus: 'PROVISIONING' }, { status: 'IN_PROGRESS', startedAt: d.at })];
    },
    ProvisioningStepCompleted: (e) => {
      const d = e.data as Data<'ProvisioningStepCompleted'>;
      return [
        {
          op: 'updateOne',
          collection: 'instances',
          filter: { _id: d.id },
          update: { $push: { [`attempts.${d.attemptId}.steps`]: { name: d.step, detail: d.detail, at: d.at } }, ...(d.databaseId ? { $set: { databaseId: d.databaseId } } : {}) },
        },
      ];
    },
    InstanceProvisioned: (e) => {
      const d = e.data as Data<'InstanceProvisioned'>;
      return [onAttempt(d.id, d.attemptId, { status: 'READY', provisioningStatus: 'READY', errorMessage: null }, { status: 'SUCCEEDED', finishedAt: d.at })];
    },
    ProvisioningFailed: (e) => {
      const d = e.data as Data<'ProvisioningFailed'>;
      // One event, so status, provisioningStatus and errorMessage change together.
      return [onAttempt(d.id, d.attemptId, { status: 'ERROR', provisioningStatus: 'FAILED', errorMessage: d.errorMessage }, { status: 'FAILED', error: d.errorMessage, finishedAt: d.at })];
    },
    DeploymentRemoved: (e) => {
      const d = e.data as Data<'DeploymentRemoved'>;
      return [onAttempt(d.id, d.attemptId, {}, { deploymentRemoved: true })];
    },
    ProvisioningRetried: (e) => {
      const d = e.data as Data<'ProvisioningRetried'>;
      return [
        {
          op: 'updateOne',
          collection: 'instances',
          filter: { _id: d.id },
          update: {
            $set: { status: 'CREATING', provisioningStatus: 'PENDING', errorMessage: null, currentAttempt: d.attemptId, retries: d.attempt - 1, [`attempts.${d.attemptId}`]: attempt(d.attemptId, d.attempt) },
            $push: { attemptOrder: d.attemptId },
          },
        },
      ];
    },
    InstanceLabelsChanged: (e) => {
      const d = e.data as Data<'InstanceLabelsChanged'>;
      return [{ op: 'updateOne', collection: 'instances', filter: { _id: d.id }, update: { $set: { labels: d.labels } } }];
    },
    InstanceReleased: (e) => {
      const d = e.data as Data<'InstanceReleased'>;
      return [{ op: 'updateOne', collection: 'instances', filter: { _id: d.id }, update: { $set: { status: 'RELEASED', issue: d.issue, releasedAt: d.at } } }];
    },
  },
};
