import type { Saga } from '../src/messaging/projection';

/** Every saga the app runs. The domain sagas (repair workflow, drains, operations) join here. */
export const ALL_SAGAS: readonly Saga[] = [];
