import { Context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
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
