import { AddressInfo } from 'node:net';
import { INestApplication } from '@nestjs/common';
import { createApi } from '../../apps/api/create-api';
import { loadConfig } from '../../libs/config/app-config';
import { Infrastructure, createInfrastructure } from '../../libs/infrastructure/infrastructure';
import { TestApp, TestResponse } from './test-app';

/** A client of one API process: what `TestApp.request` is for the first. */
export type Send = TestApp['request'];

export interface ApiReplica {
  baseUrl: string;
  request: Send;
  close(): Promise<void>;
}

/**
 * A second API process on the first one's databases (its own pool and event-store connection, no
 * projections or process managers of its own), as a second replica behind a load balancer would be.
 */
export async function startApiReplica(first: TestApp, env: Record<string, string> = {}): Promise<ApiReplica> {
  const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '1000000', ...env, DATABASE_URL: first.db.url });
  const infrastructure: Infrastructure = await createInfrastructure(config, 'e2e-replica');
  const app: INestApplication = await createApi(infrastructure);
  await app.listen(0, '127.0.0.1');
  const baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  return {
    baseUrl,
    request: (method, path, options = {}) => send(baseUrl, method, path, options),
    async close() {
      await app.close();
      await infrastructure.close();
    },
  };
}

async function send(baseUrl: string, method: string, path: string, options: Parameters<Send>[2] = {}): Promise<TestResponse> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}
