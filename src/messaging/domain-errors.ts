/**
 * Typed domain errors. Each carries the GraphQL error code it maps to
 * (ARCHITECTURE rule 6); the message is written for the caller.
 */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'FAILED_PRECONDITION'
  | 'FORBIDDEN'
  | 'UNAUTHENTICATED'
  | 'UNAVAILABLE';

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input; `field` names the offending input field. */
export class BadInputError extends DomainError {
  readonly code = 'BAD_USER_INPUT' as const;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`, { field });
  }
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND' as const;
}

export class ConflictError extends DomainError {
  readonly code = 'CONFLICT' as const;
}

export class FailedPreconditionError extends DomainError {
  readonly code = 'FAILED_PRECONDITION' as const;
}

export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN' as const;
}

export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED' as const;
}

/**
 * Not now, try again: a read model being rebuilt, a store out of space. `retryable` is in the
 * details, with what the caller needs to know (which read model, how far its rebuild is).
 */
export class UnavailableError extends DomainError {
  readonly code = 'UNAVAILABLE' as const;
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, { retryable: true, ...details });
  }
}
