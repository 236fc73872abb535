/**
 * What a store's integrity check found: `OK`; `DAMAGED` (the details are its findings);
 * `TIMED_OUT` (not finished within its bound: not checked); `FAILED` (the check itself could
 * not run, for a reason other than damage: not checked); `NOT_APPLICABLE` (the store checks
 * itself and this app has no check of its own to run on it: the details say what it does).
 */
export const INTEGRITY_STATUSES = ['OK', 'DAMAGED', 'TIMED_OUT', 'FAILED', 'NOT_APPLICABLE'] as const;
export type IntegrityStatus = (typeof INTEGRITY_STATUSES)[number];

export interface IntegrityReport {
  status: IntegrityStatus;
  /** What the check said: its findings when damaged, why it did not finish, or why it does not apply. */
  details: string[];
  milliseconds: number;
}

/** Which store a damage is in, as the caller is told (`reason` of the UNAVAILABLE answer). */
export type StoreDamageReason = 'EVENT_STORE_DAMAGED' | 'READ_STORE_DAMAGED';

/** What the operator does about it: the log is the only source of truth; read models are rebuilt from it. */
const REMEDY: Record<StoreDamageReason, string> = {
  EVENT_STORE_DAMAGED: 'Stop Drydock and restore the event log (events.db) from a backup; the read models are rebuilt from it at the next start.',
  READ_STORE_DAMAGED:
    'The read models are rebuilt from the event log: restart Drydock (its start-up check sets a damaged read.db aside), or stop it and move read.db away.',
};

/**
 * A store found damaged (SQLite's SQLITE_CORRUPT or SQLITE_NOTADB on a read or a write, or its
 * integrity check): the same request fails again until an operator acts, so it is no retry's to
 * mend. Thrown by the adapters, in the ports' terms; an adapter that has seen it fails its `ping`
 * with it from then on (the instance is not ready).
 */
export class StoreDamagedError extends Error {
  constructor(
    readonly reason: StoreDamageReason,
    /** The store, as its `description` names it. */
    readonly store: string,
    /** What the store said. */
    readonly detail: string,
  ) {
    super(`the ${reason === 'EVENT_STORE_DAMAGED' ? 'event' : 'read'} store is damaged (${store}: ${detail}). ${REMEDY[reason]}`);
    this.name = 'StoreDamagedError';
  }
}
