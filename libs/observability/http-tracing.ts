import { Context, SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import { contextOfTraceparent, tracer } from './tracing';

/** A request's server span: the context to run the request in, and how to end it once answered. */
export interface RequestSpan {
  context: Context;
  /** Names the span by route template (never the raw path) when the route is known. */
  end(route: string | undefined, status: number): void;
}

/** Starts the request's server span, continuing an incoming W3C `traceparent`. */
export function startRequestSpan(method: string, path: string, traceparent: string | string[] | undefined): RequestSpan {
  const parent = contextOfTraceparent(traceparent);
  const span = tracer().startSpan(method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': path } }, parent);
  return {
    context: trace.setSpan(parent, span),
    end(route, status) {
      if (route) {
        span.updateName(`${method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    },
  };
}

const TRACE_CONTEXT = Symbol('traceContext');

interface TracedResponse extends Response {
  [TRACE_CONTEXT]?: Context;
}

/**
 * Express: the span starts first thing; `continueExpressTrace` re-enters it after the body parsers,
 * whose stream callbacks run outside the request's async context.
 */
export function startExpressTrace(request: Request, response: Response, next: NextFunction): void {
  const span = startRequestSpan(request.method, request.path, request.headers.traceparent);
  (response as TracedResponse)[TRACE_CONTEXT] = span.context;
  response.on('finish', () => span.end((request.route as { path?: string } | undefined)?.path, response.statusCode));
  context.with(span.context, next);
}

export function continueExpressTrace(_request: Request, response: Response, next: NextFunction): void {
  const spanContext = (response as TracedResponse)[TRACE_CONTEXT];
  if (spanContext) context.with(spanContext, next);
  else next();
}
