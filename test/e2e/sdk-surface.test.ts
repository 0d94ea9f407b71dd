import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { RunningInstaller, startInstaller } from '../../apps/installer/installer';
import { DesiredDeployment } from '../../apps/installer/deployer.port';
import { deploymentManifest, generationName } from '../../apps/installer/kubernetes/kubernetes-manifests';
import { LocalProcessDeployer } from '../../apps/installer/local-process/local-process.deployer';
import { deploymentNameOf } from '../../libs/installations/deployment-name';
import { expectRejected, expectStatus } from '../support/http-assertions';
import { TestApp, TestResponse, startTestApp } from '../support/test-app';

/*
 * The API surface the platform's SDK relies on (issue 16 §2–4, 6–8): complete lists with Link
 * headers, catalog entries that parse as the SDK's Provider model, repeated and comma-joined tags,
 * unknown request fields ignored, runtime_image, the deploy answer, private providers, cascade.
 * Reads after writes carry min_position: read-your-writes by default is tested elsewhere.
 */

jest.setTimeout(90_000);

const wheel = (name: string, version: string) => `https://files.example.com/${name.replace('/', '_')}-${version}-py3-none-any.whl`;

/** The SDK's Provider model: required fields and their JSON types (null allowed where the model says Optional). */
const SDK_PROVIDER: Record<string, string> = {
  prefix: 'string',
  name: 'string',
  canonical: 'string',
  display_name: 'string',
  description: 'string',
  author: 'object',
  scope: 'string',
  icon_url: 'string|null',
  readme: 'string|null',
  tags: 'array',
  latest_version: 'string|null',
  install_count: 'number',
  created_at: 'string',
  updated_at: 'string',
};

