import type { SiteSettings } from '../src/health/site-settings';
import type { Saga } from '../src/messaging/projection';
import { repairWorkflowSaga } from './repair-workflow.saga';

/** Every saga the app runs. */
export function sagasFor(settings: SiteSettings): readonly Saga[] {
  return [repairWorkflowSaga(() => settings.autoMachineRepairEnabled)];
}
