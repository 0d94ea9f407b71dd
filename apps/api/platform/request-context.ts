import { createHash, randomUUID } from 'node:crypto';
import { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { CommandContext } from '../../../libs/application/command-runner';
import { DomainError } from '../../../libs/domain/domain-error';
import { Principal, actorOf } from '../auth/principal';
import { parseIfMatch } from './command-response';
import { HttpRequest, pathOf } from './http-types';

/** Builds a command's context from the HTTP request: actor, correlation, idempotency, If-Match. */
export function commandContext(request: HttpRequest, principal: Principal, now = new Date()): CommandContext {
  const key = header(request, 'idempotency-key');
  if (key !== undefined && (key.length < 1 || key.length > 200)) {
    throw new DomainError('invalid', 'invalid_idempotency_key', 'Idempotency-Key must be 1 to 200 characters long.');
  }
  const ifMatch = parseIfMatch(header(request, 'if-match'));
  if (ifMatch !== undefined && Number.isNaN(ifMatch)) {
    throw new DomainError('precondition_failed', 'invalid_if_match', 'If-Match must be a quoted stream revision such as "3".');
  }
  return {
    actor: actorOf(principal),
    correlationId: correlationIdOf(request),
    // An organisation id never contains a `:`, so no tenant can reach an internal component's scope.
    idempotencyScope: principal.organizationId,
    idempotencyKey: key ?? null,
    requestHash: key !== undefined ? requestHash(request) : null,
    expectedRevision: ifMatch,
    now: now.toISOString(),
  };
}

function requestHash(request: HttpRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${pathOf(request)}\n${JSON.stringify(request.body ?? null)}`)
    .digest('hex');
}

/** Ids a client may choose: short, printable, no separators that could forge a log field. */
const WELL_FORMED_ID = /^[A-Za-z0-9._:-]{1,128}$/;

interface IdentifiedRequest {
  headers: IncomingHttpHeaders;
  requestId?: string;
}

/** The node request under an adapter's wrapper: the id is kept there, where every layer finds it. */
function identifiedOf(request: IdentifiedRequest | HttpRequest): IdentifiedRequest {
  return 'raw' in request && request.raw instanceof IncomingMessage ? request.raw : request;
}

/**
 * Gives each request its id first thing: an incoming `X-Request-Id` when well-formed, else a new
 * one, echoed as `X-Request-Id` (see the HTTP setup). The correlation id (event metadata) defaults to the request id, so
 * a log line and the events the request appended point at each other.
 */
export function requestIdOf(request: IdentifiedRequest | HttpRequest): string {
  const identified = identifiedOf(request);
  if (identified.requestId) return identified.requestId;
  const incoming = header(request, 'x-request-id');
  identified.requestId = incoming !== undefined && WELL_FORMED_ID.test(incoming) ? incoming : randomUUID();
  return identified.requestId;
}

export function correlationIdOf(request: IdentifiedRequest | HttpRequest): string {
  const correlation = header(request, 'x-correlation-id');
  return correlation && correlation.length <= 200 ? correlation : requestIdOf(request);
}

function header(request: { headers: IncomingHttpHeaders }, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
