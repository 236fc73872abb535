/**
 * Health overrides: what each template means. One table, the only place these rules live.
 */
export type Classification = 'PREVENT_ALLOCATIONS' | 'SUPPRESS_EXTERNAL_ALERTING' | 'EXCLUDE_FROM_STATE_MACHINE_SLA' | 'STOP_REBOOT_FOR_AUTOMATIC_RECOVERY';
export type OverrideTemplate =
  | 'TENANT_REPORTED_ISSUE'
  | 'REQUEST_REPAIR'
  | 'OUT_FOR_REPAIR'
  | 'DEGRADED'
  | 'VALIDATION'
  | 'MAINTENANCE'
  | 'HOST_UPDATE'
  | 'SUPPRESS_EXTERNAL_ALERTING'
  | 'MARK_HEALTHY';

export const TEMPLATES: Record<OverrideTemplate, { source: string; classifications: readonly Classification[] }> = {
  TENANT_REPORTED_ISSUE: { source: 'tenant-reported-issue', classifications: ['PREVENT_ALLOCATIONS', 'SUPPRESS_EXTERNAL_ALERTING'] },
  REQUEST_REPAIR: { source: 'repair-request', classifications: ['PREVENT_ALLOCATIONS', 'SUPPRESS_EXTERNAL_ALERTING'] },
  OUT_FOR_REPAIR: { source: 'out-for-repair', classifications: ['PREVENT_ALLOCATIONS', 'SUPPRESS_EXTERNAL_ALERTING', 'EXCLUDE_FROM_STATE_MACHINE_SLA'] },
  MAINTENANCE: { source: 'maintenance', classifications: ['PREVENT_ALLOCATIONS', 'SUPPRESS_EXTERNAL_ALERTING'] },
  DEGRADED: { source: 'degraded', classifications: ['PREVENT_ALLOCATIONS', 'SUPPRESS_EXTERNAL_ALERTING'] },
  HOST_UPDATE: { source: 'host-update', classifications: ['PREVENT_ALLOCATIONS', 'SUPPRESS_EXTERNAL_ALERTING'] },
  VALIDATION: { source: 'validation', classifications: ['SUPPRESS_EXTERNAL_ALERTING'] },
  SUPPRESS_EXTERNAL_ALERTING: { source: 'suppress-external-alerting', classifications: ['SUPPRESS_EXTERNAL_ALERTING'] },
  MARK_HEALTHY: { source: 'mark-healthy', classifications: [] },
};

export const TENANT_REPORTED_ISSUE = TEMPLATES.TENANT_REPORTED_ISSUE.source;
export const REPAIR_REQUEST = TEMPLATES.REQUEST_REPAIR.source;

export interface HealthOverride {
  source: string;
  template: OverrideTemplate;
  classifications: Classification[];
  message: string;
  issue: { category: string; summary: string; details: string | null; tenantId: string | null } | null;
  addedBy: string;
  addedAt: string;
}

export function preventsAllocation(overrides: Record<string, HealthOverride>): boolean {
  return Object.values(overrides).some((o) => o.classifications.includes('PREVENT_ALLOCATIONS'));
}

/** The message of a tenant-reported-issue override: category, summary, details and tenant, readable at a glance. */
export function issueMessage(issue: { category: string; summary: string; details: string | null }, tenantId: string | null): string {
  return `${issue.category}: ${issue.summary}${issue.details ? ` (${issue.details})` : ''}${tenantId ? ` [tenant ${tenantId}]` : ''}`;
}
