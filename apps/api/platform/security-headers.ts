import { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import helmet from 'helmet';

/**
 * Helmet's default security headers, worked out once: with fixed options they are the same on every
 * response, and @fastify/helmet would build helmet's middleware (CSP string included) per request.
 * Read off a response that no socket ever sees.
 */
export function securityHeaders(): OutgoingHttpHeaders {
  const response = new ServerResponse(new IncomingMessage(new Socket()));
  let failure: unknown;
  helmet()(response.req, response, (error?: unknown) => {
    failure = error;
  });
  if (failure !== undefined) throw new Error('helmet refused its default options', { cause: failure });
  return response.getHeaders();
}
