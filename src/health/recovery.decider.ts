import { Decider, DomainEvent } from '../messaging/decider';
import { FailedPreconditionError, NotFoundError } from '../messaging/domain-errors';
import { TargetKind, TargetRef } from './health.rules';

/** One stream per target: every recovery of that machine or VM, one at a time. */
export const recoveryStream = (t: TargetRef) => `recovery-${t.kind}-${t.id}`;
/** The fleet's automatic-recovery switch (storm control). */
export const FLEET_HEALTH_STREAM = 'fleethealth-fleet';

export type RecoveryCommand =
  | { type: 'RequestRecovery'; recoveryId: string; target: TargetRef; reason: string; manual: boolean; maxRetries: number; at: string }
  | { type: 'StartRecoveryAttempt'; recoveryId: string; attempt: number; at: string }
  | { type: 'RecordRecoveryAttempt'; recoveryId: string; attempt: number; ok: boolean; error: string | null; durationMs: number; nextAttemptAt: string | null; at: string }
  | { type: 'EndRecovery'; recoveryId: string; reason: string; at: string };

type Ev<T extends string, D extends object> = DomainEvent<T, D & { recoveryId: string; kind: TargetKind; targetId: string; at: string }>;
export type RecoveryEvent =
  | Ev<'RecoveryRequested', { reason: string; manual: boolean; maxRetries: number }>
  | Ev<'RecoveryAttemptStarted', { attempt: number }>
  | Ev<'RecoveryAttemptFailed', { attempt: number; error: string; durationMs: number; nextAttemptAt: string | null }>
  | Ev<'RecoverySucceeded', { attempt: number; durationMs: number }>
  /** The last attempt failed: the target needs a person (NEEDS_INTERVENTION, and DEGRADED on a machine). */
  | Ev<'RecoveryEscalated', { attempts: number; lastError: string }>
  /** Ended without an outcome of its own (the target came back by itself). */
  | Ev<'RecoveryEnded', { reason: string }>;

export interface RecoveryState {
  target: TargetRef | null;
  active: { recoveryId: string; manual: boolean; maxRetries: number; attempts: number; running: boolean; lastError: string | null; nextAttemptAt: string | null } | null;
  recoveries: number;
}

function requireActive(s: RecoveryState, recoveryId: string): NonNullable<RecoveryState['active']> & { target: TargetRef } {
  if (!s.active || s.active.recoveryId !== recoveryId || !s.target) throw new FailedPreconditionError(`recovery ${recoveryId} is not active`, { recoveryId });
  return { ...s.active, target: s.target };
}

export const recoveryDecider: Decider<RecoveryCommand, RecoveryEvent, RecoveryState> = {
  category: 'recovery',
  initialState: { target: null, active: null, recoveries: 0 },

  decide(c, s) {
    if (c.type === 'RequestRecovery') {
      if (s.active) return []; // one recovery at a time per target: the running one stands
      return [{ type: 'RecoveryRequested', data: { recoveryId: c.recoveryId, kind: c.target.kind, targetId: c.target.id, reason: c.reason, manual: c.manual, maxRetries: c.maxRetries, at: c.at } }];
    }
    if (!s.target) throw new NotFoundError(`recovery ${c.recoveryId} not found`, { recoveryId: c.recoveryId });
    const a = requireActive(s, c.recoveryId);
    const base = { recoveryId: c.recoveryId, kind: a.target.kind, targetId: a.target.id, at: c.at };
    switch (c.type) {
      case 'StartRecoveryAttempt': {
        if (a.running && a.attempts === c.attempt) return [];
        if (c.attempt !== a.attempts + 1 || c.attempt > a.maxRetries) throw new FailedPreconditionError(`attempt ${c.attempt} cannot start (${a.attempts} of ${a.maxRetries} made)`, { recoveryId: c.recoveryId });
        return [{ type: 'RecoveryAttemptStarted', data: { ...base, attempt: c.attempt } }];
      }
      case 'RecordRecoveryAttempt': {
        if (!a.running || a.attempts !== c.attempt) return [];
        if (c.ok) return [{ type: 'RecoverySucceeded', data: { ...base, attempt: c.attempt, durationMs: c.durationMs } }];
        const last = c.attempt >= a.maxRetries;
        const error = c.error ?? 'recovery failed';
        const events: RecoveryEvent[] = [{ type: 'RecoveryAttemptFailed', data: { ...base, attempt: c.attempt, error, durationMs: c.durationMs, nextAttemptAt: last ? null : c.nextAttemptAt } }];
        if (last) events.push({ type: 'RecoveryEscalated', data: { ...base, attempts: c.attempt, lastError: error } });
        return events;
      }
      case 'EndRecovery':
        return [{ type: 'RecoveryEnded', data: { ...base, reason: c.reason } }];
    }
  },

  evolve(s, e) {
    switch (e.type) {
      case 'RecoveryRequested':
        return {
          target: { kind: e.data.kind, id: e.data.targetId },
          active: { recoveryId: e.data.recoveryId, manual: e.data.manual, maxRetries: e.data.maxRetries, attempts: 0, running: false, lastError: null, nextAttemptAt: null },
          recoveries: s.recoveries + 1,
        };
      case 'RecoveryAttemptStarted':
        return s.active ? { ...s, active: { ...s.active, attempts: e.data.attempt, running: true } } : s;
      case 'RecoveryAttemptFailed':
        return s.active ? { ...s, active: { ...s.active, running: false, lastError: e.data.error, nextAttemptAt: e.data.nextAttemptAt } } : s;
      case 'RecoverySucceeded':
      case 'RecoveryEscalated':
      case 'RecoveryEnded':
        return { ...s, active: null };
      default:
        return s;
    }
  },
};

export type FleetHealthCommand =
  | { type: 'PauseAutoRecovery'; unhealthy: number; total: number; at: string }
  | { type: 'ResumeAutoRecovery'; unhealthy: number; total: number; at: string };
export type FleetHealthEvent =
  | DomainEvent<'AutoRecoveryPaused', { unhealthy: number; total: number; at: string }>
  | DomainEvent<'AutoRecoveryResumed', { unhealthy: number; total: number; at: string }>;

/** Storm control's switch: paused or not, as events. */
export const fleetHealthDecider: Decider<FleetHealthCommand, FleetHealthEvent, { paused: boolean }> = {
  category: 'fleethealth',
  initialState: { paused: false },
  decide(c, s) {
    if (c.type === 'PauseAutoRecovery') return s.paused ? [] : [{ type: 'AutoRecoveryPaused', data: { unhealthy: c.unhealthy, total: c.total, at: c.at } }];
    return s.paused ? [{ type: 'AutoRecoveryResumed', data: { unhealthy: c.unhealthy, total: c.total, at: c.at } }] : [];
  },
  evolve(s, e) {
    return { paused: e.type === 'AutoRecoveryPaused' ? true : e.type === 'AutoRecoveryResumed' ? false : s.paused };
  },
};
