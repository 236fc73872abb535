import { checkLabels } from '../machines/labels';
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

export type InstanceCommand =
  | { type: 'CreateInstance'; id: string; tenantId: string; machineId: string; purpose: Purpose; labels: Labels; at: string }
  | { type: 'SetInstanceLabels'; id: string; labels: Labels; at: string }
  | { type: 'ReleaseInstance'; id: string; issue: Issue | null; at: string };

export type InstanceEvent =
  | DomainEvent<'InstanceAllocated', { id: string; tenantId: string; machineId: string; purpose?: Purpose; labels: Labels; at: string }>
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
}

export const instanceStream = (id: string) => `instance-${id}`;
export const ISSUE_CATEGORIES: readonly IssueCategory[] = ['HARDWARE', 'NETWORK', 'PERFORMANCE', 'OTHER'];

function checkIssue(issue: Issue): void {
  if (!ISSUE_CATEGORIES.includes(issue.category)) throw new BadInputError('issue.category', `must be one of ${ISSUE_CATEGORIES.join(', ')}`);
  if (!issue.summary?.trim()) throw new BadInputError('issue.summary', 'is required');
  if (issue.summary.length > 200) throw new BadInputError('issue.summary', 'is at most 200 characters');
  if (issue.details && issue.details.length > 4000) throw new BadInputError('issue.details', 'is at most 4000 characters');
}

/** An instance: a tenant's use of one machine, from allocation to release. Releasing twice is a no-op. */
export const instanceDecider: Decider<InstanceCommand, InstanceEvent, InstanceState> = {
  category: 'instance',
  initialState: { exists: false, tenantId: null, machineId: null, purpose: 'TENANT', labels: {}, released: false },
  decide(c, s) {
    switch (c.type) {
      case 'CreateInstance': {
        if (s.exists) {
          if (s.machineId === c.machineId && s.tenantId === c.tenantId) return [];
          throw new ConflictError(`instance ${c.id} exists already`);
        }
        const { type: _t, ...data } = c;
        return [{ type: 'InstanceAllocated', data }];
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
        checkLabels(c.labels, 1024);
        return [{ type: 'InstanceLabelsChanged', data: { id: c.id, labels: { ...s.labels, ...c.labels }, at: c.at } }];
      }
    }
  },
  evolve(s, e) {
    switch (e.type) {
      case 'InstanceAllocated':
        return { exists: true, tenantId: e.data.tenantId, machineId: e.data.machineId, purpose: e.data.purpose ?? 'TENANT', labels: e.data.labels, released: false };
      case 'InstanceLabelsChanged':
        return { ...s, labels: e.data.labels };
      case 'InstanceReleased':
        return { ...s, released: true };
      default:
        return s;
    }
  },
};
