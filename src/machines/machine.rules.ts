import type { MachinePhase } from './machine.decider';

export const EFFECTIVE_STATES = ['NEW', 'IDLE', 'BUSY', 'MAINTENANCE', 'ATTENTION', 'BLOCKED'] as const;
export type EffectiveState = (typeof EFFECTIVE_STATES)[number];

export const CONDITION_TYPES = ['REACHABLE', 'PROVISIONED', 'NEEDS_INTERVENTION', 'OPERATION_CANCELED', 'RMA', 'RETIRED'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export interface Condition {
  type: ConditionType;
  status: boolean;
  reason: string | null;
  since: string;
}

/**
 * The server-derived state of a machine, in order of precedence: BLOCKED (RETIRED or RMA),
 * ATTENTION (NEEDS_INTERVENTION), BUSY (an operation pending or running), MAINTENANCE (phase),
 * NEW (phase FACTORY_READY), else IDLE.
 */
export function effectiveState(phase: MachinePhase, conditions: readonly Condition[], operationActive: boolean): EffectiveState {
  const on = (t: Condition['type']) => conditions.some((c) => c.type === t && c.status);
  if (on('RETIRED') || on('RMA')) return 'BLOCKED';
  if (on('NEEDS_INTERVENTION')) return 'ATTENTION';
  if (operationActive) return 'BUSY';
  if (phase === 'MAINTENANCE') return 'MAINTENANCE';
  if (phase === 'FACTORY_READY') return 'NEW';
  return 'IDLE';
}
