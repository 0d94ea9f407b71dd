import { BadRequestException } from '@nestjs/common';
import { context } from '@opentelemetry/api';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AppConfig } from '../../../libs/config/app-config';
import { RequestSpan, startRequestSpan } from '../../../libs/observability/http-tracing';
import { observabilityMetrics } from '../../../libs/observability/metrics';
import { logAnsweredRequest } from '../../../libs/observability/request-logging';
import { errorBody } from './error-body';
import { pathOf } from './http-types';
import { requestIdOf } from './request-context';
import { securityHeaders } from './security-headers';
import { unstorableTextRefusal } from './storable-text';
import { trustProxySetting } from './trust-proxy';

/**
 * The router refuses a path it cannot decode (`%ZZ`, `%uFF0E`) before any hook runs: answered here
 * with the error body, as bytes so that the media type stays bare (see the preSerialization hook).
 */
function refuseUnreadableUrl(_error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const body = errorBody('bad_request', 'The request URL is not validly percent-encoded.');
  void reply
    .header('X-Request-Id', requestIdOf(request.raw))
    .type('application/json')
    .status(400)
    .send(Buffer.from(JSON.stringify(body)));
}

/**
 * Routing as clients have always seen it: paths match whatever their case or trailing slash, and a
 * long path segment reaches the route (and its validation) instead of a router 404.
 */
export function fastifyAdapter(config: AppConfig): FastifyAdapter {
  return new FastifyAdapter({
    trustProxy: trustProxySetting(),
    bodyLimit: config.bodyLimitBytes,
    routerOptions: { ignoreTrailingSlash: true, caseSensitive: false, maxParamLength: 8192 },
    requestIdHeader: false,
    frameworkErrors: refuseUnreadableUrl,
  });
}

/**
 * JSON read strictly, as the API always has: objects and arrays only, an empty body is `{}`, keys
 * such as `__proto__` stay plain data (validation drops what no DTO declares).
 */
function parseStrictJson(_request: FastifyRequest, text: string | Buffer, done: (error: Error | null, body?: unknown) => void): void {
  const body = typeof text === 'string' ? text : text.toString('utf8');
  const first = /\S/.exec(body)?.[0];
  if (first === undefined) return done(null, {});
  // Built only when refusing: an exception captures a stack trace, a cost every request would pay.
  const refused = () => new BadRequestException({ code: 'malformed_json', message: 'The request body is not valid JSON.' });
  if (first !== '{' && first !== '[') return done(refused());
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return done(refused());
  }
  done(null, parsed);
}

/**
 * Bodies: JSON parsed; multipart left unread for the upload route to stream; any other type
 * ignored (an empty command), as before.
 */
function registerBodyParsers(server: FastifyInstance, config: AppConfig): void {
  server.removeAllContentTypeParsers();
  const json = { parseAs: 'string' as const, bodyLimit: config.bodyLimitBytes };
  server.addContentTypeParser('application/json', json, parseStrictJson);
  server.addContentTypeParser(/^application\/[^;\s]+\+json\b/i, json, parseStrictJson);
  server.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
}

const REQUEST_SPAN = Symbol('requestSpan');

interface TracedRequest extends FastifyRequest {
  [REQUEST_SPAN]?: RequestSpan;
}

/**
 * Per request, in order: helmet's security headers and the request id (echoed), its span
 * (re-entered once the body is parsed, as the parser's stream callbacks run outside the request's
 * async context), the refusal of bodies PostgreSQL cannot store, and on the way out the bare JSON
 * media type, the span's end, the duration metric and the request's log line.
 */
function registerRequestHooks(server: FastifyInstance, logger: Logger): void {
  const duration = observabilityMetrics().httpRequestDuration;
  const security = securityHeaders();
  server.addHook('onRequest', (request: TracedRequest, reply, done) => {
    void reply.headers(security).header('X-Request-Id', requestIdOf(request.raw));
    request[REQUEST_SPAN] = startRequestSpan(request.method, pathOf(request), request.headers.traceparent);
    done();
  });
  server.addHook('preHandler', (request: TracedRequest, reply, done) => {
    // A command with no body (an upgrade to latest, say) is an empty object, not a missing one.
    if (request.body === undefined) request.body = {};
    const refusal = unstorableTextRefusal(pathOf(request), request.query, request.body);
    if (refusal) {
      void reply.status(refusal.status).send(refusal.body);
      return;
    }
    const span = request[REQUEST_SPAN];
    if (span) context.with(span.context, done);
    else done();
  });
  // The platform's SDK reads `application/json` literally and treats a charset parameter as text.
  server.addHook('preSerialization', (_request, reply, payload, done) => {
    const type = reply.getHeader('content-type');
    if (typeof type === 'string' && type.startsWith('application/json;')) reply.header('content-type', 'application/json');
    done(null, payload);
  });
  server.addHook('onResponse', (request: TracedRequest, reply, done) => {
    const route = request.routeOptions.url;
    request[REQUEST_SPAN]?.end(route, reply.statusCode);
    duration.observe({ method: request.method, route: route ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    logAnsweredRequest(logger, request.raw, reply.statusCode, reply.elapsedTime);
    done();
  });
}

/**
 * The HTTP edge: body parsing and the request hooks (security headers among them). Errors raised
 * before a route runs (a body refused) reach ErrorFilter through Nest's Fastify error handler.
 */
export function configureFastify(app: NestFastifyApplication, config: AppConfig, logger: Logger): void {
  const server = app.getHttpAdapter().getInstance();
  registerBodyParsers(server, config);
  registerRequestHooks(server, logger);
}
