import type { AppConfig } from '../src/config/config';
import type { Saga } from '../src/messaging/projection';
import { repairWorkflowSaga } from './repair-workflow.saga';

/** Every saga the app runs. */
export function sagasFor(config: AppConfig): readonly Saga[] {
  return [repairWorkflowSaga(() => config.auto_machine_repair_plugin.enabled)];
}
