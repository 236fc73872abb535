import type { Projection } from '../src/messaging/projection';
import { apiKeysProjection } from './api-keys.projection';
import { drainsProjection } from './drains.projection';
import { instancesProjection } from './instances.projection';
import { machinesProjection } from './machines.projection';
import { recoveriesProjection } from './recoveries.projection';
import { operationsProjection } from './operations.projection';
import { siteConfigProjection } from './site-config.projection';
import { vmsProjection } from './vms.projection';

/** Every projection the app runs. */
export const ALL_PROJECTIONS: readonly Projection[] = [machinesProjection, operationsProjection, instancesProjection, apiKeysProjection, siteConfigProjection, vmsProjection, drainsProjection, recoveriesProjection];
