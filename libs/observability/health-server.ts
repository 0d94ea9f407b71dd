import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { metricsExposition } from './metrics';
import { refreshProcessMetrics } from './process-metrics';
import { ReadinessReport } from './readiness';

export interface HealthServerOptions {
  port: number;
  host: string;
  logger: Logger;
  readiness: () => Promise<ReadinessReport>;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/**
 * `/health/live`, `/health/ready` and `/metrics` for a process with no HTTP API of its own (the
 * installer, the projections): plain node:http, so that probing it needs nothing the process
 * does not already run. Anything else is a 404; only GET is served.
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server = createServer((request, response) => {
    void serve(request, response, options).catch((error: unknown) => {
      options.logger.error({ err: error instanceof Error ? error.message : String(error), path: request.url }, 'health endpoint failed');
      if (!response.headersSent) send(response, 500, { status: 'error' });
    });
  });
  await listen(server, options.port, options.host);
  const port = (server.address() as AddressInfo).port;
  options.logger.info({ port }, 'health and metrics listening');
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function serve(request: IncomingMessage, response: ServerResponse, options: HealthServerOptions): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  if (request.method !== 'GET') return send(response, 405, { status: 'error', message: 'Only GET is served here.' });
  if (path === '/health/live') return send(response, 200, { status: 'ok', info: { process: { status: 'up' } } });
  if (path === '/health/ready') {
    const report = await options.readiness();
    return send(response, report.ready ? 200 : 503, { status: report.ready ? 'ok' : 'error', details: report.checks });
  }
  if (path === '/metrics') {
    await refreshProcessMetrics();
    const { contentType, body } = await metricsExposition();
    response.writeHead(200, { 'Content-Type': contentType });
    response.end(body);
    return;
  }
  send(response, 404, { status: 'error', message: 'Not found.' });
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(body));
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
