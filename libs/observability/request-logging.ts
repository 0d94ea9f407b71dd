import { RequestMethod } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';
import type { Logger } from 'pino';
import { correlationIdOf, requestIdOf } from '../../apps/api/platform/request-context';

/**
 * One log line per request through nestjs-pino (pino-http), on the process logger, so its redact
 * paths (authorization, registration tokens) apply. Each line carries the request id (echoed as
 * `X-Request-Id`) and the correlation id that goes into the metadata of the events it appends.
 */
export function requestLoggingParams(logger: Logger): Params {
  return {
    forRoutes: [{ path: '{*path}', method: RequestMethod.ALL }],
    pinoHttp: {
      logger,
      genReqId: (req: IncomingMessage) => requestIdOf(req),
      customProps: (req: IncomingMessage) => ({ correlation_id: correlationIdOf(req) }),
      customLogLevel: (_req: IncomingMessage, res: ServerResponse, error?: Error) =>
        error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
      // Headers and remote ports are noise at this volume; method, url and id say which request it was.
      serializers: {
        req: (req: { id?: unknown; method?: string; url?: string }) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      },
    },
  };
}
