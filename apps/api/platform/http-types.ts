import { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** What routes and guards read of a request (Fastify's request, as Nest hands it to them). */
export interface HttpRequest {
  method: string;
  url: string;
  originalUrl: string;
  headers: IncomingHttpHeaders;
  query: unknown;
  body?: unknown;
  ip?: string;
}

/** What routes set on a response: headers (the adapter writes the body). */
export interface HttpResponse {
  header(name: string, value: string): unknown;
}

/** The request's path without its query string (the wire form, still percent-encoded). */
export function pathOf(request: { url?: string }): string {
  const url = request.url ?? '';
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/** The node request under Fastify's wrapper (`raw`), whose body a route may stream itself. */
export function rawRequestOf(request: HttpRequest): IncomingMessage {
  if ('raw' in request && request.raw instanceof IncomingMessage) return request.raw;
  throw new Error('The request carries no node request to stream its body from');
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
