import type { InstanceEvent } from '../src/instances/instance.decider';
import type { Projection } from '../src/messaging/projection';

type Data<T extends InstanceEvent['type']> = Extract<InstanceEvent, { type: T }>['data'];

/** `analytics_issue_reports`: one document per issue report, by whom, on which machine, of which category. */
export const analyticsIssueReportsProjection: Projection = {
  name: 'analytics_issue_reports',
  version: 1,
  collections: { analytics_issue_reports: { indexes: [{ field: 'reportedAt' }, { field: 'machineId' }, { field: 'tenantId' }] } },
  handlers: {
    IssueReported: (e) => {
      const d = e.data as Data<'IssueReported'>;
      return [
        {
          op: 'replaceOne',
          collection: 'analytics_issue_reports',
          filter: { _id: e.id },
          upsert: true,
          doc: { _id: e.id, instanceId: d.id, machineId: d.machineId, tenantId: d.tenantId, purpose: d.purpose, category: d.issue.category, summary: d.issue.summary, reportedAt: d.at },
        },
      ];
    },
  },
};
