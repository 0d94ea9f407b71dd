import { HttpRequest, HttpResponse } from './http-types';
import { pageOf } from './path-params';

/** The largest `limit` a paged route accepts (see `pageOf`). */
const MAX_LIMIT = 100;

/** Which part of a list to answer: all of it (limit null) unless the client gives a limit. */
export interface ListWindow {
  limit: number | null;
  offset: number;
}

/**
 * A JSON-array list is complete unless `limit` is given (the SDK reads one array and ignores any
 * total); `limit` 1–100 and `offset` ≥ 0 are checked as every paged route checks them.
 */
export function listWindowOf(query: Record<string, unknown>): ListWindow {
  const { limit, offset } = pageOf(query);
  return { limit: query.limit === undefined ? null : limit, offset };
}

/**
 * `X-Total-Count`, and RFC 8288 `Link` relations `next` / `prev` when the window leaves items out on
 * either side. The links repeat the request's own query with only `limit`/`offset` changed.
 */
export function setListHeaders(request: HttpRequest, response: HttpResponse, window: ListWindow, total: number): void {
  response.header('X-Total-Count', String(total));
  const links: string[] = [];
  if (window.limit !== null && window.offset + window.limit < total) links.push(link(request, window.limit, window.offset + window.limit, 'next'));
  if (window.offset > 0) {
    // Without a limit the previous page is what the offset skipped, in pages a limit may ask for.
    const size = window.limit ?? Math.min(window.offset, MAX_LIMIT);
    links.push(link(request, size, Math.max(0, window.offset - size), 'prev'));
  }
  if (links.length > 0) response.header('Link', links.join(', '));
}

function link(request: HttpRequest, limit: number, offset: number, rel: 'next' | 'prev'): string {
  const url = new URL(request.originalUrl, 'http://placeholder');
  url.searchParams.set('limit', String(limit));
  url.searchParams.set('offset', String(offset));
  return `<${url.pathname}${url.search}>; rel="${rel}"`;
}

/** The OpenAPI description of the headers `setListHeaders` sets. */
export const LIST_HEADERS = {
  'X-Total-Count': { description: 'Number of matching items, whatever the window' },
  Link: { description: 'RFC 8288 relations `next` and `prev` (the same query, another limit/offset) when items lie outside the window' },
};
