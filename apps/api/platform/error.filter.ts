import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Inject } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { DomainError, DomainErrorKind } from '../../../libs/domain/domain-error';
import { EventStoreUnavailable } from '../../../libs/event-store/event-store.port';
import { isConnectionError } from '../../../libs/event-store/postgres/connection-errors';
import { errorBody } from './error-body';
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
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response = http.getResponse<Response>();
    const request = http.getRequest<Request>();
    const mapped = mapError(exception);
    if (mapped.status >= 500) {
      // Method, route path (never the query: it may carry a token) and request id find the request's line.
      this.logger.error(
        {
          err: exception instanceof Error ? { message: exception.message, stack: exception.stack } : exception,
          method: request.method,
          path: request.path,
          request_id: requestIdOf(request),
          status: mapped.status,
        },
        'request failed',
      );
    }
    if (response.headersSent) return;
    for (const [name, value] of Object.entries(mapped.headers ?? {})) response.setHeader(name, value);
    response.status(mapped.status).json(mapped.body);
  }
}
