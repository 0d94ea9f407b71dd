import { AddressInfo } from 'node:net';
import { INestApplication } from '@nestjs/common';
import { createApi } from '../../apps/api/create-api';
import { loadConfig } from '../../libs/config/app-config';
import { Infrastructure, createInfrastructure } from '../../libs/infrastructure/infrastructure';
import { rebuildProjection } from '../../libs/projection-engine/rebuild';
import { verifyProjection } from '../../libs/projection-engine/verify';
import { catalogProjection } from '../../projections/catalog.projection';
import { providerInstallCountsProjection } from '../../projections/provider-install-counts.projection';
import { installedProvidersProjection } from '../../projections/installed-providers.projection';
import { PROJECTIONS } from '../../projections/projections';
import { EventStoreDbTestDouble } from '../support/eventstoredb-test-double/eventstoredb-test-double';
import { TestApp, TestResponse, startTestApp } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';

/**
 * Read-your-writes by default: a write acknowledged by one API replica is visible at once on another
 * (same database, no sleep, no min_position), on PostgreSQL (read models written in the append's
 * transaction) and on EventStoreDB (the command waits for the read models).
 */

interface Replica {
  infrastructure: Infrastructure;
  request(method: string, path: string, options: { key: string; body?: unknown }): Promise<TestResponse>;
  close(): Promise<void>;
}

