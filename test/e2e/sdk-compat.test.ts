import { randomUUID } from 'node:crypto';
import { CLI_SCOPE } from '../../libs/application/idempotency-scopes';
import { CreateOrganizationCommand, CreateOrganizationHandler } from '../../libs/organizations/create-organization.handler';
import { ApiReplica, Send, startApiReplica } from '../support/api-replica';
import { EventStoreDbTestDouble } from '../support/eventstoredb-test-double/eventstoredb-test-double';
import {
  DEPLOYMENT_RESULT,
  INSTALLED_PROVIDER,
  ORGANIZATION,
  PROVIDER,
  PROVIDER_VERSION,
  expectSdkList,
  expectSdkModel,
  problemsOf,
} from '../support/sdk-models';
import { TestApp, TestResponse, startTestApp } from '../support/test-app';

/**
 * Issue 16's "done when": the platform SDK's store calls, in the order a user's script makes them,
 * against two API replicas on one database, every read sent to the other replica than the write
 * before it, with no sleep and no `min_position` anywhere: what the SDK does. Each response must
 * parse as the SDK's model (test/support/sdk-models.ts). Run on PostgreSQL and on the EventStoreDB
 * adapter (through the gRPC test double).
 */

const wheel = (name: string, version: string) => `https://files.example.com/acme_${name.replace(/-/g, '_')}-${version}-py3-none-any.whl`;

/** The status, and the exact JSON content type the SDK insists on, or the body to say why not. */
async function expectAnswer(send: Promise<TestResponse>, status: number): Promise<TestResponse> {
  const response = await send;
  if (response.status !== status) throw new Error(`expected ${status}, got ${response.status}: ${response.text.slice(0, 500)}`);
  if (status !== 204) expect(response.headers.get('content-type')).toBe('application/json');
  return response;
}

