import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Inject } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ThrottlerException } from '@nestjs/throttler';
import type { Logger } from 'pino';
import { DomainError, DomainErrorKind } from '../../../libs/domain/domain-error';
import { EventStoreUnavailable } from '../../../libs/event-store/event-store.port';
import { isConnectionError } from '../../../libs/event-store/postgres/connection-errors';
import { errorBody } from './error-body';
import { HttpRequest, pathOf } from './http-types';
import { requestIdOf } from './request-context';
import { RequestValidationError } from './request-errors';
import { LOGGER } from './tokens';

const STATUS_BY_KIND: Record<DomainErrorKind, number> = {
  not_found: HttpStatus.NOT_FOUND,
  conflict: HttpStatus.CONFLICT,
  invalid: HttpStatus.UNPROCESSABLE_ENTITY,
  forbidden: HttpStatus.FORBIDDEN,
  precondition_failed: HttpStatus.PRECONDITION_FAILED,
};

const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'validation_failed',
  429: 'rate_limited',
  503: 'service_unavailable',
};

/** Body errors Fastify raises before a route runs, as the error body says them. */
const FASTIFY_BODY_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large', message: 'The request body is larger than the server accepts.' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'bad_request', message: 'The request body does not match its Content-Length.' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type', message: 'The request body encoding is not supported.' },
};

function fastifyBodyError(exception: unknown): { status: number; code: string; message: string } | undefined {
  if (!(exception instanceof Error) || !('code' in exception) || typeof exception.code !== 'string') return undefined;
  return Object.hasOwn(FASTIFY_BODY_ERRORS, exception.code) ? FASTIFY_BODY_ERRORS[exception.code] : undefined;
}

interface MappedError {
  status: number;
  body: ReturnType<typeof errorBody>;
  headers?: Record<string, string>;
}

/** The one place where errors become HTTP: domain kinds, validation, auth, limits, outages. */
function mapError(exception: unknown): MappedError {
  if (exception instanceof DomainError) {
    return { status: STATUS_BY_KIND[exception.kind], body: errorBody(exception.code, exception.message, exception.details) };
  }
  if (exception instanceof RequestValidationError) {
    return {
      status: 422,
      body: errorBody('validation_failed', `The request is invalid: ${exception.message}.`, exception.details),
    };
  }
  if (exception instanceof ThrottlerException) {
    return { status: 429, body: errorBody('rate_limited', 'Too many requests; slow down and retry shortly.'), headers: { 'Retry-After': '1' } };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const fromResponse = typeof response === 'object' && response !== null ? (response as { code?: string; message?: unknown }) : {};
    const message =
      typeof fromResponse.message === 'string' ? fromResponse.message : typeof response === 'string' ? response : exception.message;
    return { status, body: errorBody(fromResponse.code ?? CODE_BY_STATUS[status] ?? 'error', message) };
  }
  const bodyError = fastifyBodyError(exception);
  if (bodyError) return { status: bodyError.status, body: errorBody(bodyError.code, bodyError.message) };
  if (exception instanceof EventStoreUnavailable || isConnectionError(exception) || isConnectionError((exception as { driverError?: unknown })?.driverError)) {
    return {
      status: 503,
      body: errorBody('service_unavailable', 'The database is unavailable right now; retry in a few seconds.'),
      headers: { 'Retry-After': '5' },
    };
  }
  return { status: 500, body: errorBody('internal_error', 'Something went wrong on our side; the error has been logged.') };
}

@Catch()
export class ErrorFilter implements ExceptionFilter {
  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response: unknown = http.getResponse();
    const request = http.getRequest<HttpRequest>();
    const adapter = this.adapterHost.httpAdapter;
    const mapped = mapError(exception);
    if (mapped.status >= 500) {
      // Method, route path (never the query: it may carry a token) and request id find the request's line.
      this.logger.error(
        {
          err: exception instanceof Error ? { message: exception.message, stack: exception.stack } : exception,
          method: request.method,
          path: pathOf(request),
          request_id: requestIdOf(request),
          status: mapped.status,
        },
        'request failed',
      );
    }
    if (adapter.isHeadersSent(response)) return;
    for (const [name, value] of Object.entries(mapped.headers ?? {})) adapter.setHeader(response, name, value);
    adapter.reply(response, mapped.body, mapped.status);
  }
}