/** A second API process's worth: its own infrastructure and pool on the first one's database. */
async function secondReplica(databaseUrl: string, env: Record<string, string> = {}): Promise<Replica> {
  const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '1000000', ...env, DATABASE_URL: databaseUrl });
  const infrastructure = await createInfrastructure(config, 'replica-b');
  const app: INestApplication = await createApi(infrastructure);
  await app.listen(0, '127.0.0.1');
  const baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  return {
    infrastructure,
    async request(method, path, options) {
      const headers: Record<string, string> = { authorization: `Bearer ${options.key}` };
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(`${baseUrl}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined, text };
    },
    async close() {
      await app.close();
      await infrastructure.close();
    },
  };
}

const wheel = (name: string, version: string) => `https://files.example.com/${name.replace('/', '_')}-${version}-py3-none-any.whl`;

/** publish → get, install → list, upgrade → get, uninstall → list: each read on the other replica. */
async function writeHereReadThere(a: TestApp, b: Replica, key: string, provider: string): Promise<void> {
  const published = await a.request('POST', '/provider-versions', { key, body: { name: provider, version: '1.0.0', wheel_url: wheel(provider, '1.0.0') } });
  expect(published.status).toBe(201);
  const [prefix, name] = provider.split('/');
  expect((await b.request('GET', `/providers/${prefix}/${name}`, { key })).status).toBe(200);
  expect((await b.request('GET', `/providers/${prefix}/${name}/versions`, { key })).text).toContain('1.0.0');

  const second = await b.request('POST', '/provider-versions', { key, body: { name: provider, version: '2.0.0', wheel_url: wheel(provider, '2.0.0') } });
  expect(second.status).toBe(201);
  const installed = await b.request('POST', '/providers/install', { key, body: { provider_name: provider, version: '1.0.0' } });
  expect(installed.status).toBe(201);
  const listed = await a.request('GET', '/providers/installed', { key });
  expect(listed.text).toContain(`"${name}"`);

  const upgraded = await a.request('POST', `/providers/installed/${prefix}/${name}/upgrade`, { key, body: { version: '2.0.0' } });
  expect(upgraded.status).toBe(200);
  expect((await b.request('GET', `/providers/installed/${prefix}/${name}`, { key })).body).toMatchObject({ installed_version: '2.0.0' });

  const uninstalled = await b.request('DELETE', `/providers/installed/${prefix}/${name}`, { key });
  expect(uninstalled.status).toBeLessThan(300);
  const after = await a.request('GET', `/providers/installed/${prefix}/${name}`, { key });
  expect(after.status === 404 || after.body?.lifecycle_state === 'deleting').toBe(true);
}

describe('read-your-writes across API replicas on PostgreSQL', () => {
  let a: TestApp;
  let b: Replica;

  beforeAll(async () => {
    a = await startTestApp();
    b = await secondReplica(a.db.url);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('writes the read models in the append transaction', () => {
    expect([...(a.infrastructure.eventStore.inlineProjections ?? [])].sort()).toEqual(PROJECTIONS.map((p) => p.name).sort());
  });

  it('a write acknowledged by one replica is read at once on the other, without min_position', async () => {
    const key = await a.createKey('ryw', ['publish', 'install', 'read']);
    await writeHereReadThere(a, b, key, 'ryw/postgres');
  });

  it('concurrent installs of one provider by many tenants count exactly', async () => {
    const publisher = await a.createKey('pub', ['publish', 'read']);
    const published = await a.request('POST', '/provider-versions', { key: publisher, body: { name: 'pub/cache', version: '1.0.0', wheel_url: wheel('pub/cache', '1.0.0') } });
    expect(published.status).toBe(201);
    const tenants = Array.from({ length: 24 }, (_, i) => `tenant${i}`);
    const keys = await Promise.all(tenants.map((tenant) => a.createKey(tenant, ['install', 'read'])));
    const answers = await Promise.all(
      keys.map((key, i) => (i % 2 ? a : b).request('POST', '/providers/install', { key, body: { provider_name: 'pub/cache', version: '1.0.0' } })),
    );
    expect(answers.map((r) => r.status)).toEqual(keys.map(() => 201));
    const { rows } = await a.db.pool.query<{ install_count: number }>(`SELECT install_count FROM provider_install_counts WHERE prefix = 'pub' AND name = 'cache'`);
    expect(rows[0].install_count).toBe(tenants.length);
  });

  it('rebuilds under concurrent inline writes lose and double nothing, and verify clean', async () => {
    const key = await a.createKey('busy', ['publish', 'install', 'read']);
    for (let i = 0; i < 30; i++) {
      const body = { name: `busy/p${i}`, version: '1.0.0', wheel_url: wheel(`busy/p${i}`, '1.0.0') };
      expect((await a.request('POST', '/provider-versions', { key, body })).status).toBe(201);
    }
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      for (let i = 0; writing || i < 30; i++) {
        const replica = i % 2 ? a : b;
        const answer = await replica.request('POST', '/providers/install', { key, body: { provider_name: `busy/p${i % 30}`, version: '1.0.0' } });
        if (i < 30) expect(answer.status).toBe(201);
        else await replica.request('DELETE', `/providers/installed/busy/p${i % 30}`, { key });
        if (i >= 60) break;
        writes++;
      }
    })();
    const deps = { pool: a.db.pool, eventStore: a.infrastructure.eventStore, checkpoints: a.infrastructure.checkpoints };
    const reports = await Promise.all(
      [catalogProjection, providerInstallCountsProjection, installedProvidersProjection].map((p) => rebuildProjection(deps, p, { batchSize: 7 })),
    );
    writing = false;
    await writer;
    expect(writes).toBeGreaterThan(0);
    expect(reports.every((r) => !r.aborted)).toBe(true);
    for (const projection of PROJECTIONS) {
      const report = await verifyProjection(deps, projection, { batchSize: 11 });
      expect({ name: projection.name, verified: report.verified, differences: report.differences }).toEqual({ name: projection.name, verified: true, differences: [] });
    }
  });
});

describe('read-your-writes across API replicas on EventStoreDB (test double)', () => {
  let double: EventStoreDbTestDouble;
  let connectionString: string;
  let a: TestApp;
  let b: Replica;

  beforeAll(async () => {
    double = new EventStoreDbTestDouble();
    ({ connectionString } = await double.start());
    a = await startTestApp({ EVENTSTORE_URL: connectionString });
    b = await secondReplica(a.db.url, { EVENTSTORE_URL: connectionString });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await double?.stop();
  });

  it('a command answers once the read models have its write: the other replica reads it at once', async () => {
    const key = await a.createKey('esdb', ['publish', 'install', 'read']);
    await writeHereReadThere(a, b, key, 'esdb/postgres');
  });

  it('past READ_MODEL_WAIT_MS a command still answers 2xx and names the read models behind', async () => {
    const key = await a.createKey('late', ['publish', 'read']);
    // A replica whose read models live in a database no projection runner feeds: always behind. Its
    // api_keys table gets the key's row copied, so that it can authenticate the request.
    const db = await createTestDatabase('e2e');
    const lonely = await secondReplica(db.url, { EVENTSTORE_URL: connectionString, READ_MODEL_WAIT_MS: '50' });
    try {
      const { rows } = await a.db.pool.query<{ row: unknown }>(`SELECT to_jsonb(t) AS row FROM api_keys t WHERE org = 'late'`);
      await db.pool.query('INSERT INTO api_keys SELECT * FROM jsonb_populate_record(null::api_keys, $1)', [rows[0].row]);
      const started = Date.now();
      const published = await lonely.request('POST', '/provider-versions', { key, body: { name: 'late/db', version: '1.0.0', wheel_url: wheel('late/db', '1.0.0') } });
      expect(published.status).toBe(201);
      expect(Date.now() - started).toBeGreaterThanOrEqual(50);
      expect(published.headers.get('x-read-model-lagging')?.split(',')).toEqual(expect.arrayContaining(['catalog', 'provider-versions']));
      // On the replica whose runners keep up, the same kind of write answers with nothing behind.
      const onTime = await a.request('POST', '/provider-versions', { key, body: { name: 'late/db', version: '2.0.0', wheel_url: wheel('late/db', '2.0.0') } });
      expect(onTime.status).toBe(201);
      expect(onTime.headers.get('x-read-model-lagging')).toBeNull();
    } finally {
      await lonely.close();
      await db.drop();
    }
  });
});
