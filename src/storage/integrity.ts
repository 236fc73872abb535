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
