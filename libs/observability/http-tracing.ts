import { Context, SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import { contextOfTraceparent, tracer } from './tracing';

const TRACE_CONTEXT = Symbol('traceContext');

interface TracedResponse extends Response {
  [TRACE_CONTEXT]?: Context;
}

/**
 * The request's server span, continuing an incoming W3C `traceparent`. Named by route template at
 * the end (never the raw path). Started first thing; `continueRequestTrace` re-enters it after the
 * body parsers, whose stream callbacks run outside the request's async context.
 */
export function startRequestSpan(request: Request, response: Response, next: NextFunction): void {
  const parent = contextOfTraceparent(request.headers.traceparent);
  const span = tracer().startSpan(
    request.method,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'url.path': request.path } },
    parent,
  );
  const spanContext = trace.setSpan(parent, span);
  (response as TracedResponse)[TRACE_CONTEXT] = spanContext;
  response.on('finish', () => {
    const route = (request.route as { path?: string } | undefined)?.path;
    if (route) span.updateName(`${request.method} ${route}`);
    span.setAttribute('http.response.status_code', response.statusCode);
    if (route) span.setAttribute('http.route', route);
    if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  context.with(spanContext, next);
}

export function continueRequestTrace(_request: Request, response: Response, next: NextFunction): void {
  const spanContext = (response as TracedResponse)[TRACE_CONTEXT];
  if (spanContext) context.with(spanContext, next);
  else next();
}

