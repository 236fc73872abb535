import type { RecordedEvent } from '../src/event-store/event-store.port';
import { REPAIR_REQUEST, TENANT_REPORTED_ISSUE } from '../src/health/overrides';
import type { Issue } from '../src/instances/instance.decider';
import { machineDecider, MachineCommand, machineStream } from '../src/machines/machine.decider';
import type { Saga, SagaCommand } from '../src/messaging/projection';

const BY = 'saga:repair-workflow';

function command(key: string, machineId: string, c: MachineCommand): SagaCommand {
  return { key, decider: machineDecider, stream: machineStream(machineId), command: c };
}

/**
 * The repair workflow. A tenant's issue report (the tenant-reported-issue override is applied
 * atomically with the release) asks for repair when auto-repair is on. A repair tenant's release
 * settles the outcome from its `repair_status` label, and never asks for repair again.
 */
export function repairWorkflowSaga(autoRepairEnabled: () => boolean): Saga {
  return {
    name: 'repair-workflow',
    handlers: {
      IssueReported: (e: RecordedEvent) => {
        const d = e.data as { machineId: string; purpose: string; tenantId: string; issue: Issue };
        if (d.purpose !== 'TENANT' || !autoRepairEnabled()) return [];
        return [
          command('request-repair', d.machineId, {
            type: 'AddHealthOverride',
            id: d.machineId,
            template: 'REQUEST_REPAIR',
            message: `automatic repair for ${d.issue.category}: ${d.issue.summary}`,
            issue: { ...d.issue, tenantId: d.tenantId },
            by: BY,
            at: e.metadata.occurredAt,
          }),
        ];
      },
      InstanceReleased: (e: RecordedEvent) => {
        const d = e.data as { machineId: string; purpose?: string; labels?: Record<string, string>; issue: Issue | null };
        if (d.purpose !== 'REPAIR') return [];
        const at = e.metadata.occurredAt;
        const status = d.labels?.repair_status;
        const completed = status?.trim().toLowerCase() === 'completed';
        const remove = (source: string, reason: string) =>
          command(`remove-${source}`, d.machineId, { type: 'RemoveHealthOverride', id: d.machineId, source, reason, by: BY, at });
        const report = (issue: Issue) =>
          command('tenant-reported-issue', d.machineId, {
            type: 'AddHealthOverride',
            id: d.machineId,
            template: 'TENANT_REPORTED_ISSUE',
            message: `${issue.category}: ${issue.summary}${issue.details ? ` (${issue.details})` : ''} [repair]`,
            issue: { ...issue, tenantId: null },
            by: BY,
            at,
          });
        const commands = [
          command('outcome', d.machineId, { type: 'RecordRepairOutcome', id: d.machineId, repairStatus: status ?? null, completed: completed && !d.issue, at }),
          remove(REPAIR_REQUEST, `repair ended: repair_status=${status ?? '(none)'}`),
        ];
        if (completed && !d.issue) commands.push(remove(TENANT_REPORTED_ISSUE, 'repair completed'));
        else if (completed && d.issue) commands.push(report(d.issue));
        else {
          const issue = d.issue ?? {
            category: 'OTHER' as const,
            summary: 'repair did not complete',
            details: `repair_status=${status ?? '(none)'}${d.labels?.repair_details ? `; ${d.labels.repair_details}` : ''}`,
          };
          commands.push(report(issue));
        }
        return commands;
      },
    },
  };
}
