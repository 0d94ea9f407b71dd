import { startInstaller, RunningInstaller } from '../../apps/installer/installer';
import { installedProvidersProjection } from '../../projections/installed-providers.projection';
import { rebuildProjection } from '../../libs/projection-engine/rebuild';
import { EventStoreDbEventStore } from '../../libs/event-store/eventstoredb/eventstoredb-event-store';
import { EventStoreDbTestDouble } from '../support/eventstoredb-test-double/eventstoredb-test-double';
import { TestApp, startTestApp } from '../support/test-app';

/**
 * The whole app configured for EventStoreDB (EVENTSTORE_URL pointing at the gRPC protocol test
 * double): projections, installer and checkpoints run on commit/prepare positions.
 */
describe(`the app on the EventStoreDB adapter (${process.env.TEST_KURRENTDB_URL ? 'a real KurrentDB from testcontainers' : 'via the gRPC test double'})`, () => {
  let double: EventStoreDbTestDouble | undefined;
  let t: TestApp;
  let installer: RunningInstaller;

  beforeAll(async () => {
    // The real KurrentDB `npm test` started when a container engine answered, else the test double.
    let connectionString = process.env.TEST_KURRENTDB_URL;
    if (!connectionString) {
      double = new EventStoreDbTestDouble();
      ({ connectionString } = await double.start());
    }
    t = await startTestApp({ EVENTSTORE_URL: connectionString, REGISTRATION_TIMEOUT_MS: '20000' });
    installer = await startInstaller(t.infrastructure, { storeUrl: t.baseUrl });
  });
  afterAll(async () => {
    await installer?.stop();
    await t?.close();
    await double?.stop();
  });

  async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (done(value) || Date.now() > deadline) return value;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('publish → install → ready → upgrade → ready, then a projection rebuild restores identical rows', async () => {
    expect(t.infrastructure.eventStore).toBeInstanceOf(EventStoreDbEventStore);
    const key = await t.createKey('acme', ['publish', 'install', 'read']);
    for (const version of ['1.0.0', '2.0.0']) {
      const published = await t.request('POST', '/provider-versions', {
        key,
        body: { name: 'acme/postgres', version, wheel_url: `https://files.example.com/acme_postgres-${version}-py3-none-any.whl` },
      });
      expect(published.status).toBe(201);
      expect(published.headers.get('x-position')).toMatch(/^\d+:\d+$/);
    }
    const installed = await t.request('POST', '/providers/install', { key, body: { provider_name: 'acme/postgres', version: '1.0.0' } });
    expect(installed.status).toBe(201);
    const get = () => t.request('GET', '/providers/installed/acme/postgres', { key });
    const ready = await waitFor(get, (r) => r.body?.lifecycle_state === 'ready');
    expect(ready.body).toMatchObject({ lifecycle_state: 'ready', current_version: '1.0.0', health: 'healthy' });

    const upgraded = await t.request('POST', '/providers/installed/acme/postgres/upgrade', { key, body: { version: '2.0.0' } });
    expect(upgraded.status).toBe(200);
    const after = await waitFor(get, (r) => r.body?.current_version === '2.0.0' && r.body?.lifecycle_state === 'ready');
    expect(after.body).toMatchObject({ lifecycle_state: 'ready', installed_version: '2.0.0', current_version: '2.0.0' });

    const snapshot = async () =>
      (await t.db.pool.query(`SELECT to_jsonb(t) AS row FROM installed_providers t ORDER BY tenant, prefix, name`)).rows;
    const before = await snapshot();
    await t.db.pool.query('TRUNCATE installed_providers');
    const report = await rebuildProjection(
      { pool: t.db.pool, eventStore: t.infrastructure.eventStore, checkpoints: t.infrastructure.checkpoints },
      installedProvidersProjection,
    );
    expect(report.events).toBeGreaterThan(0);
    expect(await snapshot()).toEqual(before);
    const history = await t.request('GET', '/providers/installed/acme/postgres/history', { key });
    expect(history.body.items.map((i: { type: string }) => i.type)).toEqual(
      expect.arrayContaining(['InstallRequested', 'DeployStarted', 'RegistrationReceived', 'UpgradeRequested']),
    );
  });
});
