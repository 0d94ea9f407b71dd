import { AddressInfo } from 'node:net';
import { INestApplication } from '@nestjs/common';
import { createApi } from '../../apps/api/create-api';
import { Stoppable, startProcessManagers } from '../../apps/process-managers/start-process-managers';
import { startProjections } from '../../libs/projection-engine/start-projections';
import { loadConfig } from '../../libs/config/app-config';
import { ApiKeyScope } from '../../libs/api-keys/api-key';
import { ConsumerRunner } from '../../libs/event-store/consumers/consumer-runner';
import { Infrastructure, createInfrastructure } from '../../libs/infrastructure/infrastructure';
import { TestDatabase, createTestDatabase } from './test-database';
import { createKeyAndWait } from './api-key-fixture';

export interface TestApp {
  baseUrl: string;
  db: TestDatabase;
  infrastructure: Infrastructure;
  app: INestApplication;
  createKey(org: string, scopes: ApiKeyScope[], options?: { platformAdmin?: boolean }): Promise<string>;
  request(method: string, path: string, options?: { key?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<TestResponse>;
  eventCount(): Promise<number>;
  /** Wire position of the newest committed event, whatever other transactions are in flight. */
  lastPosition(): Promise<string>;
  close(): Promise<void>;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON of any route under test
  text: string;
}

/**
 * The real API on a real, fresh PostgreSQL database, listening on a free port, with the projections
 * and process managers running in-process as `npm start` runs them.
 */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const db = await createTestDatabase('e2e');
  const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '1000000', ...env, DATABASE_URL: db.url });
  const infrastructure = await createInfrastructure(config, 'e2e');
  const app = await createApi(infrastructure);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${address.port}`;
  const workers: Array<ConsumerRunner | Stoppable> = [...startProjections(infrastructure), ...startProcessManagers(infrastructure)];

  const request: TestApp['request'] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.key) headers.authorization = `Bearer ${options.key}`;
    let body: string | undefined;
    if (options.rawBody !== undefined) body = options.rawBody;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  };

  return {
    baseUrl,
    db,
    infrastructure,
    app,
    request,
    async createKey(org, scopes, options = {}) {
      return createKeyAndWait(infrastructure.eventStore, db.pool, org, scopes, { platformAdmin: options.platformAdmin, createdBy: 'test' });
    },
    async eventCount() {
      const { rows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM es_events');
      return Number(rows[0].n);
    },
    async lastPosition() {
      const { rows } = await db.pool.query<{ commit: string; global_position: string }>(
        'SELECT transaction_id::text AS commit, global_position FROM es_events ORDER BY transaction_id DESC, global_position DESC LIMIT 1',
      );
      if (!rows[0]) throw new Error('the log is empty');
      return `${rows[0].commit}:${rows[0].global_position}`;
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      await app.close();
      await infrastructure.close();
      await db.drop();
    },
  };
}
