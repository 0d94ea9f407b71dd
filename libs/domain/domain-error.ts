/**
 * A rule of the business said no. `kind` says what sort of no (the API maps it to a status in one
 * place); `code` is the stable snake_case name clients match on; `message` is a sentence a person can
 * act on.
 */
export type DomainErrorKind = 'not_found' | 'conflict' | 'invalid' | 'forbidden' | 'precondition_failed';

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    readonly code: string,
    message: string,
    readonly details: ReadonlyArray<Record<string, unknown>> = [],
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (code: string, message: string) => new DomainError('not_found', code, message);
export const conflict = (code: string, message: string) => new DomainError('conflict', code, message);
export const invalid = (code: string, message: string) => new DomainError('invalid', code, message);
export const forbidden = (code: string, message: string) => new DomainError('forbidden', code, message);
