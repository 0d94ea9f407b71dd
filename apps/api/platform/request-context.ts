import { createHash, randomUUID } from 'node:crypto';
import type { Request } from 'express';
import { CommandContext } from '../../../libs/application/command-runner';
import { DomainError } from '../../../libs/domain/domain-error';
import { Principal, actorOf } from '../auth/principal';
import { parseIfMatch } from './command-response';

/** Builds a command's context from the HTTP request: actor, correlation, idempotency, If-Match. */
export function commandContext(request: Request, principal: Principal, now = new Date()): CommandContext {
  const key = header(request, 'idempotency-key');
  if (key !== undefined && (key.length < 1 || key.length > 200)) {
    throw new DomainError('invalid', 'invalid_idempotency_key', 'Idempotency-Key must be 1 to 200 characters long.');
  }
  const ifMatch = parseIfMatch(header(request, 'if-match'));
  if (ifMatch !== undefined && Number.isNaN(ifMatch)) {
    throw new DomainError('precondition_failed', 'invalid_if_match', 'If-Match must be a quoted stream revision such as "3".');
  }
  const correlation = header(request, 'x-correlation-id');
  return {
    actor: actorOf(principal),
    correlationId: correlation && correlation.length <= 200 ? correlation : randomUUID(),
    // An organisation id never contains a `:`, so no tenant can reach an internal component's scope.
    idempotencyScope: principal.organizationId,
    idempotencyKey: key ?? null,
    requestHash: key !== undefined ? requestHash(request) : null,
    expectedRevision: ifMatch,
    now: now.toISOString(),
  };
}

function requestHash(request: Request): string {
  return createHash('sha256')
    .update(`${request.method} ${request.path}\n${JSON.stringify(request.body ?? null)}`)
    .digest('hex');
}

function header(request: Request, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
