/** Domain errors carry a stable code, mapped to HTTP statuses and bus outcomes in one place each. */
export type DomainErrorCode = 'ILLEGAL_TRANSITION' | 'INVALID_WINDOW' | 'INVALID_DURATION';

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
