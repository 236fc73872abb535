import { checkLabelMapSize, checkLabels, INSTANCE_LABEL_VALUE_MAX } from '../machines/labels';
import { Decider, DomainEvent } from '../messaging/decider';
import { BadInputError, ConflictError, FailedPreconditionError, NotFoundError } from '../messaging/domain-errors';

export type IssueCategory = 'HARDWARE' | 'NETWORK' | 'PERFORMANCE' | 'OTHER';
export interface Issue {
  category: IssueCategory;
  summary: string;
  details: string | null;
}

export type Purpose = 'TENANT' | 'REPAIR';
type Labels = Record<string, string>;

export const DB_TYPES = ['shared', 'dedicated'] as const;
export type DbType = (typeof DB_TYPES)[number];
export type InstanceStatus = 'CREATING' | 'READY' | 'ERROR' | 'RELEASED';
export type ProvisioningStatus = 'PENDING' | 'PROVISIONING' | 'READY' | 'FAILED';
/** The steps of a provisioning attempt, in order. */
export const PROVISIONING_STEPS = ['database', 'deploy', 'ready'] as const;
export type ProvisioningStep = (typeof PROVISIONING_STEPS)[number];

export interface ProvisioningAttempt {
  attemptId: string;
  number: number;
  status: 'PENDING' | 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED';
  steps: ProvisioningStep[];
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export type InstanceCommand =
  | { type: 'CreateInstance'; id: string; tenantId: string; machineId: string; purpose: Purpose; labels: Labels; provisioning?: { dbType: DbType; attemptId: string } | null; at: string }
  | { type: 'StartProvisioning'; id: string; attemptId: string; at: string }
  | { type: 'CompleteProvisioningStep'; id: string; attemptId: string; step: ProvisioningStep; detail: string; databaseId: string | null; at: string }
  | { type: 'FailProvisioning'; id: string; attemptId: string; step: ProvisioningStep; error: string; at: string }
  | { type: 'RecordDeploymentRemoved'; id: string; attemptId: string; at: string }
  | { type: 'RetryProvisioning'; id: string; attemptId: string; at: string }
  | { type: 'SetInstanceLabels'; id: string; labels: Labels; at: string }
  | { type: 'ReleaseInstance'; id: string; issue: Issue | null; at: string };

export type InstanceEvent =
  | DomainEvent<'InstanceAllocated', { id: string; tenantId: string; machineId: string; purpose?: Purpose; labels: Labels; provisioning?: { dbType: DbType; attemptId: string } | null; at: string }>
  | DomainEvent<'ProvisioningStarted', { id: string; attemptId: string; attempt: number; at: string }>
  | DomainEvent<'ProvisioningStepCompleted', { id: string; attemptId: string; step: ProvisioningStep; detail: string; databaseId: string | null; at: string }>
  | DomainEvent<'InstanceProvisioned', { id: string; attemptId: string; at: string }>
  /** One event carries both the status and the reason: ERROR / FAILED / errorMessage can never disagree. */
  | DomainEvent<'ProvisioningFailed', { id: string; attemptId: string; step: ProvisioningStep; errorMessage: string; at: string }>
  | DomainEvent<'DeploymentRemoved', { id: string; attemptId: string; at: string }>
  | DomainEvent<'ProvisioningRetried', { id: string; attemptId: string; attempt: number; previousAttemptId: string; at: string }>
  | DomainEvent<'InstanceLabelsChanged', { id: string; labels: Labels; at: string }>
  | DomainEvent<'InstanceReleased', { id: string; tenantId: string; machineId: string; purpose?: Purpose; labels?: Labels; issue: Issue | null; at: string }>
  | DomainEvent<'IssueReported', { id: string; tenantId: string; machineId: string; purpose: Purpose; issue: Issue; at: string }>;

export interface InstanceState {
  exists: boolean;
  tenantId: string | null;
  machineId: string | null;
  purpose: Purpose;
  labels: Labels;
  released: boolean;
  status: InstanceStatus;
  provisioningStatus: ProvisioningStatus;
  dbType: DbType | null;
  databaseId: string | null;
  attempts: ProvisioningAttempt[];
}

/** The attempt under way (or the last one), or null for an instance allocated without provisioning. */
export const currentAttempt = (s: InstanceState): ProvisioningAttempt | null => s.attempts[s.attempts.length - 1] ?? null;

function requireAttempt(s: InstanceState, id: string, attemptId: string): ProvisioningAttempt {
  if (!s.exists) throw new NotFoundError(`instance ${id} not found`, { instanceId: id });
  const a = currentAttempt(s);
  if (!a || a.attemptId !== attemptId) throw new FailedPreconditionError(`provisioning attempt ${attemptId} is not the current attempt of instance ${id}`, { instanceId: id });
  return a;
}

const withAttempt = (s: InstanceState, attemptId: string, change: Partial<ProvisioningAttempt>): ProvisioningAttempt[] =>
  s.attempts.map((a) => (a.attemptId === attemptId ? { ...a, ...change } : a));

export const instanceStream = (id: string) => `instance-${id}`;
export const ISSUE_CATEGORIES: readonly IssueCategory[] = ['HARDWARE', 'NETWORK', 'PERFORMANCE', 'OTHER'];

const newAttempt = (attemptId: string, number: number): ProvisioningAttempt => ({ attemptId, number, status: 'PENDING', steps: [], error: null, startedAt: null, finishedAt: null });

function checkIssue(issue: Issue): void {
  if (!ISSUE_CATEGORIES.includes(issue.category)) throw new BadInputError('issue.category', `must be one of ${ISSUE_CATEGORIES.join(', ')}`);
  if (!issue.summary?.trim()) throw new BadInputError('issue.summary', 'is required');
  if (issue.summary.length > 200) throw new BadInputError('issue.summary', 'is at most 200 characters');
  if (issue.details && issue.details.length > 4000) throw new BadInputError('issue.details', 'is at most 4000 characters');
}

/** An instance: a tenant's use of one machine, from allocation to release. Releasing twice is a no-op. */
export const instanceDecider: Decider<InstanceCommand, InstanceEvent, InstanceState> = {
  category: 'instance',
  initialState: { exists: false, tenantId: null, machineId: null, purpose: 'TENANT', labels: {}, released: false, status: 'READY', provisioningStatus: 'READY', dbType: null, databaseId: null, attempts: [] },
  decide(c, s) {
    switch (c.type) {
      case 'CreateInstance': {
        if (s.exists) {
          if (s.machineId === c.machineId && s.tenantId === c.tenantId) return [];
          throw new ConflictError(`instance ${c.id} exists already`);
        }
        const { type: _t, ...data } = c;
        return [{ type: 'InstanceAllocated', data: { ...data, provisioning: c.provisioning ?? null } }];
      }
      case 'StartProvisioning': {
        const a = requireAttempt(s, c.id, c.attemptId);
        if (a.status !== 'PENDING' || s.released) return [];
        return [{ type: 'ProvisioningStarted', data: { id: c.id, attemptId: c.attemptId, attempt: a.number, at: c.at } }];
      }
      case 'CompleteProvisioningStep': {
        const a = requireAttempt(s, c.id, c.attemptId);
        if (a.status !== 'IN_PROGRESS' || a.steps.includes(c.step)) return [];
        const next = PROVISIONING_STEPS[a.steps.length];
        if (c.step !== next) throw new FailedPreconditionError(`step ${c.step} cannot complete before ${next}`, { instanceId: c.id });
        const events: InstanceEvent[] = [{ type: 'ProvisioningStepCompleted', data: { id: c.id, attemptId: c.attemptId, step: c.step, detail: c.detail, databaseId: c.databaseId, at: c.at } }];
        if (c.step === 'ready') events.push({ type: 'InstanceProvisioned', data: { id: c.id, attemptId: c.attemptId, at: c.at } });
        return events;
      }
      case 'FailProvisioning': {
        const a = requireAttempt(s, c.id, c.attemptId);
        if (a.status !== 'IN_PROGRESS' && a.status !== 'PENDING') return [];
        return [{ type: 'ProvisioningFailed', data: { id: c.id, attemptId: c.attemptId, step: c.step, errorMessage: c.error, at: c.at } }];
      }
      case 'RecordDeploymentRemoved': {
        requireAttempt(s, c.id, c.attemptId);
        return [{ type: 'DeploymentRemoved', data: { id: c.id, attemptId: c.attemptId, at: c.at } }];
      }
      case 'RetryProvisioning': {
        if (!s.exists) throw new NotFoundError(`instance ${c.id} not found`, { instanceId: c.id });
        if (s.status !== 'ERROR') {
          throw new FailedPreconditionError(`instance ${c.id} is ${s.status}: only an instance in ERROR can be retried`, { instanceId: c.id, status: s.status });
        }
        const previous = currentAttempt(s)!;
        return [{ type: 'ProvisioningRetried', data: { id: c.id, attemptId: c.attemptId, attempt: previous.number + 1, previousAttemptId: previous.attemptId, at: c.at } }];
      }
      case 'ReleaseInstance': {
        if (!s.exists) throw new NotFoundError(`instance ${c.id} not found`, { instanceId: c.id });
        if (s.released) return []; // idempotent, even when an issue comes with the retry
        if (c.issue) checkIssue(c.issue);
        const base = { id: c.id, tenantId: s.tenantId!, machineId: s.machineId!, purpose: s.purpose, at: c.at };
        const events: InstanceEvent[] = [{ type: 'InstanceReleased', data: { ...base, labels: s.labels, issue: c.issue } }];
        if (c.issue) events.push({ type: 'IssueReported', data: { ...base, issue: c.issue } });
        return events;
      }
      case 'SetInstanceLabels': {
        if (!s.exists) throw new NotFoundError(`instance ${c.id} not found`, { instanceId: c.id });
        if (s.released) throw new FailedPreconditionError(`instance ${c.id} is RELEASED`, { instanceId: c.id });
        checkLabels(c.labels, INSTANCE_LABEL_VALUE_MAX);
        // Labels set a few at a time add up: the bound is on the map the instance ends up with.
        const labels = { ...s.labels, ...c.labels };
        checkLabelMapSize(labels);
        return [{ type: 'InstanceLabelsChanged', data: { id: c.id, labels, at: c.at } }];
      }
    }
  },
  evolve(s, e) {
    switch (e.type) {
      case 'InstanceAllocated': {
        const p = e.data.provisioning;
        return {
          ...s,
          exists: true,
          tenantId: e.data.tenantId,
          machineId: e.data.machineId,
          purpose: e.data.purpose ?? 'TENANT',
          labels: e.data.labels,
          released: false,
          status: p ? 'CREATING' : 'READY',
          provisioningStatus: p ? 'PENDING' : 'READY',
          dbType: p?.dbType ?? null,
          attempts: p ? [newAttempt(p.attemptId, 1)] : [],
        };
      }
      case 'ProvisioningStarted':
        return { ...s, provisioningStatus: 'PROVISIONING', attempts: withAttempt(s, e.data.attemptId, { status: 'IN_PROGRESS', startedAt: e.data.at }) };
      case 'ProvisioningStepCompleted': {
        const a = s.attempts.find((x) => x.attemptId === e.data.attemptId);
        return { ...s, databaseId: e.data.databaseId ?? s.databaseId, attempts: withAttempt(s, e.data.attemptId, { steps: [...(a?.steps ?? []), e.data.step] }) };
      }
      case 'InstanceProvisioned':
        return { ...s, status: 'READY', provisioningStatus: 'READY', attempts: withAttempt(s, e.data.attemptId, { status: 'SUCCEEDED', finishedAt: e.data.at }) };
      case 'ProvisioningFailed':
        return { ...s, status: 'ERROR', provisioningStatus: 'FAILED', attempts: withAttempt(s, e.data.attemptId, { status: 'FAILED', error: e.data.errorMessage, finishedAt: e.data.at }) };
      case 'ProvisioningRetried':
        return { ...s, status: 'CREATING', provisioningStatus: 'PENDING', attempts: [...s.attempts, newAttempt(e.data.attemptId, e.data.attempt)] };
      case 'InstanceLabelsChanged':
        return { ...s, labels: e.data.labels };
      case 'InstanceReleased':
        return { ...s, released: true, status: 'RELEASED' };
      default:
        return s;
    }
  },
};