function jsonType(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

function expectModel(body: Record<string, unknown>, model: Record<string, string>): void {
  const types = Object.fromEntries(Object.keys(model).map((field) => [field, jsonType(body[field])]));
  const allowed = Object.fromEntries(Object.entries(model).map(([field, type]) => [field, type.split('|').includes(types[field]) ? types[field] : type]));
  expect(types).toEqual(allowed);
}

describe('SDK surface', () => {
  let t: TestApp;
  let acme: string;
  let beta: string;
  let admin: string;

  const at = (res: TestResponse) => `min_position=${res.headers.get('x-position')}`;
  const publish = (body: Record<string, unknown>, key = acme) => expectStatus(t.request('POST', '/provider-versions', { key, body }), 201);
  const rejected = (send: () => Promise<TestResponse>, status: number, code: string) => expectRejected(t, send, status, code);

  beforeAll(async () => {
    t = await startTestApp();
    acme = await t.createKey('acme', ['publish', 'install', 'read']);
    beta = await t.createKey('beta', ['publish', 'install', 'read']);
    admin = await t.createKey('ops', ['publish', 'install', 'read', 'admin'], { platformAdmin: true });
  });

  afterAll(async () => {
    await t?.close();
  });

  describe('complete lists', () => {
    it('GET …/versions returns all 26 versions without limit; with limit/offset it pages with Link next/prev keeping the other parameters', async () => {
      let last: TestResponse | undefined;
      for (let minor = 0; minor < 26; minor++) last = await publish({ name: 'acme/many', version: `1.${minor}.0`, wheel_url: wheel('acme/many', `1.${minor}.0`) });
      const all = await expectStatus(t.request('GET', `/providers/acme/many/versions?${at(last!)}`, { key: beta }));
      expect(all.body).toHaveLength(26);
      expect(all.body[0].version).toBe('1.25.0');
      expect(all.headers.get('x-total-count')).toBe('26');
      expect(all.headers.get('link')).toBeNull();

      const middle = await expectStatus(t.request('GET', '/providers/acme/many/versions?status=published&limit=10&offset=10', { key: beta }));
      expect(middle.body.map((v: { version: string }) => v.version)).toEqual(Array.from({ length: 10 }, (_, i) => `1.${15 - i}.0`));
      expect(middle.headers.get('x-total-count')).toBe('26');
      expect(middle.headers.get('link')).toBe(
        '</providers/acme/many/versions?status=published&limit=10&offset=20>; rel="next", </providers/acme/many/versions?status=published&limit=10&offset=0>; rel="prev"',
      );
      const lastPage = await expectStatus(t.request('GET', '/providers/acme/many/versions?limit=10&offset=20', { key: beta }));
      expect(lastPage.body).toHaveLength(6);
      expect(lastPage.headers.get('link')).toBe('</providers/acme/many/versions?limit=10&offset=10>; rel="prev"');
    });

    it('GET /providers/installed returns all 22 installations without limit, and pages with Link when asked', async () => {
      let last: TestResponse | undefined;
      for (let i = 0; i < 22; i++) {
        const name = `acme/p${String(i).padStart(2, '0')}`;
        await publish({ name, version: '1.0.0', wheel_url: wheel(name, '1.0.0') });
        last = await expectStatus(t.request('POST', '/providers/install', { key: beta, body: { provider_name: name } }), 201);
      }
      const all = await expectStatus(t.request('GET', `/providers/installed?${at(last!)}`, { key: beta }));
      expect(all.body).toHaveLength(22);
      expect(all.headers.get('x-total-count')).toBe('22');
      expect(all.headers.get('link')).toBeNull();
      const first = await expectStatus(t.request('GET', '/providers/installed?lifecycle_state=pending&limit=20', { key: beta }));
      expect(first.body).toHaveLength(20);
      expect(first.headers.get('link')).toBe('</providers/installed?lifecycle_state=pending&limit=20&offset=20>; rel="next"');
    });

    it('GET /providers keeps its page object (default 20) and adds Link headers', async () => {
      const page = await expectStatus(t.request('GET', '/providers?q=acme/p', { key: beta }));
      expect(page.body).toMatchObject({ total: 22, limit: 20, offset: 0 });
      expect(page.body.items).toHaveLength(20);
      expect(page.headers.get('link')).toBe('</providers?q=acme%2Fp&limit=20&offset=20>; rel="next"');
    });
  });

  describe('the catalog parses as the SDK’s Provider model', () => {
    it('a provider published with metadata {} has display_name = its short name and description "", in the publish, get and list', async () => {
      const res = await publish({ name: 'beta/bare', version: '1.0.0', wheel_url: wheel('beta/bare', '1.0.0'), metadata: {} }, beta);
      const got = await expectStatus(t.request('GET', `/providers/beta/bare?${at(res)}`, { key: acme }));
      expectModel(got.body, SDK_PROVIDER);
      expect(got.body).toMatchObject({ display_name: 'bare', description: '', scope: 'public' });
      const listed = await expectStatus(t.request('GET', '/providers?limit=100', { key: acme }));
      expect(listed.body.items.length).toBeGreaterThan(20);
      for (const item of listed.body.items) expectModel(item, SDK_PROVIDER);
    });

    it('PATCH answers with the defaults too, and setting display_name back to null restores the default', async () => {
      const named = await expectStatus(t.request('PATCH', '/providers/beta/bare', { key: beta, body: { display_name: 'Bare' } }));
      expect(named.body).toMatchObject({ display_name: 'Bare', description: '' });
      const reset = await expectStatus(t.request('PATCH', '/providers/beta/bare', { key: beta, body: { display_name: null } }));
      expectModel(reset.body, SDK_PROVIDER);
      expect(reset.body.display_name).toBe('bare');
    });

    it('the OpenAPI document says so', async () => {
      const doc = await expectStatus(t.request('GET', '/openapi.json'));
      const provider = doc.body.components.schemas.ProviderResponse.properties;
      expect(provider.display_name).toMatchObject({ type: 'string', description: expect.stringContaining('short name') });
      expect(provider.description).toMatchObject({ type: 'string', description: expect.stringContaining('""') });
    });
  });

  describe('tags', () => {
    it('repeated (what httpx sends), comma-joined and mixed all mean "every one of these"', async () => {
      await publish({ name: 'acme/tag-both', version: '1.0.0', wheel_url: wheel('acme/tag-both', '1.0.0'), metadata: { tags: ['sdk-a', 'sdk-b'] } });
      const res = await publish({ name: 'acme/tag-one', version: '1.0.0', wheel_url: wheel('acme/tag-one', '1.0.0'), metadata: { tags: ['sdk-a'] } });
      const names = async (query: string) => (await expectStatus(t.request('GET', `/providers?${query}&${at(res)}`, { key: beta }))).body.items.map((p: { canonical: string }) => p.canonical).sort();
      expect(await names('tags=sdk-a&tags=sdk-b')).toEqual(['acme/tag-both']);
      expect(await names('tags=sdk-a,sdk-b')).toEqual(['acme/tag-both']);
      expect(await names('tags=sdk-a&tags=sdk-b,sdk-a')).toEqual(['acme/tag-both']);
      expect(await names('tags=sdk-a')).toEqual(['acme/tag-both', 'acme/tag-one']);
      expect(await names('tags=sdk-a&tags=nothing')).toEqual([]);
    });

    it('more than 20 tags is a 422, not a silent cut', async () => {
      const many = Array.from({ length: 21 }, (_, i) => `tags=t${i}`).join('&');
      await rejected(() => t.request('GET', `/providers?${many}`, { key: beta }), 422, 'validation_failed');
    });
  });

  describe('unknown request fields are ignored', () => {
    it('a publish and an install with fields the server does not know succeed, and the extras are not stored', async () => {
      const res = await publish({ name: 'acme/extra', version: '1.0.0', wheel_url: wheel('acme/extra', '1.0.0'), visibility: 'x', metadata: { display_name: 'Extra', colour: 'red' } });
      expect(res.body).not.toHaveProperty('visibility');
      const installed = await expectStatus(t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'acme/extra', replicas: 3, config: {} } }), 201);
      expect(installed.body).not.toHaveProperty('replicas');
      const history = await expectStatus(t.request('GET', `/providers/acme/extra/history?${at(res)}`, { key: acme }));
      expect(JSON.stringify(history.body)).not.toMatch(/colour|visibility/);
    });

    it('the OpenAPI document lists the known fields and says extras are ignored', async () => {
      const doc = await expectStatus(t.request('GET', '/openapi.json'));
      const publishBody = doc.body.components.schemas.PublishVersionDto;
      expect(publishBody).toMatchObject({ additionalProperties: true, description: expect.stringContaining('ignored') });
      expect(Object.keys(publishBody.properties)).toEqual(expect.arrayContaining(['name', 'version', 'wheel_url', 'runtime_image', 'metadata']));
      expect(doc.body.components.schemas.InstallProviderDto.additionalProperties).toBe(true);
    });
  });

  describe('runtime_image', () => {
    it('is accepted, stored on the version and answered', async () => {
      const image = `ghcr.io/acme/runtime:2.0@sha256:${'b'.repeat(64)}`;
      const res = await publish({ name: 'acme/imaged', version: '1.0.0', wheel_url: wheel('acme/imaged', '1.0.0'), runtime_image: image });
      expect(res.body.runtime_image).toBe(image);
      const got = await expectStatus(t.request('GET', `/providers/acme/imaged/versions/1.0.0?${at(res)}`, { key: beta }));
      expect(got.body.runtime_image).toBe(image);
    });

    it.each(['not an image', 'https://ghcr.io/acme/runtime:1', 'ghcr.io/Acme/runtime', 'ghcr.io/acme/runtime@sha256:short', '/usr/local/bin/runtime'])(
      'refuses %s with 422 invalid_runtime_image, writing nothing',
      async (image) => {
        await rejected(() => t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/imaged', version: '9.0.0', wheel_url: wheel('acme/imaged', '9.0.0'), runtime_image: image } }), 422, 'invalid_runtime_image');
      },
    );

    it('is the container image of the Kubernetes deployment when set, else RUNTIME_IMAGE:runtime_version', () => {
      const desired: DesiredDeployment = {
        installationId: 'i-1',
        tenant: 'beta',
        prefix: 'acme',
        name: 'imaged',
        generation: 2,
        version: '1.0.0',
        runtimeVersion: '3.1.4',
        wheelUrl: wheel('acme/imaged', '1.0.0'),
        wheelSha256: null,
        packageName: null,
        entrypoint: null,
        config: {},
        resourceTier: 'standard',
        registrationToken: 'token',
        storeUrl: 'http://store',
      };
      const imageOf = (d: DesiredDeployment) => deploymentManifest(d, 'ns', 'registry.example.com/runtime').spec?.template.spec?.containers[0].image;
      expect(imageOf(desired)).toBe('registry.example.com/runtime:3.1.4');
      expect(imageOf({ ...desired, runtimeImage: 'ghcr.io/acme/runtime:2.0' })).toBe('ghcr.io/acme/runtime:2.0');
      expect(deploymentManifest(desired, 'ns', 'r').metadata?.name).toBe(deploymentNameOf('kubernetes', desired, 2));
      expect(generationName(desired)).toBe(deploymentNameOf('kubernetes', desired, 2));
    });
  });

  describe('private providers', () => {
    let published: TestResponse;

    beforeAll(async () => {
      published = await publish({ name: 'acme/secret', version: '1.0.0', wheel_url: wheel('acme/secret', '1.0.0'), metadata: { scope: 'tenant', tags: ['hidden'] } });
    });

    it('the owning organisation sees it with scope tenant, in get, versions, list and ?scope=tenant', async () => {
      const got = await expectStatus(t.request('GET', `/providers/acme/secret?${at(published)}`, { key: acme }));
      expect(got.body).toMatchObject({ scope: 'tenant', canonical: 'acme/secret' });
      expect((await expectStatus(t.request('GET', '/providers/acme/secret/versions', { key: acme }))).body).toHaveLength(1);
      const mine = await expectStatus(t.request('GET', '/providers?scope=tenant', { key: acme }));
      expect(mine.body.items.map((p: { canonical: string }) => p.canonical)).toEqual(['acme/secret']);
      const pub = await expectStatus(t.request('GET', '/providers?scope=public&tags=hidden', { key: acme }));
      expect(pub.body.total).toBe(0);
      expect((await expectStatus(t.request('GET', '/providers?tags=hidden', { key: acme }))).body.total).toBe(1);
    });

    it('another organisation gets 404 for everything about it, and it is not listed', async () => {
      await rejected(() => t.request('GET', `/providers/acme/secret?${at(published)}`, { key: beta }), 404, 'provider_not_found');
      await rejected(() => t.request('GET', '/providers/acme/secret/versions', { key: beta }), 404, 'provider_not_found');
      await rejected(() => t.request('GET', '/providers/acme/secret/versions/1.0.0', { key: beta }), 404, 'provider_not_found');
      await rejected(() => t.request('GET', `/providers/acme/secret/versions?as_of=${new Date().toISOString()}`, { key: beta }), 404, 'provider_not_found');
      await rejected(() => t.request('GET', '/providers/acme/secret/history', { key: beta }), 404, 'provider_not_found');
      await rejected(() => t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'acme/secret' } }), 404, 'provider_not_found');
      expect((await expectStatus(t.request('GET', '/providers?tags=hidden', { key: beta }))).body.total).toBe(0);
      expect((await expectStatus(t.request('GET', '/providers?scope=tenant', { key: beta }))).body.total).toBe(0);
    });

    it('the owner installs it; a platform admin may read it but not install it into its own organisation', async () => {
      await expectStatus(t.request('POST', '/providers/install', { key: acme, body: { provider_name: 'acme/secret' } }), 201);
      await expectStatus(t.request('GET', '/providers/acme/secret', { key: admin }));
      await rejected(() => t.request('POST', '/providers/install', { key: admin, body: { provider_name: 'acme/secret' } }), 404, 'provider_not_found');
    });

    it('PATCH scope public makes it visible to everyone', async () => {
      const patched = await expectStatus(t.request('PATCH', '/providers/acme/secret', { key: acme, body: { scope: 'public' } }));
      expect(patched.body.scope).toBe('public');
      const got = await expectStatus(t.request('GET', `/providers/acme/secret?${at(patched)}`, { key: beta }));
      expect(got.body.scope).toBe('public');
    });
  });

  describe('deploy answer without an installer running', () => {
    it('GET …/deployment shows the generation POST …/deploy answered (not 404 not_deployed), under the same name and image', async () => {
      const before = await t.request('GET', '/providers/installed/acme/p03/deployment', { key: beta });
      expect(before.body.code).toBe('not_deployed');
      const deploy = await expectStatus(t.request('POST', '/providers/installed/acme/p03/deploy', { key: beta, body: {} }));
      expect(deploy.body).toMatchObject({ status: 'pending', available_replicas: 0, ready_replicas: 0, version: '1.0.0' });
      expect(deploy.body.deployment_name).toBe(`local-${deploy.body.deployment_name.slice(6, 42)}-g${deploy.body.generation}`);
      expect(deploy.body.image).toMatch(/^local-process:sample-runtime@/);
      const got = await expectStatus(t.request('GET', `/providers/installed/acme/p03/deployment?${at(deploy)}`, { key: beta }));
      for (const field of ['deployment_name', 'generation', 'version', 'image', 'status']) expect([field, got.body[field]]).toEqual([field, deploy.body[field]]);
    });
  });

  describe('uninstall cascade', () => {
    it('is accepted as a query parameter and in the body, with the ordinary uninstall as its effect', async () => {
      const byQuery = await expectStatus(t.request('DELETE', '/providers/installed/acme/p00?cascade=true', { key: beta }), 202);
      expect(byQuery.body.lifecycle_state).toBe('deleting');
      const byBody = await expectStatus(t.request('DELETE', '/providers/installed/acme/p01', { key: beta, body: { cascade: true } }), 202);
      expect(byBody.body.lifecycle_state).toBe('deleting');
      const odd = await expectStatus(t.request('DELETE', '/providers/installed/acme/p02?cascade=maybe', { key: beta }), 202);
      expect(odd.body.lifecycle_state).toBe('deleting');
    });
  });
});

