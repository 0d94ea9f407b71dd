import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { runCommand } from '../../libs/application/command-runner';
import { installationStream } from '../../libs/installations/installation-identity';
import { installationDecider } from '../../libs/installations/installation.decider';
import { fold } from '../../libs/domain/decider';
import { upcast } from '../../libs/domain/upcasters';
import { TestApp, TestResponse, startTestApp } from '../support/test-app';
import { expectRejected, expectStatus } from '../support/http-assertions';

/**
 * Installations over HTTP: install, list, get, upgrade, downgrade, reconfigure, redeploy, uninstall,
 * time travel and history, with conditional and idempotent requests and a burst of concurrent
 * upgrades. Two tenants: acme publishes acme/postgres, and both acme and beta install it. Every 4xx
 * is checked for its status, its code and that nothing was appended.
 */

const INSTALLED_PROVIDER_FIELDS = [
  'canonical',
  'config',
  'created_at',
  'current_version',
  'health',
  'health_message',
  'installed_at',
  'installed_version',
  'lifecycle_state',
  'name',
  'prefix',
  'resource_tier',
  'updated_at',
  'upgrade_available',
  'upgrade_policy',
];
const DEPLOYMENT_FIELDS = ['available_replicas', 'deployment_name', 'generation', 'healthy', 'image', 'message', 'ready_replicas', 'status', 'updated_at', 'version'];
const HISTORY_ITEM_FIELDS = ['actor', 'correlation_id', 'data', 'occurred_at', 'position', 'revision', 'type'];
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const POSITION = /^\d+:\d+$/;
const PG = '/providers/installed/acme/postgres';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('installations', () => {
  let t: TestApp;
  let acme: string; // publish + install + read
  let acmeReader: string; // read only
  let beta: string; // install + read

  const rejected = (send: () => Promise<TestResponse>, status: number, code: string) => expectRejected(t, send, status, code);

  const ok = expectStatus;

  const publish = (version: string) =>
    ok(t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/postgres', version, wheel_url: `https://files.example.com/acme_postgres-${version}-py3-none-any.whl` } }), 201);

  async function history(key: string, path = PG) {
    const res = await ok(t.request('GET', `${path}/history?limit=100`, { key }));
    return res.body.items as Array<{ position: string; revision: number; type: string; occurred_at: string; actor: string; correlation_id: string; data: Record<string, unknown> }>;
  }

  /** The installation as its stream says (what the installer worker reads). */
  async function streamState(tenant: string) {
    const events = (await t.infrastructure.eventStore.readStream(installationStream(tenant, { prefix: 'acme', name: 'postgres' }))).map(upcast);
    const state = fold(installationDecider, events as never[]);
    if (state.status !== 'present') throw new Error('not installed');
    return state;
  }

  /** Plays the installer (DeployStarted with a token hash) and the runtime (registration over HTTP). */
  async function deployAndRegister(tenant: string, key: string): Promise<TestResponse> {
    const state = await streamState(tenant);
    const token = randomBytes(32).toString('base64url');
    const now = new Date().toISOString();
    await runCommand(
      t.infrastructure.eventStore,
      installationDecider,
      installationStream(tenant, { prefix: 'acme', name: 'postgres' }),
      { type: 'StartDeploy', generation: state.generation, tokenHash: createHash('sha256').update(token).digest('hex'), now },
      { actor: 'installer:test', correlationId: randomUUID(), idempotencyScope: 'installer', now },
    );
    // The runtime endpoints find the installation through the read model: let it catch up first.
    await ok(t.request('GET', `/providers/installed?min_position=${await t.lastPosition()}`, { key }));
    const registered = await t.request('POST', '/runtime/registrations', {
      headers: { authorization: `Bearer ${token}` },
      body: { installation_id: state.installationId, generation: state.generation, version: state.installedVersion, endpoint: 'http://127.0.0.1:9/' },
    });
    expect(registered.status).toBe(204);
    const got = await ok(t.request('GET', `${PG}?min_position=${await t.lastPosition()}`, { key }));
    expect(got.body).toMatchObject({ lifecycle_state: 'ready', current_version: state.installedVersion, health: 'healthy' });
    return got;
  }

  let installed: TestResponse;
  let upgraded: TestResponse;

  beforeAll(async () => {
    t = await startTestApp({ HEARTBEAT_TIMEOUT_MS: '3600000' });
    [acme, acmeReader, beta] = await Promise.all([
      t.createKey('acme', ['publish', 'install', 'read']),
      t.createKey('acme', ['read']),
      t.createKey('beta', ['install', 'read']),
    ]);
    await publish('1.0.0');
    await publish('1.1.0');
    await publish('1.2.0');
    await ok(t.request('POST', '/providers/acme/postgres/versions/1.2.0/yank', { key: acme, body: { reason: 'bad build' } }));
  });
  afterAll(async () => t?.close());

  describe('install', () => {
    it('installs the latest version: 201 PENDING with exactly the InstalledProvider fields', async () => {
      const before = await t.eventCount();
      installed = await ok(t.request('POST', '/providers/install', { key: acme, body: { provider_name: 'acme/postgres' } }), 201);
      expect(await t.eventCount()).toBe(before + 1);
      expect(installed.headers.get('content-type')).toBe('application/json');
      expect(installed.headers.get('etag')).toBe('"0"');
      expect(installed.headers.get('x-position')).toMatch(POSITION);
      expect(Object.keys(installed.body).sort()).toEqual(INSTALLED_PROVIDER_FIELDS);
      expect(installed.body).toEqual({
        prefix: 'acme',
        name: 'postgres',
        canonical: 'acme/postgres',
        installed_version: '1.1.0', // 1.2.0 is yanked
        current_version: null,
        upgrade_policy: 'manual',
        resource_tier: 'standard',
        config: {},
        installed_at: expect.stringMatching(RFC3339_UTC),
        created_at: expect.stringMatching(RFC3339_UTC),
        updated_at: expect.stringMatching(RFC3339_UTC),
        lifecycle_state: 'pending',
        health: 'healthy',
        health_message: null,
        upgrade_available: null,
      });
    });

    it('lists it as pending: a JSON array with X-Total-Count, filterable', async () => {
      const pos = installed.headers.get('x-position');
      const list = await ok(t.request('GET', `/providers/installed?min_position=${pos}`, { key: acmeReader }));
      expect(Array.isArray(list.body)).toBe(true);
      expect(list.headers.get('x-total-count')).toBe('1');
      expect(list.body).toEqual([installed.body]);

      const count = async (query: string) => {
        const res = await ok(t.request('GET', `/providers/installed?${query}`, { key: acme }));
        expect(res.headers.get('x-total-count')).toBe(String(res.body.length));
        return res.body.length as number;
      };
      const paged = await ok(t.request('GET', '/providers/installed?offset=1', { key: acme }));
      expect(paged.body).toEqual([]);
      expect(paged.headers.get('x-total-count')).toBe('1');
      expect(await count('lifecycle_state=pending')).toBe(1);
      expect(await count('lifecycle_state=ready')).toBe(0);
      expect(await count('health=healthy')).toBe(1);
      expect(await count('health=degraded')).toBe(0);
      expect(await count('lifecycle_state=pending&health=healthy')).toBe(1);

      await rejected(() => t.request('GET', '/providers/installed?lifecycle_state=PENDING', { key: acme }), 422, 'validation_failed');
      await rejected(() => t.request('GET', '/providers/installed?lifecycle_state=installed', { key: acme }), 422, 'validation_failed');
      await rejected(() => t.request('GET', '/providers/installed?health=sick', { key: acme }), 422, 'validation_failed');
      await rejected(() => t.request('GET', '/providers/installed?limit=0', { key: acme }), 422, 'validation_failed');
      await rejected(() => t.request('GET', '/providers/installed?min_position=soon', { key: acme }), 422, 'invalid_min_position');
      await rejected(() => t.request('GET', '/providers/installed'), 401, 'unauthorized');

      // The other tenant sees only its own (none yet).
      const other = await ok(t.request('GET', `/providers/installed?min_position=${pos}`, { key: beta }));
      expect(other.body).toEqual([]);
      expect(other.headers.get('x-total-count')).toBe('0');
    });

    it('gets it, with the ETag of the command', async () => {
      const got = await ok(t.request('GET', `${PG}?min_position=${installed.headers.get('x-position')}`, { key: acmeReader }));
      expect(got.body).toEqual(installed.body);
      expect(got.headers.get('etag')).toBe(installed.headers.get('etag'));
      await rejected(() => t.request('GET', '/providers/installed/acme/nope', { key: acme }), 404, 'not_installed');
      await rejected(() => t.request(`GET`, `${PG}/deployment`, { key: acme }), 404, 'not_deployed');
    });

    it('refuses a second install, unknown providers and versions, yanked versions', async () => {
      await rejected(() => t.request('POST', '/providers/install', { key: acme, body: { provider_name: 'acme/postgres', version: '1.0.0' } }), 409, 'already_installed');
      await rejected(() => t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'acme/nope' } }), 404, 'provider_not_found');
      await rejected(() => t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'acme/postgres', version: '9.9.9' } }), 404, 'version_not_found');
      await rejected(() => t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'acme/postgres', version: '1.2.0' } }), 422, 'version_yanked');
      await rejected(() => t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'postgres' } }), 422, 'invalid_provider_name');
      await rejected(() => t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'Acme/Postgres' } }), 422, 'invalid_provider_name');
      await rejected(() => t.request('POST', '/providers/install', { key: acmeReader, body: { provider_name: 'acme/postgres' } }), 403, 'missing_scope');
      await rejected(() => t.request('POST', '/providers/install', { body: { provider_name: 'acme/postgres' } }), 401, 'unauthorized');
      await rejected(() => t.request('POST', '/providers/install', { key: beta, rawBody: '{"provider_name":' }), 400, 'malformed_json');
    });

    it('refuses config that would steer the runtime (NODE_OPTIONS, LD_PRELOAD): 422 reserved_config_key, nothing written', async () => {
      const config = { REGION: 'eu', NODE_OPTIONS: '--import=/tmp/evil.mjs', LD_PRELOAD: '/tmp/evil.so' };
      const install = await rejected(() => t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'acme/postgres', version: '1.0.0', config } }), 422, 'reserved_config_key');
      expect(install.body.message).toBe('config may not set NODE_OPTIONS, LD_PRELOAD: these names are reserved for the platform.');
      const patch = await rejected(() => t.request('PATCH', PG, { key: acme, body: { config: { LD_PRELOAD: '/tmp/evil.so' } } }), 422, 'reserved_config_key');
      expect(patch.body.message).toBe('config may not set LD_PRELOAD: this name is reserved for the platform.');
    });

    const tooMany = Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`KEY_${i}`, 'v']));
    it.each([
      ['provider_name empty', { provider_name: '' }, 'provider_name'],
      ['provider_name missing', { provider_name: undefined }, 'provider_name'],
      ['provider_name over 200', { provider_name: `acme/${'p'.repeat(196)}` }, 'provider_name'],
      ['version not semver', { version: 'latest' }, 'version'],
      ['resource_tier unknown', { resource_tier: 'huge' }, 'resource_tier'],
      ['upgrade_policy unknown', { upgrade_policy: 'sometimes' }, 'upgrade_policy'],
      ['config key starting with a digit', { config: { '1BAD': 'x' } }, 'config'],
      ['config key with a dash', { config: { 'A-B': 'x' } }, 'config'],
      ['config key with a space', { config: { 'A B': 'x' } }, 'config'],
      ['config value a number', { config: { PORT: 5432 } }, 'config'],
      ['config value null', { config: { PORT: null } }, 'config'],
      ['config value an object', { config: { PORT: { value: '1' } } }, 'config'],
      ['config with 201 keys', { config: tooMany }, 'config'],
      ['config an array', { config: ['A=1'] }, 'config'],
    ])('refuses an install with %s: 422 validation_failed', async (_label, patch, field) => {
      const res = await rejected(() => t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'acme/postgres', ...patch } }), 422, 'validation_failed');
      expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
    });

    it('lets the other tenant install the same provider on its own (200 config keys is the limit)', async () => {
      const config = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`KEY_${i}`, `value-${i}`]));
      const res = await ok(
        t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'acme/postgres', version: '1.0.0', resource_tier: 'free', upgrade_policy: 'manual', config } }),
        201,
      );
      expect(res.body).toMatchObject({ installed_version: '1.0.0', resource_tier: 'free', upgrade_policy: 'manual', lifecycle_state: 'pending', upgrade_available: '1.1.0' });
      expect(Object.keys(res.body.config)).toHaveLength(200);
      const mine = await ok(t.request('GET', `${PG}?min_position=${res.headers.get('x-position')}`, { key: acme }));
      expect(mine.body).toEqual(installed.body);
      const catalog = await ok(t.request('GET', `/providers/acme/postgres?min_position=${res.headers.get('x-position')}`, { key: beta }));
      expect(catalog.body.install_count).toBe(2);
    });
  });

  describe('version changes', () => {
    it('shows upgrade_available as soon as a newer version is published (the catalog is written in its transaction)', async () => {
      // Hold the catalog's table: the publish, which writes its catalog row in its own transaction,
      // cannot be acknowledged before it can write it; once it is, reads without min_position see it.
      const blocker = await t.db.pool.connect();
      try {
        await blocker.query('BEGIN');
        await blocker.query('LOCK TABLE catalog_providers IN EXCLUSIVE MODE');
        let acknowledged = false;
        const pub = publish('2.0.0').then((r) => ((acknowledged = true), r));
        await sleep(300);
        expect(acknowledged).toBe(false);
        expect((await ok(t.request('GET', PG, { key: acme }))).body.upgrade_available).not.toBe('2.0.0');
        await blocker.query('COMMIT');
        await pub;
        expect((await ok(t.request('GET', PG, { key: acme }))).body.upgrade_available).toBe('2.0.0');
        expect((await ok(t.request('GET', '/providers/installed', { key: beta }))).body[0].upgrade_available).toBe('2.0.0');
      } finally {
        await blocker.query('ROLLBACK').catch(() => undefined);
        blocker.release();
      }
    });

    it('upgrades to 2.0.0: PENDING, installed_version 2.0.0', async () => {
      const before = await t.eventCount();
      await sleep(5);
      upgraded = await ok(t.request('POST', `${PG}/upgrade`, { key: acme, body: { version: '2.0.0' } }));
      expect(await t.eventCount()).toBe(before + 1);
      expect(upgraded.headers.get('etag')).toBe('"1"');
      expect(upgraded.headers.get('x-position')).toMatch(POSITION);
      expect(Object.keys(upgraded.body).sort()).toEqual(INSTALLED_PROVIDER_FIELDS);
      expect(upgraded.body).toMatchObject({ installed_version: '2.0.0', lifecycle_state: 'pending', current_version: null, upgrade_available: null });
      expect(upgraded.body.installed_at).toBe(installed.body.installed_at);
      const got = await ok(t.request('GET', `${PG}?min_position=${upgraded.headers.get('x-position')}`, { key: acme }));
      expect(got.body).toEqual(upgraded.body);
      expect(got.headers.get('etag')).toBe('"1"');
      const last = (await history(acme)).at(-1)!;
      expect(last).toMatchObject({ type: 'UpgradeRequested', data: { from_version: '1.1.0', to_version: '2.0.0', direction: 'up', reason: 'manual', generation: 2 } });
    });

    it('downgrades to 1.0.0 with target_version', async () => {
      const res = await ok(t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '1.0.0' } }));
      expect(res.body).toMatchObject({ installed_version: '1.0.0', lifecycle_state: 'pending', upgrade_available: '2.0.0' });
      expect((await history(acme)).at(-1)).toMatchObject({ type: 'UpgradeRequested', data: { from_version: '2.0.0', to_version: '1.0.0', direction: 'down' } });
    });

    it('upgrades to the latest with an absent, empty or null version', async () => {
      const noBody = await ok(t.request('POST', `${PG}/upgrade`, { key: acme }));
      expect(noBody.body.installed_version).toBe('2.0.0');
      await ok(t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '1.1.0' } }));
      const nullVersion = await ok(t.request('POST', `${PG}/upgrade`, { key: acme, body: { version: null } }));
      expect(nullVersion.body.installed_version).toBe('2.0.0');
      await ok(t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '1.0.0' } }));
      const empty = await ok(t.request('POST', `${PG}/upgrade`, { key: acme, body: {} }));
      expect(empty.body.installed_version).toBe('2.0.0');
    });

    it('refuses changes that break the version rules', async () => {
      await rejected(() => t.request('POST', `${PG}/upgrade`, { key: acme, body: { version: '2.0.0' } }), 409, 'already_at_version');
      await rejected(() => t.request('POST', `${PG}/upgrade`, { key: acme, body: {} }), 409, 'already_at_version');
      await rejected(() => t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '2.0.0' } }), 409, 'already_at_version');
      await rejected(() => t.request('POST', `${PG}/upgrade`, { key: acme, body: { version: '1.0.0' } }), 422, 'not_an_upgrade');
      await rejected(() => t.request('POST', `${PG}/upgrade`, { key: acme, body: { version: '1.2.0' } }), 422, 'version_yanked');
      await rejected(() => t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '1.2.0' } }), 422, 'version_yanked');
      await rejected(() => t.request('POST', `${PG}/upgrade`, { key: acme, body: { version: '9.9.9' } }), 404, 'version_not_found');
      await rejected(() => t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '0.0.1' } }), 404, 'version_not_found');
      await rejected(() => t.request('POST', '/providers/installed/acme/nope/upgrade', { key: acme, body: {} }), 404, 'not_installed');
      await rejected(() => t.request('POST', '/providers/installed/acme/nope/downgrade', { key: acme, body: { target_version: '1.0.0' } }), 404, 'not_installed');
      await rejected(() => t.request('POST', `${PG}/downgrade`, { key: acme, body: {} }), 422, 'validation_failed');
      await rejected(() => t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: null } }), 422, 'validation_failed');
      await rejected(() => t.request('POST', `${PG}/upgrade`, { key: acme, body: { version: 'latest' } }), 422, 'validation_failed');
      // target_version is not a field of upgrade: ignored, so this is an upgrade to latest, which it already runs.
      await rejected(() => t.request('POST', `${PG}/upgrade`, { key: acme, body: { target_version: '2.0.0' } }), 409, 'already_at_version');
      await rejected(() => t.request('POST', `${PG}/upgrade`, { key: acmeReader, body: {} }), 403, 'missing_scope');

      await ok(t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '1.1.0' } }));
      await rejected(() => t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '2.0.0' } }), 422, 'not_a_downgrade');
      await ok(t.request('POST', `${PG}/upgrade`, { key: acme, body: { version: '2.0.0' } }));
    });

    it('lets exactly one of 50 concurrent identical upgrades through', async () => {
      await ok(t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '1.0.0' } }));
      const upgradesBefore = (await history(acme)).filter((e) => e.type === 'UpgradeRequested').length;
      const before = await t.eventCount();
      const results = await Promise.all(Array.from({ length: 50 }, () => t.request('POST', `${PG}/upgrade`, { key: acme, body: { version: '2.0.0' } })));
      const winners = results.filter((r) => r.status === 200);
      expect(winners).toHaveLength(1);
      expect(winners[0].body.installed_version).toBe('2.0.0');
      for (const r of results.filter((x) => x.status !== 200)) {
        expect({ status: r.status, ok: ['concurrent_modification', 'already_at_version'].includes(r.body?.code) }).toEqual({ status: 409, ok: true });
      }
      expect(await t.eventCount()).toBe(before + 1);
      const upgradesAfter = (await history(acme)).filter((e) => e.type === 'UpgradeRequested').length;
      expect(upgradesAfter).toBe(upgradesBefore + 1);
    });
  });

  describe('time travel and history', () => {
    it('answers ?as_of with the installation as it was then', async () => {
      const t0 = Date.parse(installed.body.updated_at);
      const t1 = Date.parse(upgraded.body.updated_at);
      expect(t1).toBeGreaterThan(t0);
      const between = new Date(Math.floor((t0 + t1) / 2)).toISOString();
      const then = await ok(t.request('GET', `${PG}?as_of=${encodeURIComponent(between)}`, { key: acme }));
      expect(then.body).toMatchObject({ installed_version: '1.1.0', lifecycle_state: 'pending', installed_at: installed.body.installed_at });
      expect(Object.keys(then.body).sort()).toEqual(INSTALLED_PROVIDER_FIELDS);
      expect(then.headers.get('etag')).toBe('"0"');
      const atUpgrade = await ok(t.request('GET', `${PG}?as_of=${encodeURIComponent(upgraded.body.updated_at)}`, { key: acme }));
      expect(atUpgrade.body.installed_version).toBe('2.0.0');
      expect(atUpgrade.headers.get('etag')).toBe('"1"');
      const now = await ok(t.request('GET', `${PG}?as_of=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, { key: acme }));
      expect(now.body.installed_version).toBe('2.0.0');

      const before = new Date(t0 - 1000).toISOString();
      await rejected(() => t.request('GET', `${PG}?as_of=${encodeURIComponent(before)}`, { key: acme }), 404, 'not_installed');
      await rejected(() => t.request('GET', `${PG}?as_of=yesterday`, { key: acme }), 422, 'validation_failed');
      await rejected(() => t.request('GET', `${PG}?as_of=2026-13-45T99:00:00Z`, { key: acme }), 422, 'validation_failed');
      await rejected(() => t.request('GET', `/providers/installed/acme/nope?as_of=${encodeURIComponent(between)}`, { key: acme }), 404, 'not_installed');
    });

    it('lists the audit trail, paged', async () => {
      const page = await ok(t.request('GET', `${PG}/history`, { key: acmeReader }));
      expect(Object.keys(page.body).sort()).toEqual(['items', 'limit', 'offset', 'total']);
      expect(page.body).toMatchObject({ limit: 50, offset: 0 });
      const { items, total } = page.body;
      expect(total).toBe(items.length);
      expect(total).toBeGreaterThanOrEqual(8);
      items.forEach((item: Record<string, unknown>, i: number) => {
        expect(Object.keys(item).sort()).toEqual(HISTORY_ITEM_FIELDS);
        expect(item).toEqual({
          position: expect.stringMatching(POSITION),
          revision: i,
          type: expect.any(String),
          occurred_at: expect.stringMatching(RFC3339_UTC),
          actor: expect.stringMatching(/^apikey:[0-9a-f]{16}@acme$/),
          correlation_id: expect.any(String),
          data: expect.any(Object),
        });
      });
      expect(items[0]).toMatchObject({ type: 'InstallRequested', data: { tenant: 'acme', prefix: 'acme', name: 'postgres', version: '1.1.0', generation: 1 } });
      expect(items[0].position).toBe(installed.headers.get('x-position'));
      expect(items[1]).toMatchObject({ type: 'UpgradeRequested', data: { to_version: '2.0.0' } });
      expect(items[1].position).toBe(upgraded.headers.get('x-position'));

      const slice = await ok(t.request('GET', `${PG}/history?limit=2&offset=1`, { key: acme }));
      expect(slice.body).toMatchObject({ total, limit: 2, offset: 1 });
      expect(slice.body.items).toEqual(items.slice(1, 3));
      const past = await ok(t.request('GET', `${PG}/history?offset=${total + 5}`, { key: acme }));
      expect(past.body).toMatchObject({ items: [], total });
      await rejected(() => t.request('GET', `${PG}/history?limit=0`, { key: acme }), 422, 'validation_failed');
      await rejected(() => t.request('GET', `${PG}/history?limit=101`, { key: acme }), 422, 'validation_failed');
      await rejected(() => t.request('GET', '/providers/installed/acme/nope/history', { key: acme }), 404, 'not_installed');
    });

    it('records the caller’s X-Correlation-Id', async () => {
      const correlation = `corr-${randomUUID()}`;
      await ok(t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '1.1.0' }, headers: { 'X-Correlation-Id': correlation } }));
      expect((await history(acme)).at(-1)).toMatchObject({ type: 'UpgradeRequested', correlation_id: correlation });
      await ok(t.request('POST', `${PG}/upgrade`, { key: acme, body: {} }));
    });
  });

  describe('reconfigure, redeploy, conditions, idempotency', () => {
    let ready: TestResponse;

    it('reports a deployment once the installer and the runtime have done their part', async () => {
      ready = await deployAndRegister('acme', acme);
      expect(ready.body.current_version).toBe('2.0.0');
      const deployment = await ok(t.request('GET', `${PG}/deployment`, { key: acmeReader }));
      expect(Object.keys(deployment.body).sort()).toEqual(DEPLOYMENT_FIELDS);
      expect(deployment.body).toMatchObject({ status: 'available', available_replicas: 1, ready_replicas: 1, version: '2.0.0', healthy: true });
      expect(deployment.body.generation).toBe((await streamState('acme')).generation);
    });

    it('PATCH upgrade_policy alone leaves the lifecycle (and the generation) alone', async () => {
      const generation = (await streamState('acme')).generation;
      const res = await ok(t.request('PATCH', PG, { key: acme, body: { upgrade_policy: 'auto' } }));
      expect(res.body).toMatchObject({ upgrade_policy: 'auto', lifecycle_state: 'ready', current_version: '2.0.0' });
      expect((await history(acme)).at(-1)).toMatchObject({ type: 'InstallationReconfigured', data: { upgrade_policy: 'auto', generation: null } });
      expect((await streamState('acme')).generation).toBe(generation);
      const back = await ok(t.request('PATCH', PG, { key: acme, body: { upgrade_policy: 'manual' } }));
      expect(back.body).toMatchObject({ upgrade_policy: 'manual', lifecycle_state: 'ready' });
      // Nothing changes: nothing is appended.
      const before = await t.eventCount();
      const same = await ok(t.request('PATCH', PG, { key: acme, body: { upgrade_policy: 'manual', config: {} } }));
      expect(same.body.lifecycle_state).toBe('ready');
      expect(await t.eventCount()).toBe(before);
    });

    it('PATCH config redeploys: PENDING with a new generation', async () => {
      const generation = (await streamState('acme')).generation;
      const res = await ok(t.request('PATCH', PG, { key: acme, body: { config: { LOG_LEVEL: 'debug', _TRACE: '1', mixedCase9: 'x' } } }));
      expect(res.body).toMatchObject({ lifecycle_state: 'pending', config: { LOG_LEVEL: 'debug', _TRACE: '1', mixedCase9: 'x' }, current_version: '2.0.0' });
      expect((await history(acme)).at(-1)).toMatchObject({ type: 'InstallationReconfigured', data: { generation: generation + 1 } });
      const got = await ok(t.request('GET', `${PG}?min_position=${res.headers.get('x-position')}`, { key: acme }));
      expect(got.body).toEqual(res.body);
      const tier = await ok(t.request('PATCH', PG, { key: acme, body: { resource_tier: 'performance' } }));
      expect(tier.body).toMatchObject({ resource_tier: 'performance', lifecycle_state: 'pending', config: { LOG_LEVEL: 'debug' } });
      expect((await history(acme)).at(-1)).toMatchObject({ data: { generation: generation + 2 } });
    });

    it.each([
      ['a key starting with a digit', { config: { '1BAD': 'x' } }],
      ['a key with a dash', { config: { 'A-B': 'x' } }],
      ['a number value', { config: { A: 1 } }],
      ['201 keys', { config: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`K${i}`, 'v'])) }],
      ['an unknown tier', { resource_tier: 'xl' }],
      ['an unknown policy', { upgrade_policy: 'never' }],
      ['an unknown field beside a bad one', { lifecycle_state: 'ready', resource_tier: 'xl' }],
    ])('PATCH with %s → 422 validation_failed', async (_label, body) => {
      await rejected(() => t.request('PATCH', PG, { key: acme, body }), 422, 'validation_failed');
    });

    it('redeploys on request as a new generation', async () => {
      const generation = (await streamState('acme')).generation;
      const res = await ok(t.request('POST', `${PG}/deploy`, { key: acme, body: {} }));
      expect(Object.keys(res.body).sort()).toEqual(DEPLOYMENT_FIELDS);
      expect(res.body).toMatchObject({ status: 'pending', version: '2.0.0', generation: generation + 1 });
      expect(res.headers.get('etag')).toMatch(/^"\d+"$/);
      await rejected(() => t.request('POST', `${PG}/deploy`, { key: acme, body: { version: '1.2.0' } }), 422, 'version_yanked');
      await rejected(() => t.request('POST', `${PG}/deploy`, { key: acme, body: { version: '7.7.7' } }), 404, 'version_not_found');
      await rejected(() => t.request('POST', '/providers/installed/acme/nope/deploy', { key: acme, body: {} }), 404, 'not_installed');
    });

    it('honours If-Match: 412 revision_mismatch when stale, 200 when current', async () => {
      const got = await ok(t.request('GET', `${PG}?min_position=${await t.lastPosition()}`, { key: acme }));
      const etag = got.headers.get('etag')!;
      const revision = Number(etag.replace(/"/g, ''));
      expect(revision).toBe((await history(acme)).length - 1);
      await rejected(() => t.request('PATCH', PG, { key: acme, body: { config: { A: '1' } }, headers: { 'If-Match': `"${revision - 1}"` } }), 412, 'revision_mismatch');
      await rejected(() => t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '1.0.0' }, headers: { 'If-Match': `"${revision + 1}"` } }), 412, 'revision_mismatch');
      await rejected(() => t.request('PATCH', PG, { key: acme, body: { config: { A: '1' } }, headers: { 'If-Match': 'yesterday' } }), 412, 'invalid_if_match');
      const res = await ok(t.request('PATCH', PG, { key: acme, body: { config: { A: '1' } }, headers: { 'If-Match': etag } }));
      expect(res.body.config).toEqual({ A: '1' });
      expect(res.headers.get('etag')).toBe(`"${revision + 1}"`);
      const weak = await ok(t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '1.1.0' }, headers: { 'If-Match': `W/"${revision + 1}"` } }));
      expect(weak.body.installed_version).toBe('1.1.0');
    });

    it('replays an Idempotency-Key with the same body and refuses it with another', async () => {
      const headers = { 'Idempotency-Key': 'acme-upgrade-1' };
      const first = await ok(t.request('POST', `${PG}/upgrade`, { key: acme, body: { version: '2.0.0' }, headers }));
      const count = await t.eventCount();
      const again = await ok(t.request('POST', `${PG}/upgrade`, { key: acme, body: { version: '2.0.0' }, headers }));
      expect(again.body).toEqual(first.body);
      expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
      expect(again.headers.get('x-position')).toBe(first.headers.get('x-position'));
      expect(await t.eventCount()).toBe(count);

      // Later commands do not change what the retry answers.
      await ok(t.request('PATCH', PG, { key: acme, body: { config: { B: '2' } } }));
      const later = await ok(t.request('POST', `${PG}/upgrade`, { key: acme, body: { version: '2.0.0' }, headers }));
      expect(later.body).toEqual(first.body);
      expect(later.headers.get('etag')).toBe(first.headers.get('etag'));

      await rejected(() => t.request('POST', `${PG}/upgrade`, { key: acme, body: {}, headers }), 409, 'idempotency_key_reused');
      await rejected(() => t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '1.0.0' }, headers }), 409, 'idempotency_key_reused');
      await rejected(() => t.request('PATCH', PG, { key: acme, body: { config: { C: '3' } }, headers }), 409, 'idempotency_key_reused');
    });

    it('replays an idempotent install for the tenant that sent it', async () => {
      // beta uninstalls nothing here: a fresh provider keeps this self-contained
      await ok(t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/redis', version: '1.0.0', wheel_url: 'https://files.example.com/redis-1.0.0.whl' } }), 201);
      const headers = { 'Idempotency-Key': 'install-redis' };
      const body = { provider_name: 'acme/redis', config: { MAXMEMORY: '1gb' } };
      const first = await ok(t.request('POST', '/providers/install', { key: beta, body, headers }), 201);
      const count = await t.eventCount();
      const again = await ok(t.request('POST', '/providers/install', { key: beta, body, headers }), 201);
      expect(again.body).toEqual(first.body);
      expect(await t.eventCount()).toBe(count);
      await rejected(() => t.request('POST', '/providers/install', { key: beta, body: { ...body, config: {} }, headers }), 409, 'idempotency_key_reused');
      await rejected(() => t.request('POST', '/providers/install', { key: beta, body }), 409, 'already_installed');
    });
  });

  describe('read-your-writes', () => {
    it('waits for its own write even while an older transaction is still open', async () => {
      const client = await t.db.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_current_xact_id()'); // holds an xid older than the command's
        const patch = await ok(t.request('PATCH', '/providers/installed/acme/redis', { key: beta, body: { config: { MAXMEMORY: '2gb' } } }));
        const pending = t.request('GET', `/providers/installed/acme/redis?min_position=${patch.headers.get('x-position')}`, { key: beta });
        await sleep(300);
        await client.query('COMMIT');
        const got = await pending;
        expect(got.status).toBe(200);
        expect(got.body.config).toEqual({ MAXMEMORY: '2gb' });
      } finally {
        client.release();
      }
    });
  });

  describe('uninstall', () => {
    it('DELETE → 202 DELETING; every other command is then 409 installation_deleting', async () => {
      const before = await t.eventCount();
      const del = await ok(t.request('DELETE', PG, { key: acme }), 202);
      expect(await t.eventCount()).toBe(before + 1);
      expect(Object.keys(del.body).sort()).toEqual(INSTALLED_PROVIDER_FIELDS);
      expect(del.body.lifecycle_state).toBe('deleting');
      expect(del.headers.get('etag')).toMatch(/^"\d+"$/);
      expect(del.headers.get('x-position')).toMatch(POSITION);
      const deleting = await ok(t.request('GET', `/providers/installed?lifecycle_state=deleting&min_position=${del.headers.get('x-position')}`, { key: acme }));
      expect(deleting.body.map((i: { canonical: string }) => i.canonical)).toEqual(['acme/postgres']);

      await rejected(() => t.request('POST', `${PG}/upgrade`, { key: acme, body: {} }), 409, 'installation_deleting');
      await rejected(() => t.request('POST', `${PG}/downgrade`, { key: acme, body: { target_version: '1.0.0' } }), 409, 'installation_deleting');
      await rejected(() => t.request('PATCH', PG, { key: acme, body: { config: { Z: '1' } } }), 409, 'installation_deleting');
      await rejected(() => t.request('POST', `${PG}/deploy`, { key: acme, body: {} }), 409, 'installation_deleting');
      await rejected(() => t.request('POST', '/providers/install', { key: acme, body: { provider_name: 'acme/postgres' } }), 409, 'already_installed');

      // Asking again is harmless: 202, nothing appended.
      const count = await t.eventCount();
      const again = await ok(t.request('DELETE', PG, { key: acme }), 202);
      expect(again.body.lifecycle_state).toBe('deleting');
      expect(await t.eventCount()).toBe(count);

      await rejected(() => t.request('DELETE', '/providers/installed/acme/nope', { key: acme }), 404, 'not_installed');
      await rejected(() => t.request('DELETE', PG, { key: acmeReader }), 403, 'missing_scope');

      // The other tenant's installation is untouched.
      const theirs = await ok(t.request('GET', `${PG}?min_position=${del.headers.get('x-position')}`, { key: beta }));
      expect(theirs.body).toMatchObject({ installed_version: '1.0.0', lifecycle_state: 'pending' });
    });
  });
});
