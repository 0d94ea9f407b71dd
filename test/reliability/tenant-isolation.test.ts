import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { runCommand } from '../../libs/application/command-runner';
import { installationStream } from '../../libs/installations/installation-identity';
import { installationDecider } from '../../libs/installations/installation.decider';
import { fold } from '../../libs/domain/decider';
import { upcast } from '../../libs/domain/upcasters';
import { TestApp, TestResponse, startTestApp } from '../support/test-app';
import { expectRejected, expectStatus } from '../support/http-assertions';
import { report } from './support/cluster';

/**
 * Tenant A (acme) publishes and installs acme/postgres; tenant B (beta), holding every scope, walks
 * every installation route against it and every publisher route under acme/. B sees 404s that are
 * indistinguishable from "nothing installed", 403s for acme's catalog entries, and appends nothing;
 * B's own installation of the same provider lives beside A's without touching it.
 */

const PG = '/providers/installed/acme/postgres';
const SECRET = 'acme-only-secret-value';
const AS_OF = encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString()); // after everything below

describe('tenant isolation', () => {
  let t: TestApp;
  let acme: string;
  let beta: string; // publish, install, read, admin: every scope, for organisation beta

  const rejected = (send: () => Promise<TestResponse>, status: number, code: string) => expectRejected(t, send, status, code);

  const ok = expectStatus;

  const headPosition = () => t.lastPosition();

  /** Plays the installer (DeployStarted) and the runtime (registration over HTTP) for a tenant. */
  async function deployAndRegister(tenant: string, name = 'postgres'): Promise<{ token: string; installationId: string; generation: number; version: string }> {
    const stream = installationStream(tenant, { prefix: 'acme', name });
    const state = fold(installationDecider, (await t.infrastructure.eventStore.readStream(stream)).map(upcast) as never[]);
    if (state.status !== 'present') throw new Error('not installed');
    const token = randomBytes(32).toString('base64url');
    const now = new Date().toISOString();
    await runCommand(
      t.infrastructure.eventStore,
      installationDecider,
      stream,
      { type: 'StartDeploy', generation: state.generation, tokenHash: createHash('sha256').update(token).digest('hex'), now },
      { actor: 'installer:test', correlationId: randomUUID(), idempotencyScope: 'installer', now },
    );
    // The runtime endpoints find the installation through the read model: let it catch up first.
    await ok(t.request('GET', `/providers/installed?min_position=${await headPosition()}`, { key: tenant === 'acme' ? acme : beta }));
    const registered = await t.request('POST', '/runtime/registrations', {
      headers: { authorization: `Bearer ${token}` },
      body: { installation_id: state.installationId, generation: state.generation, version: state.installedVersion },
    });
    expect(registered.status).toBe(204);
    return { token, installationId: state.installationId, generation: state.generation, version: state.installedVersion };
  }

  /** Each `METHOD /path/{template}` the matrix has sent, to hold it against the OpenAPI document. */
  const exercised = new Set<string>();
  const figures = { requests: 0, by_status: {} as Record<string, number> };
  const send: TestApp['request'] = async (method, url, options) => {
    exercised.add(`${method} ${url.split('?')[0].replace(/^\/providers\/installed\/[^/]+\/[^/]+/, '/providers/installed/{prefix}/{name}')}`);
    const res = await t.request(method, url, options);
    figures.requests++;
    figures.by_status[res.status] = (figures.by_status[res.status] ?? 0) + 1;
    return res;
  };

  /** Every installation route, as B would call it against acme/postgres. */
  const installationRoutes = (key: string, path = PG, headers: Record<string, string> = {}) => {
    const asOf = AS_OF;
    return [
      ['GET one', () => send('GET', path, { key, headers })],
      ['GET one as_of', () => send('GET', `${path}?as_of=${asOf}`, { key, headers })],
      ['GET deployment', () => send('GET', `${path}/deployment`, { key, headers })],
      ['GET history', () => send('GET', `${path}/history`, { key, headers })],
      ['PATCH config', () => send('PATCH', path, { key, headers, body: { config: { SECRET: 'stolen' } } })],
      ['PATCH policy', () => send('PATCH', path, { key, headers, body: { upgrade_policy: 'auto' } })],
      ['POST upgrade (latest)', () => send('POST', `${path}/upgrade`, { key, headers, body: {} })],
      ['POST upgrade 2.0.0', () => send('POST', `${path}/upgrade`, { key, headers, body: { version: '2.0.0' } })],
      ['POST downgrade', () => send('POST', `${path}/downgrade`, { key, headers, body: { target_version: '1.0.0' } })],
      ['POST deploy', () => send('POST', `${path}/deploy`, { key, headers, body: {} })],
      ['POST deploy version', () => send('POST', `${path}/deploy`, { key, headers, body: { version: '1.1.0' } })],
      ['POST rollback', () => send('POST', `${path}/rollback`, { key, headers, body: {} })],
      ['DELETE', () => send('DELETE', path, { key, headers })],
    ] as Array<[string, () => Promise<TestResponse>]>;
  };

  let acmeView: TestResponse;
  let acmeRuntime: { token: string; installationId: string; generation: number; version: string };
  let acmeHistory: TestResponse;

  beforeAll(async () => {
    t = await startTestApp({ HEARTBEAT_TIMEOUT_MS: '3600000' });
    [acme, beta] = await Promise.all([t.createKey('acme', ['publish', 'install', 'read']), t.createKey('beta', ['publish', 'install', 'read', 'admin'])]);
    for (const version of ['1.0.0', '1.1.0', '2.0.0']) {
      await ok(t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/postgres', version, wheel_url: `https://files.example.com/pg-${version}.whl` } }), 201);
    }
    await ok(t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/other', version: '1.0.0', wheel_url: 'https://files.example.com/other-1.0.0.whl' } }), 201);
    await ok(
      t.request('POST', '/providers/install', { key: acme, body: { provider_name: 'acme/postgres', version: '1.0.0', config: { SECRET }, resource_tier: 'performance' } }),
      201,
    );
    await ok(t.request('PATCH', PG, { key: acme, body: { upgrade_policy: 'manual', config: { SECRET, MODE: 'primary' } }, headers: { 'Idempotency-Key': 'shared-key' } }));
    acmeRuntime = await deployAndRegister('acme');
    acmeView = await ok(t.request('GET', `${PG}?min_position=${await headPosition()}`, { key: acme }));
    expect(acmeView.body).toMatchObject({ lifecycle_state: 'ready', installed_version: '1.0.0', current_version: '1.0.0', config: { SECRET, MODE: 'primary' } });
    await ok(t.request('GET', `${PG}/deployment`, { key: acme }));
    acmeHistory = await ok(t.request('GET', `${PG}/history`, { key: acme }));
  });
  afterAll(async () => {
    report('tenant-isolation', { routes: exercised.size, requests: figures.requests, by_status: figures.by_status, appended_by_b: 0 });
    await t?.close();
  });

  it('B’s installed list does not contain A’s installation, whatever the filter', async () => {
    const pos = await headPosition();
    for (const query of ['', 'lifecycle_state=ready', 'health=healthy', 'limit=100']) {
      const res = await ok(t.request('GET', `/providers/installed?min_position=${pos}${query ? `&${query}` : ''}`, { key: beta }));
      expect(res.body).toEqual([]);
      expect(res.headers.get('x-total-count')).toBe('0');
      expect(res.text).not.toContain(SECRET);
    }
    const mine = await ok(t.request('GET', '/providers/installed', { key: acme }));
    expect(mine.body.map((i: { canonical: string }) => i.canonical)).toEqual(['acme/postgres']);
  });

  it('every installation route answers B with 404 not_installed and appends nothing', async () => {
    const before = await t.eventCount();
    for (const [label, send] of installationRoutes(beta)) {
      const res = await rejected(send, 404, 'not_installed').catch((error: Error) => {
        throw new Error(`${label}: ${error.message}`);
      });
      expect(res.text).not.toContain(SECRET);
      expect(res.text).not.toContain(acmeView.body.installed_at);
    }
    // The same with an Idempotency-Key and a correlation id: still nothing.
    for (const [label, send] of installationRoutes(beta, PG, { 'Idempotency-Key': 'shared-key', 'X-Correlation-Id': 'beta-probe' })) {
      await rejected(send, 404, 'not_installed').catch((error: Error) => {
        throw new Error(`${label} (idempotent): ${error.message}`);
      });
    }
    expect(await t.eventCount()).toBe(before);
  });

  it('B cannot tell A’s installation from no installation at all', async () => {
    // acme/other is published but installed by nobody: B's answers must look the same.
    const probe = installationRoutes(beta);
    const control = installationRoutes(beta, '/providers/installed/acme/other');
    for (let i = 0; i < probe.length; i++) {
      const [label, send] = probe[i];
      const a = await send();
      const b = await control[i][1]();
      expect({ label, status: a.status, body: a.body }).toEqual({
        label,
        status: b.status,
        body: { ...b.body, message: b.body.message.replace('acme/other', 'acme/postgres') },
      });
    }
  });

  it('A’s installation is exactly as it was', async () => {
    const now = await ok(t.request('GET', `${PG}?min_position=${await headPosition()}`, { key: acme }));
    expect(now.body).toEqual(acmeView.body);
    expect(now.headers.get('etag')).toBe(acmeView.headers.get('etag'));
    const history = await ok(t.request('GET', `${PG}/history`, { key: acme }));
    expect(history.body).toEqual(acmeHistory.body);
    for (const item of history.body.items) expect(item.actor).not.toMatch(/@beta$/);
  });

  it('B cannot publish, yank, PATCH or DELETE under acme/ (403), nor read acme’s provider history (404)', async () => {
    const wheel = 'https://files.example.com/evil.whl';
    await rejected(() => t.request('POST', '/provider-versions', { key: beta, body: { name: 'acme/postgres', version: '9.9.9', wheel_url: wheel } }), 403, 'prefix_not_owned');
    await rejected(() => t.request('POST', '/provider-versions', { key: beta, body: { name: 'acme/new', version: '1.0.0', wheel_url: wheel } }), 403, 'prefix_not_owned');
    await rejected(
      () => t.request('POST', '/provider-versions', { key: beta, body: { name: 'postgres', organization_id: 'acme', version: '9.9.9', wheel_url: wheel } }),
      403,
      'prefix_not_owned',
    );
    await rejected(() => t.request('POST', '/provider-versions', { key: beta, body: { name: 'platform/postgres', version: '1.0.0', wheel_url: wheel } }), 403, 'platform_admin_required');
    await rejected(() => t.request('POST', '/providers/acme/postgres/versions/1.1.0/yank', { key: beta, body: { reason: 'sabotage' } }), 403, 'prefix_not_owned');
    await rejected(() => t.request('PATCH', '/providers/acme/postgres', { key: beta, body: { display_name: 'Hijacked' } }), 403, 'prefix_not_owned');
    // B is not told whether (or how widely) the provider is installed.
    const del = await rejected(() => t.request('DELETE', '/providers/acme/postgres', { key: beta }), 403, 'prefix_not_owned');
    expect(del.text).not.toMatch(/install/i);
    await rejected(() => t.request('DELETE', '/providers/acme/other', { key: beta }), 403, 'prefix_not_owned');
    await rejected(() => t.request('GET', '/providers/acme/postgres/history', { key: beta }), 404, 'provider_not_found');

    // The publisher itself: history readable, delete refused while installed.
    const own = await ok(t.request('GET', '/providers/acme/postgres/history', { key: acme }));
    expect(own.body.total).toBeGreaterThanOrEqual(3);
    await rejected(() => t.request('DELETE', '/providers/acme/postgres', { key: acme }), 409, 'provider_in_use');

    // Nothing B tried stuck.
    const pos = await headPosition();
    const versions = await ok(t.request('GET', `/providers/acme/postgres/versions?min_position=${pos}`, { key: beta }));
    expect(versions.body.map((v: { version: string; status: string }) => `${v.version}:${v.status}`)).toEqual(['2.0.0:published', '1.1.0:published', '1.0.0:published']);
    const catalog = await ok(t.request('GET', `/providers/acme/postgres?min_position=${pos}`, { key: beta }));
    expect(catalog.body).toMatchObject({ display_name: 'postgres', description: '', latest_version: '2.0.0', install_count: 1 });
    await rejected(() => t.request('GET', '/providers/acme/new', { key: beta }), 404, 'provider_not_found');
  });

  it('B’s own installation of acme/postgres is independent of A’s', async () => {
    // B reuses the Idempotency-Key A used: keys are scoped per organisation.
    const installed = await ok(
      t.request('POST', '/providers/install', {
        key: beta,
        body: { provider_name: 'acme/postgres', version: '1.1.0', config: { SECRET: 'beta-only' }, resource_tier: 'free' },
        headers: { 'Idempotency-Key': 'shared-key' },
      }),
      201,
    );
    expect(installed.body).toMatchObject({ installed_version: '1.1.0', current_version: null, lifecycle_state: 'pending', config: { SECRET: 'beta-only' }, resource_tier: 'free' });
    expect(installed.headers.get('etag')).toBe('"0"');

    const upgraded = await ok(t.request('POST', `${PG}/upgrade`, { key: beta, body: { version: '2.0.0' } }));
    expect(upgraded.body.installed_version).toBe('2.0.0');
    const reconfigured = await ok(t.request('PATCH', PG, { key: beta, body: { config: { SECRET: 'beta-only', EXTRA: '1' } } }));
    expect(reconfigured.body.config).toEqual({ SECRET: 'beta-only', EXTRA: '1' });

    const pos = reconfigured.headers.get('x-position');
    const bView = await ok(t.request('GET', `${PG}?min_position=${pos}`, { key: beta }));
    expect(bView.body).toEqual(reconfigured.body);
    const bList = await ok(t.request('GET', `/providers/installed?min_position=${pos}`, { key: beta }));
    expect(bList.body).toEqual([reconfigured.body]);
    const bHistory = await ok(t.request('GET', `${PG}/history`, { key: beta }));
    expect(bHistory.body.items.map((i: { type: string }) => i.type)).toEqual(['InstallRequested', 'UpgradeRequested', 'InstallationReconfigured']);
    expect(bHistory.body.items[0].data).toMatchObject({ tenant: 'beta', config: { SECRET: 'beta-only' } });
    for (const item of bHistory.body.items) expect(item.actor).toMatch(/@beta$/);
    expect(bHistory.text).not.toContain(SECRET);

    // A sees exactly what it saw before, in its list, its view and its history.
    const aView = await ok(t.request('GET', `${PG}?min_position=${pos}`, { key: acme }));
    expect(aView.body).toEqual(acmeView.body);
    const aList = await ok(t.request('GET', `/providers/installed?min_position=${pos}`, { key: acme }));
    expect(aList.body).toEqual([acmeView.body]);
    expect((await ok(t.request('GET', `${PG}/history`, { key: acme }))).body).toEqual(acmeHistory.body);
    const deployment = await ok(t.request('GET', `${PG}/deployment`, { key: acme }));
    expect(deployment.body).toMatchObject({ status: 'available', version: '1.0.0' });
    // B's own deployment: the generation its upgrade and reconfiguration asked for, nothing of A's.
    const bDeployment = await ok(t.request('GET', `${PG}/deployment`, { key: beta }));
    expect(bDeployment.body).toMatchObject({ status: 'pending', version: '2.0.0', available_replicas: 0 });
    expect(bDeployment.body.deployment_name).not.toBe(deployment.body.deployment_name);

    const catalog = await ok(t.request('GET', `/providers/acme/postgres?min_position=${pos}`, { key: beta }));
    expect(catalog.body.install_count).toBe(2);

    // B's uninstall leaves A running; A's commands still act on A's installation only.
    const removed = await ok(t.request('DELETE', PG, { key: beta }), 202);
    expect(removed.body.lifecycle_state).toBe('deleting');
    const aAfter = await ok(t.request('GET', `${PG}?min_position=${removed.headers.get('x-position')}`, { key: acme }));
    expect(aAfter.body).toEqual(acmeView.body);
    const aUpgrade = await ok(t.request('POST', `${PG}/upgrade`, { key: acme, body: { version: '1.1.0' } }));
    expect(aUpgrade.body).toMatchObject({ installed_version: '1.1.0', config: { SECRET, MODE: 'primary' } });
    const bAfter = await ok(t.request('GET', `${PG}?min_position=${aUpgrade.headers.get('x-position')}`, { key: beta }));
    expect(bAfter.body).toMatchObject({ installed_version: '2.0.0', lifecycle_state: 'deleting', config: { SECRET: 'beta-only', EXTRA: '1' } });
  });
  it('the matrix covers every per-installation operation of the OpenAPI document', async () => {
    const doc = (await ok(t.request('GET', '/openapi.json'))).body as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/providers/installed/{'))
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    expect(operations.length).toBeGreaterThanOrEqual(8);
    expect(operations.filter((op) => !exercised.has(op))).toEqual([]);
  });

  it('a runtime token is refused for any other installation, in either direction', async () => {
    await ok(t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'acme/other', version: '1.0.0' } }), 201);
    const betaRuntime = await deployAndRegister('beta', 'other');
    const before = await t.eventCount();
    const as = (runtime: typeof acmeRuntime) => ({ installation_id: runtime.installationId, generation: runtime.generation });
    for (const [holder, target] of [
      [acmeRuntime, betaRuntime],
      [betaRuntime, acmeRuntime],
    ] as const) {
      const headers = { authorization: `Bearer ${holder.token}` };
      await rejected(() => send('POST', '/runtime/registrations', { headers, body: { ...as(target), version: target.version } }), 401, 'unauthorized');
      await rejected(() => send('POST', '/runtime/heartbeats', { headers, body: { ...as(target), status: 'degraded', message: 'spoofed' } }), 401, 'unauthorized');
      // The holder's own installation still accepts it: the refusal is about the pairing, not the token.
      expect((await send('POST', '/runtime/heartbeats', { headers, body: { ...as(holder), status: 'healthy' } })).status).toBe(204);
    }
    expect(await t.eventCount()).toBe(before);
    const acmeNow = await ok(t.request('GET', `${PG}?min_position=${await headPosition()}`, { key: acme }));
    expect(acmeNow.body.health).not.toBe('degraded');
  });
});
