import { ValidationError } from 'class-validator';

/** A request the server understood but whose fields break the contract: 422 with every problem listed. */
export class RequestValidationError extends Error {
  constructor(readonly details: Array<{ field: string; constraint: string; message: string; value_type: string }>) {
    super(details.map((d) => d.message).join('; '));
    this.name = 'RequestValidationError';
  }
}

export function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'object' ? 'object' : typeof value;
}

export function flattenValidationErrors(errors: ValidationError[], parent = ''): RequestValidationError['details'] {
  const out: RequestValidationError['details'] = [];
  for (const error of errors) {
    const field = parent ? `${parent}.${error.property}` : error.property;
    for (const [constraint, message] of Object.entries(error.constraints ?? {})) {
      out.push({
        field,
        constraint,
        message: constraint === 'whitelistValidation' ? `${field} is not a known field` : message,
        value_type: jsonTypeOf(error.value),
      });
    }
    if (error.children?.length) out.push(...flattenValidationErrors(error.children, field));
  }
  return out;
}
