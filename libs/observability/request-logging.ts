import type { IncomingMessage } from 'node:http';
import type { Level, Logger } from 'pino';
import { correlationIdOf, requestIdOf } from '../../apps/api/platform/request-context';

/** A failed request is an error, a refused one a warning, the rest information. */
function levelOf(statusCode: number): Level {
  return statusCode >= 500 ? 'error' : statusCode >= 400 ? 'warn' : 'info';
}

/**
 * One log line per answered request, on the process logger, so its redact paths (authorization,
 * registration tokens) apply. The line keeps the shape pino-http gave it: `req` (id, method, url),
 * `res` (statusCode), `responseTime` in ms, and the correlation id that goes into the metadata of
 * the events the request appended. Headers and remote ports are noise at this volume.
 */
export function logAnsweredRequest(logger: Logger, request: IncomingMessage, statusCode: number, responseTimeMs: number): void {
  const level = levelOf(statusCode);
  if (!logger.isLevelEnabled(level)) return;
  logger[level](
    {
      req: { id: requestIdOf(request), method: request.method, url: request.url },
      res: { statusCode },
      correlation_id: correlationIdOf(request),
      responseTime: Math.round(responseTimeMs),
    },
    'request completed',
  );
}
