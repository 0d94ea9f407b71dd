import { Attributes, Context, Link, ROOT_CONTEXT, Span, SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/**
 * Spans of the control plane: HTTP request → append → log consumer batch → deploy. The W3C trace
 * context of the active span is written into each event's metadata (`trace_context`), so a consumer
 * running later, in another process, continues the request's trace. Without a registered tracer
 * provider (no OTEL_EXPORTER_OTLP_ENDPOINT, see start-tracing.ts) every call here is a no-op.
 */
const TRACER_NAME = 'provider-store';
const w3c = new W3CTraceContextPropagator();

const headerGetter = {
  keys: (carrier: Record<string, string | string[] | undefined>) => Object.keys(carrier),
  get: (carrier: Record<string, string | string[] | undefined>, key: string) => carrier[key],
};

export function tracer() {
  return trace.getTracer(TRACER_NAME);
}

/** The active span's `traceparent` (`tracestate` is not kept: nothing of ours sets one). */
export function activeTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  w3c.inject(context.active(), carrier, {
    set: (into: Record<string, string>, key: string, value: string) => {
      into[key] = value;
    },
  });
  return carrier.traceparent;
}

/** The context a `traceparent` names, or the root context when it is absent or malformed. */
export function contextOfTraceparent(traceparent: string | string[] | undefined | null): Context {
  if (traceparent === undefined || traceparent === null) return ROOT_CONTEXT;
  return w3c.extract(ROOT_CONTEXT, { traceparent }, headerGetter);
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent; the active context when absent. */
  parent?: Context;
  links?: Link[];
}

/** Runs `work` in a new active span, ended when it settles; a rejection marks the span as an error. */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  const parent = options.parent ?? context.active();
  return tracer().startActiveSpan(name, { kind: options.kind, attributes: options.attributes, links: options.links }, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

interface TracedEvent {
  type: string;
  metadata: { trace_context?: string | null };
}

/**
 * A log consumer's batch as a span: its parent is the trace of the batch's first traced event (the
 * request that caused it), and the other traces in the batch are links, so each of them leads here.
 */
export function traceBatch<T>(consumer: string, events: readonly TracedEvent[], work: () => Promise<T>): Promise<T> {
  const traced = events
    .map((e) => trace.getSpanContext(contextOfTraceparent(e.metadata.trace_context)))
    .filter((c) => c !== undefined);
  const [first, ...rest] = traced;
  const parent = first ? trace.setSpanContext(ROOT_CONTEXT, first) : ROOT_CONTEXT;
  const links = rest.filter((c) => c.traceId !== first?.traceId).map((c) => ({ context: c }));
  return inSpan(
    `consume ${consumer}`,
    { kind: SpanKind.CONSUMER, parent, links, attributes: { 'provider_store.consumer': consumer, 'messaging.batch.message_count': events.length } },
    () => work(),
  );
}

/** `{ trace_context }` for a new event's metadata when a span is active, else nothing (no key at all). */
export function traceContextMetadata(): { trace_context?: string } {
  const traceparent = activeTraceparent();
  return traceparent ? { trace_context: traceparent } : {};
}
