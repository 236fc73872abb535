import type { Projection } from '../src/messaging/projection';
import { analyticsDrainsProjection } from './analytics-drains.projection';
import { analyticsIssueReportsProjection } from './analytics-issue-reports.projection';
import { analyticsMachineStatesProjection } from './analytics-machine-states.projection';
import { analyticsOperationsProjection } from './analytics-operations.projection';
import { analyticsRepairsProjection } from './analytics-repairs.projection';
import { apiKeysProjection } from './api-keys.projection';
import { drainsProjection } from './drains.projection';
import { instancesProjection } from './instances.projection';
import { machinesProjection } from './machines.projection';
import { recoveriesProjection } from './recoveries.projection';
import { operationsProjection } from './operations.projection';
import { siteConfigProjection } from './site-config.projection';
import { vmsProjection } from './vms.projection';

/** The read models analysts query through `analytics`. */
export const ANALYTICS_PROJECTIONS: readonly Projection[] = [
  analyticsRepairsProjection,
  analyticsIssueReportsProjection,
  analyticsDrainsProjection,
  analyticsOperationsProjection,
  analyticsMachineStatesProjection,
];

/** Every projection the app runs. */
export const ALL_PROJECTIONS: readonly Projection[] = [
  machinesProjection,
  operationsProjection,
  instancesProjection,
  apiKeysProjection,
  siteConfigProjection,
  vmsProjection,
  drainsProjection,
  recoveriesProjection,
  ...ANALYTICS_PROJECTIONS,
];