describe.each(['postgresql', 'eventstoredb'] as const)('the SDK’s call sequence on two API replicas (%s)', (backend) => {
  let double: EventStoreDbTestDouble | undefined;
  let t: TestApp;
  let replica: ApiReplica;
  let key: string;
  let globexKey: string;
  /** The two replicas: the test alternates which one takes a write; the read after it goes to the other. */
  let a: Send;
  let b: Send;

  const publish = (send: Send, name: string, version: string, extra: Record<string, unknown> = {}) =>
    expectAnswer(send('POST', '/provider-versions', { key, body: { name: `acme/${name}`, version, wheel_url: wheel(name, version), ...extra } }), 201);

  beforeAll(async () => {
    const env: Record<string, string> = {};
    if (backend === 'eventstoredb') {
      double = new EventStoreDbTestDouble();
      env.EVENTSTORE_URL = (await double.start()).connectionString;
    }
    t = await startTestApp(env);
    replica = await startApiReplica(t, env);
    a = (method, path, options) => t.request(method, path, options);
    b = replica.request;
    key = await t.createKey('acme', ['publish', 'install', 'read']);
    globexKey = await t.createKey('globex', ['publish', 'install', 'read']);
    // As `orgs create acme --name "Acme Corp"` does it.
    await new CreateOrganizationHandler(t.infrastructure).execute(
      new CreateOrganizationCommand({ id: 'acme', name: 'Acme Corp', ifAbsent: false }, { actor: 'cli:test', correlationId: randomUUID(), idempotencyScope: CLI_SCOPE, now: new Date().toISOString() }),
    );
  });
  afterAll(async () => {
    await replica?.close();
    await t?.close();
    await double?.stop();
  });

  it('the model checks refuse what the SDK cannot parse', () => {
    const provider = {
      prefix: 'acme', name: 'x', canonical: 'acme/x', display_name: 'X', description: '',
      author: { kind: 'customer', organization_id: 'acme', display_name: 'acme' }, scope: 'public',
      icon_url: null, readme: null, tags: [], latest_version: null, install_count: 0,
      created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00Z',
    };
    expect(problemsOf(provider, PROVIDER)).toEqual([]);
    expect(problemsOf({ ...provider, display_name: null }, PROVIDER)).toEqual([expect.stringContaining('Provider.display_name: null')]);
    expect(problemsOf({ ...provider, description: undefined }, PROVIDER)).toEqual([expect.stringContaining('Provider.description: missing')]);
    expect(problemsOf({ ...provider, install_count: '0' }, PROVIDER)).toHaveLength(1);
    expect(problemsOf({ ...provider, created_at: 'yesterday' }, PROVIDER)).toHaveLength(1);
    expect(problemsOf({ ...provider, author: { kind: 'nobody' } }, PROVIDER)).toHaveLength(1);
    expect(problemsOf({ ...provider, scope: 'private' }, PROVIDER)).toHaveLength(1);
    expect(problemsOf([provider], PROVIDER)).toHaveLength(1);
  });

  it('publish two versions with tags, then get_provider at once on the other replica', async () => {
    for (const version of ['1.0.0', '1.1.0']) {
      const published = await publish(a, 'pg', version, { metadata: { display_name: 'Postgres', description: 'A database', tags: ['database', 'sql'] } });
      expectSdkModel(published.body, PROVIDER_VERSION);
      expect(published.body).toMatchObject({ prefix: 'acme', name: 'pg', version, canonical: 'acme/pg', status: 'published' });
    }
    const provider = await expectAnswer(b('GET', '/providers/acme/pg', { key }), 200);
    expectSdkModel(provider.body, PROVIDER);
    expect(provider.body).toMatchObject({ canonical: 'acme/pg', display_name: 'Postgres', latest_version: '1.1.0' });
    expect([...provider.body.tags].sort()).toEqual(['database', 'sql']);
  });

  it('publish with metadata {} and get it at once: display_name is the short name, description ""; every catalog page still parses', async () => {
    expectSdkModel((await publish(b, 'bare', '0.1.0', { metadata: {} })).body, PROVIDER_VERSION);
    const provider = await expectAnswer(a('GET', '/providers/acme/bare', { key }), 200);
    expectSdkModel(provider.body, PROVIDER);
    expect(provider.body).toMatchObject({ display_name: 'bare', description: '', tags: [] });
    // Another tenant's catalog pages contain it too: they must parse as well.
    const page = await expectAnswer(a('GET', '/providers', { key: globexKey }), 200);
    expectSdkList(page.body.items, PROVIDER);
    expect(page.body.items.map((p: { canonical: string }) => p.canonical)).toEqual(expect.arrayContaining(['acme/pg', 'acme/bare']));
  });

  it('list_providers with two repeated tags (and the comma-joined form) means "all of these"', async () => {
    const repeated = await expectAnswer(b('GET', '/providers?tags=database&tags=sql', { key }), 200);
    expectSdkList(repeated.body.items, PROVIDER);
    expect(repeated.body.items.map((p: { canonical: string }) => p.canonical)).toEqual(['acme/pg']);
    const joined = await expectAnswer(b('GET', '/providers?tags=database,sql', { key }), 200);
    expect(joined.body.items.map((p: { canonical: string }) => p.canonical)).toEqual(['acme/pg']);
    const none = await expectAnswer(b('GET', '/providers?tags=database&tags=nosql', { key }), 200);
    expect(none.body.items).toEqual([]);
  });

  it('publish 26 versions, then list them all at once without a limit; with a limit, Link headers', async () => {
    const versions = Array.from({ length: 26 }, (_, i) => `2.0.${i}`);
    for (const version of versions) await publish(a, 'many', version);
    const all = await expectAnswer(b('GET', '/providers/acme/many/versions', { key }), 200);
    expectSdkList(all.body, PROVIDER_VERSION);
    expect(all.body.map((v: { version: string }) => v.version)).toEqual([...versions].reverse());
    expect(all.headers.get('x-total-count')).toBe('26');
    expect(all.headers.get('link')).toBeNull();

    const page = await expectAnswer(b('GET', '/providers/acme/many/versions?limit=10&offset=10', { key }), 200);
    expect(page.body.map((v: { version: string }) => v.version)).toEqual([...versions].reverse().slice(10, 20));
    expect(page.headers.get('x-total-count')).toBe('26');
    const link = page.headers.get('link') ?? '';
    expect(link).toMatch(/<[^>]*\/providers\/acme\/many\/versions\?[^>]*offset=20[^>]*>;\s*rel="next"/);
    expect(link).toMatch(/<[^>]*\/providers\/acme\/many\/versions\?[^>]*offset=0[^>]*>;\s*rel="prev"/);
  });

  it('install, then list_installations at once on the other replica', async () => {
    const installed = await expectAnswer(a('POST', '/providers/install', { key, body: { provider_name: 'acme/pg', version: '1.0.0' } }), 201);
    expectSdkModel(installed.body, INSTALLED_PROVIDER);
    expect(installed.body).toMatchObject({ canonical: 'acme/pg', installed_version: '1.0.0', lifecycle_state: 'pending', resource_tier: 'standard', upgrade_policy: 'manual' });
    const list = await expectAnswer(b('GET', '/providers/installed', { key }), 200);
    expectSdkList(list.body, INSTALLED_PROVIDER);
    expect(list.body).toEqual([expect.objectContaining({ canonical: 'acme/pg', installed_version: '1.0.0', upgrade_available: '1.1.0' })]);
  });

  it('upgrade, then read it at once on the other replica', async () => {
    const upgraded = await expectAnswer(b('POST', '/providers/installed/acme/pg/upgrade', { key, body: { version: '1.1.0' } }), 200);
    expectSdkModel(upgraded.body, INSTALLED_PROVIDER);
    expect(upgraded.body).toMatchObject({ installed_version: '1.1.0', lifecycle_state: 'pending', upgrade_available: null });
    const one = await expectAnswer(a('GET', '/providers/installed/acme/pg', { key }), 200);
    expectSdkModel(one.body, INSTALLED_PROVIDER);
    expect(one.body).toMatchObject({ installed_version: '1.1.0', upgrade_available: null });
  });

  it('downgrade, then list at once on the other replica', async () => {
    const downgraded = await expectAnswer(a('POST', '/providers/installed/acme/pg/downgrade', { key, body: { target_version: '1.0.0' } }), 200);
    expectSdkModel(downgraded.body, INSTALLED_PROVIDER);
    expect(downgraded.body).toMatchObject({ installed_version: '1.0.0', upgrade_available: '1.1.0' });
    const list = await expectAnswer(b('GET', '/providers/installed', { key }), 200);
    expectSdkList(list.body, INSTALLED_PROVIDER);
    expect(list.body).toEqual([expect.objectContaining({ canonical: 'acme/pg', installed_version: '1.0.0' })]);
  });

  it('deploy answers with what GET …/deployment then shows for that generation', async () => {
    const deployed = await expectAnswer(b('POST', '/providers/installed/acme/pg/deploy', { key, body: {} }), 200);
    expectSdkModel(deployed.body, DEPLOYMENT_RESULT);
    expect(deployed.body.version).toBe('1.0.0');
    const status = await expectAnswer(a('GET', '/providers/installed/acme/pg/deployment', { key }), 200);
    expectSdkModel(status.body, DEPLOYMENT_RESULT);
    const identity = (d: Record<string, unknown>) => ({ deployment_name: d.deployment_name, generation: d.generation, version: d.version, image: d.image, status: d.status });
    expect(identity(status.body)).toEqual(identity(deployed.body));
  });

  it('a body with a field the server does not know is accepted, as the platform’s models accept it (and the legacy runtime_image)', async () => {
    const unknown = await publish(a, 'pg', '1.2.0', { field_from_a_newer_sdk: { anything: [1, 2] } });
    expectSdkModel(unknown.body, PROVIDER_VERSION);
    const legacy = await publish(b, 'pg', '1.3.0', { runtime_image: 'ghcr.io/acme/pg-runtime:1.3.0' });
    expectSdkModel(legacy.body, PROVIDER_VERSION);
    const read = await expectAnswer(b('GET', '/providers/acme/pg/versions/1.2.0', { key }), 200);
    expectSdkModel(read.body, PROVIDER_VERSION);
    expect(read.body).not.toHaveProperty('field_from_a_newer_sdk');
    const upgrade = await expectAnswer(a('POST', '/providers/installed/acme/pg/upgrade', { key, body: { version: '1.2.0', field_from_a_newer_sdk: 'x' } }), 200);
    expect(upgrade.body.installed_version).toBe('1.2.0');
  });

  it('uninstall, then list at once on the other replica: gone or deleting, never as it was', async () => {
    const removed = await expectAnswer(b('DELETE', '/providers/installed/acme/pg', { key }), 202);
    expectSdkModel(removed.body, INSTALLED_PROVIDER);
    expect(removed.body.lifecycle_state).toBe('deleting');
    const list = await expectAnswer(a('GET', '/providers/installed', { key }), 200);
    expectSdkList(list.body, INSTALLED_PROVIDER);
    const still = list.body.filter((i: { canonical: string }) => i.canonical === 'acme/pg');
    expect(still.map((i: { lifecycle_state: string }) => i.lifecycle_state)).toEqual(still.length === 0 ? [] : ['deleting']);
  });

  it('delete a provider, then get it at once on the other replica: 404', async () => {
    await expectAnswer(a('DELETE', '/providers/acme/bare', { key }), 204);
    const gone = await b('GET', '/providers/acme/bare', { key });
    expect([gone.status, gone.body?.code]).toEqual([404, 'provider_not_found']);
  });

  it('the organisation lookup: the SDK’s Organization, slug = the prefix; another organisation is a 404', async () => {
    for (const send of [a, b]) {
      const own = await expectAnswer(send('GET', '/organizations/acme', { key }), 200);
      expectSdkModel(own.body, ORGANIZATION);
      expect(own.body).toMatchObject({ id: 'acme', slug: 'acme', name: 'Acme Corp' });
      const list = await expectAnswer(send('GET', '/organizations', { key }), 200);
      expectSdkList(list.body, ORGANIZATION);
      expect(list.body.map((o: { slug: string }) => o.slug)).toEqual(['acme']);
      const foreign = await send('GET', '/organizations/globex', { key });
      expect([foreign.status, foreign.body?.code]).toEqual([404, 'organization_not_found']);
    }
    // An organisation known only from its key (as every one is in a database from before organisations).
    const globex = await expectAnswer(b('GET', '/organizations/globex', { key: globexKey }), 200);
    expectSdkModel(globex.body, ORGANIZATION);
    expect(globex.body).toMatchObject({ id: 'globex', slug: 'globex', name: 'globex' });
  });
});
