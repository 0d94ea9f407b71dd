import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { RunningInstaller, startInstaller } from '../../apps/installer/installer';
import { TestApp, TestResponse, startTestApp } from '../support/test-app';

interface Effect {
  installation_id: string;
  generation: number;
  action: string;
  pid?: number;
}

/**
 * The whole loop on one machine, as `npm start` runs it: API, projections, process managers, the
 * installer with the local-process deployer, and the sample runtime registering and beating.
 */
describe('installation loop: deploy, registration, health, auto-upgrades', () => {
  const effectLog = join(tmpdir(), `effects-${randomUUID()}.jsonl`);
  let t: TestApp;
  let installer: RunningInstaller;
  let key: string;

  beforeAll(async () => {
    t = await startTestApp({
      HEARTBEAT_TIMEOUT_MS: '1500',
      WATCHDOG_INTERVAL_MS: '200',
      REGISTRATION_TIMEOUT_MS: '20000',
      DEPLOY_EFFECT_LOG: effectLog,
      RUNTIME_HEARTBEAT_INTERVAL_MS: '200',
      AUTO_UPGRADE_WAVE_INTERVAL_MS: '200',
    });
    installer = await startInstaller(t.infrastructure, { storeUrl: t.baseUrl });
    key = await t.createKey('acme', ['publish', 'install', 'read']);
  });
  afterAll(async () => {
    await installer?.stop();
    await t?.close();
  });

  const effects = (): Effect[] => {
    try {
      return readFileSync(effectLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Effect);
    } catch {
      return [];
    }
  };

  async function until(path: string, done: (body: TestResponse['body']) => boolean, timeoutMs = 20_000): Promise<TestResponse['body']> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await t.request('GET', path, { key });
      if (response.status === 200 && done(response.body)) return response.body;
      if (Date.now() > deadline) throw new Error(`timed out waiting on ${path}: ${response.text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const publish = (name: string, version: string) =>
    t.request('POST', '/provider-versions', { key, body: { name, version, wheel_url: `https://files.example.com/${name.replace('/', '_')}-${version}.whl` } });

  it('goes pending → processing → ready with current_version and a healthy runtime, and reports its rollout', async () => {
    expect((await publish('acme/postgres', '1.0.0')).status).toBe(201);
    expect((await publish('acme/redis', '1.0.0')).status).toBe(201);
    const installed = await t.request('POST', '/providers/install', {
      key,
      body: { provider_name: 'acme/postgres', upgrade_policy: 'auto' },
    });
    expect(installed.status).toBe(201);
    expect(installed.body.lifecycle_state).toBe('pending');
    const manual = await t.request('POST', '/providers/install', { key, body: { provider_name: 'acme/redis' } });
    expect(manual.status).toBe(201);

    const ready = await until('/providers/installed/acme/postgres', (b) => b.lifecycle_state === 'ready');
    expect(ready).toMatchObject({ lifecycle_state: 'ready', current_version: '1.0.0', health: 'healthy', health_message: null });
    await until('/providers/installed/acme/redis', (b) => b.lifecycle_state === 'ready');

    const history = await t.request('GET', '/providers/installed/acme/postgres/history', { key });
    expect(history.body.items.map((i: { type: string }) => i.type)).toEqual(['InstallRequested', 'DeployStarted', 'RegistrationReceived']);

    // The deployer's observation is written after the apply returns, which may be after the registration.
    const deployment = await until('/providers/installed/acme/postgres/deployment', (b) => b.status === 'available' && b.image !== null);
    expect(deployment).toMatchObject({ status: 'available', available_replicas: 1, ready_replicas: 1, version: '1.0.0', generation: 1, healthy: true });
    expect(deployment.deployment_name).toMatch(/g1$/);
  });

  it('turns degraded when the runtime goes silent, and healthy again once a runtime beats', async () => {
    const state = await t.request('GET', '/providers/installed/acme/redis', { key });
    expect(state.body.health).toBe('healthy');
    const { rows } = await t.db.pool.query<{ installation_id: string }>(`SELECT installation_id FROM installed_providers WHERE name = 'redis'`);
    const started = effects().filter((e) => e.installation_id === rows[0].installation_id && e.action === 'start');
    expect(started).toHaveLength(1);
    process.kill(started[0].pid as number, 'SIGKILL');

    const degraded = await until('/providers/installed/acme/redis', (b) => b.health === 'degraded');
    expect(degraded.lifecycle_state).toBe('ready');
    expect(degraded.health_message).toMatch(/No heartbeat/);

    const redeployed = await t.request('POST', '/providers/installed/acme/redis/deploy', { key, body: {} });
    expect(redeployed.status).toBe(200);
    expect(redeployed.body).toMatchObject({ status: 'pending', generation: 2 });
    const healthy = await until('/providers/installed/acme/redis', (b) => b.health === 'healthy' && b.lifecycle_state === 'ready');
    expect(healthy.health_message).toBeNull();
    const types = (await t.request('GET', '/providers/installed/acme/redis/history', { key })).body.items.map((i: { type: string }) => i.type);
    expect(types).toEqual(expect.arrayContaining(['HealthChanged', 'RedeployRequested']));
    // Heartbeats are not events: one HealthChanged, however many beats there were.
    expect(types.filter((x: string) => x === 'HealthChanged')).toHaveLength(1);
  });

  it('upgrades auto-policy installations by itself when a newer stable version is published; manual ones stay', async () => {
    expect((await publish('acme/postgres', '1.1.0')).status).toBe(201);
    expect((await publish('acme/redis', '1.1.0')).status).toBe(201);
    expect((await publish('acme/postgres', '2.0.0-rc.1')).status).toBe(201);

    const upgraded = await until('/providers/installed/acme/postgres', (b) => b.current_version === '1.1.0' && b.lifecycle_state === 'ready');
    expect(upgraded).toMatchObject({ installed_version: '1.1.0', current_version: '1.1.0' });
    const history = (await t.request('GET', '/providers/installed/acme/postgres/history', { key })).body.items;
    const upgrades = history.filter((i: { type: string }) => i.type === 'UpgradeRequested');
    // Exactly once, for the stable version only, by the process manager.
    expect(upgrades).toHaveLength(1);
    expect(upgrades[0]).toMatchObject({ actor: 'process-manager:auto-upgrade', data: { from_version: '1.0.0', to_version: '1.1.0', direction: 'up', reason: 'auto' } });

    const manual = await until(`/providers/installed/acme/redis?min_position=${await t.lastPosition()}`, () => true);
    expect(manual).toMatchObject({ installed_version: '1.0.0', upgrade_available: '1.1.0' });

    // The previous generation was retired only after the new one registered.
    const { rows } = await t.db.pool.query<{ installation_id: string }>(`SELECT installation_id FROM installed_providers WHERE name = 'postgres'`);
    const mine = () => effects().filter((e) => e.installation_id === rows[0].installation_id);
    for (let i = 0; i < 100 && !mine().some((e) => e.action === 'stop'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(mine().filter((e) => e.action === 'start').map((e) => e.generation)).toEqual([1, 2]);
    expect(mine().filter((e) => e.action === 'stop').map((e) => e.generation)).toEqual([1]);
  });

  it('after a clean installer restart, READY installations get their runtime back (same generation, same token)', async () => {
    const { rows } = await t.db.pool.query<{ installation_id: string; generation: number }>(`SELECT installation_id, generation FROM installed_providers WHERE name = 'postgres'`);
    const { installation_id: id, generation } = rows[0];
    const startsBefore = effects().filter((e) => e.installation_id === id && e.generation === generation && e.action === 'start').length;
    await installer.stop();
    expect(effects().filter((e) => e.installation_id === id && e.generation === generation && e.action === 'stop').length).toBeGreaterThan(0);

    installer = await startInstaller(t.infrastructure, { storeUrl: t.baseUrl });
    for (let i = 0; i < 200; i++) {
      if (effects().filter((e) => e.installation_id === id && e.generation === generation && e.action === 'start').length > startsBefore) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(effects().filter((e) => e.installation_id === id && e.generation === generation && e.action === 'start')).toHaveLength(startsBefore + 1);
    const deployment = await until('/providers/installed/acme/postgres/deployment', (b) => b.status === 'available' && b.generation === generation);
    expect(deployment.ready_replicas).toBe(1);
    // The restart took longer than the heartbeat window, so it may have turned degraded: the
    // re-applied runtime's heartbeats turn it healthy again, without a new deploy.
    const state = await until('/providers/installed/acme/postgres', (b) => b.health === 'healthy');
    expect(state).toMatchObject({ lifecycle_state: 'ready', health: 'healthy', health_message: null, current_version: '1.1.0' });
  });
});