describe('POST …/deploy answers with what GET …/deployment shows (local-process deployer)', () => {
  let t: TestApp;
  let installer: RunningInstaller;
  let dir: string;
  let key: string;
  const IDENTITY = ['deployment_name', 'generation', 'version', 'image'] as const;
  const identityOf = (body: Record<string, unknown>) => Object.fromEntries(IDENTITY.map((field) => [field, body[field]]));

  beforeAll(async () => {
    t = await startTestApp({ REGISTRATION_TIMEOUT_MS: '20000', DEPLOYER: 'local-process' });
    dir = mkdtempSync(path.join(tmpdir(), 'sdk-deploy-'));
    const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    const deployer = new LocalProcessDeployer({ logger, runtimeDir: path.join(dir, 'runtimes'), heartbeatIntervalMs: 200, stopTimeoutMs: 3000 });
    installer = await startInstaller(t.infrastructure, { deployer, storeUrl: t.baseUrl });
    key = await t.createKey('acme', ['publish', 'install', 'read']);
  });

  afterAll(async () => {
    await installer?.stop();
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function waitFor(what: string, condition: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('same name, generation, version and image, pending at first, then what the deployer observes', async () => {
    await expectStatus(t.request('POST', '/provider-versions', { key, body: { name: 'acme/db', version: '1.0.0', wheel_url: wheel('acme/db', '1.0.0') } }), 201);
    await expectStatus(t.request('POST', '/providers/install', { key, body: { provider_name: 'acme/db' } }), 201);
    const deployment = () => t.request('GET', '/providers/installed/acme/db/deployment', { key });
    await waitFor('ready at generation 1', async () => (await t.request('GET', '/providers/installed/acme/db', { key })).body.lifecycle_state === 'ready');

    const deploy = await expectStatus(t.request('POST', '/providers/installed/acme/db/deploy', { key, body: {} }));
    expect(deploy.body).toMatchObject({ status: 'pending', generation: 2, version: '1.0.0', available_replicas: 0, ready_replicas: 0 });
    expect(deploy.body.deployment_name).toMatch(/^local-[0-9a-f-]{36}-g2$/);
    expect(deploy.body.image).toBe('local-process:sample-runtime@' + deploy.body.image.split('@')[1]);
    expect(deploy.body.image).not.toContain('/');

    const right = await expectStatus(t.request('GET', `/providers/installed/acme/db/deployment?min_position=${deploy.headers.get('x-position')}`, { key }));
    expect(identityOf(right.body)).toEqual(identityOf(deploy.body));
    await waitFor('generation 2 observed', async () => {
      const body = (await deployment()).body;
      return body.generation === 2 && body.status === 'available';
    });
    const observed = await deployment();
    expect(identityOf(observed.body)).toEqual(identityOf(deploy.body));
  });
});
