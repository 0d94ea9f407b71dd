import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { runCommand } from '../../libs/application/command-runner';
import { installationStream } from '../../libs/installations/installation-identity';
import { installationDecider } from '../../libs/installations/installation.decider';
import { fold } from '../../libs/domain/decider';
import { upcast } from '../../libs/domain/upcasters';
import { HttpsWheelServer, startHttpsWheelServer } from '../support/https-wheel-server';
import { expectRejected, expectStatus } from '../support/http-assertions';
import { TestApp, TestResponse, startTestApp } from '../support/test-app';

/**
 * GET /artifacts/{sha256} against the real API: the wheel's bytes are put in the store directly and
 * a version references them through the normal publish route (wheel_url + sha256, checked against
 * a local HTTPS registry serving the same bytes). Who may download: the publishing organisation's
 * keys, a platform admin, and the runtime of an installation deploying that version; everyone else
 * gets the same 404 as for an unknown digest.
 */

const WHEEL_BYTES = 3 * 1024 * 1024 + 17; // several 1 MiB chunks in PostgreSQL
const sha256Of = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
/** The wheel of acme/gone, the provider the last test deletes: what the registry's `/big-declared.whl` serves (0x5a bytes). */
const GONE_WHEEL = Buffer.alloc(5000, 0x5a);

describe('artifacts', () => {
  let t: TestApp;
  let wheels: HttpsWheelServer;
  let acme: string; // publish + read
  let acmeReader: string;
  let beta: string; // install + read
  let admin: string;
  let unreferenced: string;
  let runtime: { installationId: string; generation: number; token: string };

  const download = async (sha256: string, headers: Record<string, string>) => {
    const response = await fetch(`${t.baseUrl}/artifacts/${sha256}`, { headers });
    return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
  };
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
  const asRuntime = (overrides: Partial<typeof runtime> = {}) => {
    const r = { ...runtime, ...overrides };
    return { authorization: `Bearer ${r.token}`, 'x-installation-id': r.installationId, 'x-generation': String(r.generation) };
  };
  const notFound = (sha256: string, headers: Record<string, string>) =>
    expectRejected(t, () => t.request('GET', `/artifacts/${sha256}`, { headers }), 404, 'artifact_not_found');

  beforeAll(async () => {
    wheels = await startHttpsWheelServer({ wheelBytes: WHEEL_BYTES, oversizedBytes: GONE_WHEEL.length });
    // No grace period: the collector, run by the ProviderDeleted of the last test, takes every unreferenced artifact.
    t = await startTestApp({ WHEEL_FETCH_ALLOW_HOSTS: '127.0.0.1', WHEEL_FETCH_CA_FILE: wheels.caFile, HEARTBEAT_TIMEOUT_MS: '3600000', ARTIFACT_GC_GRACE_MS: '0' });
    [acme, acmeReader, beta, admin] = await Promise.all([
      t.createKey('acme', ['publish', 'read']),
      t.createKey('acme', ['read']),
      t.createKey('beta', ['install', 'read']),
      t.createKey('ops', ['admin'], { platformAdmin: true }),
    ]);
    const stored = await t.infrastructure.artifacts.put(Readable.from([wheels.wheel]), { maxBytes: t.infrastructure.config.artifacts.uploadMaxBytes });
    expect(stored).toEqual({ sha256: wheels.sha256, size: WHEEL_BYTES, created: true });
    await t.infrastructure.artifacts.put(Readable.from([GONE_WHEEL]), { maxBytes: 1 << 20 });
    await expectStatus(
      t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/gone', version: '1.0.0', wheel_url: `${wheels.url}/big-declared.whl`, sha256: sha256Of(GONE_WHEEL) } }),
      201,
    );
    unreferenced = (await t.infrastructure.artifacts.put(Readable.from([randomBytes(4096)]), { maxBytes: 1 << 20 })).sha256;
    const published = await expectStatus(
      t.request('POST', '/provider-versions', { key: acme, body: { name: 'acme/tool', version: '1.0.0', wheel_url: `${wheels.url}/good.whl`, sha256: wheels.sha256 } }),
      201,
    );
    expect(published.body).toMatchObject({ wheel_sha256: wheels.sha256 });
    // The key path reads the provider-versions read model: wait until it has the version.
    await expectStatus(t.request('GET', `/providers/acme/tool/versions/1.0.0?min_position=${published.headers.get('x-position')}`, { key: acme }));
    runtime = await installAndDeploy();
  });
  afterAll(async () => {
    await t?.close();
    await wheels?.close();
  });

  /** beta installs acme/tool; the test plays the installer (DeployStarted with a token hash). */
  async function installAndDeploy(): Promise<typeof runtime> {
    await expectStatus(t.request('POST', '/providers/install', { key: beta, body: { provider_name: 'acme/tool' } }), 201);
    const stream = installationStream('beta', { prefix: 'acme', name: 'tool' });
    const state = fold(installationDecider, (await t.infrastructure.eventStore.readStream(stream)).map(upcast) as never[]);
    if (state.status !== 'present') throw new Error('not installed');
    const token = randomBytes(32).toString('base64url');
    const now = new Date().toISOString();
    await runCommand(
      t.infrastructure.eventStore,
      installationDecider,
      stream,
      { type: 'StartDeploy', generation: state.generation, tokenHash: sha256Of(Buffer.from(token)), now },
      { actor: 'installer:test', correlationId: randomUUID(), idempotencyScope: 'installer', now },
    );
    // The runtime is found through the installed-providers read model.
    await expectStatus(t.request('GET', `/providers/installed?min_position=${await t.lastPosition()}`, { key: beta }));
    return { installationId: state.installationId, generation: state.generation, token };
  }

  it('streams the bytes to the publishing organisation: octet-stream, Content-Length, ETag the quoted sha256', async () => {
    for (const key of [acme, acmeReader]) {
      const res = await download(wheels.sha256, bearer(key));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/octet-stream');
      expect(res.headers.get('content-length')).toBe(String(WHEEL_BYTES));
      expect(res.headers.get('etag')).toBe(`"${wheels.sha256}"`);
      expect(res.bytes.equals(wheels.wheel)).toBe(true);
    }
  });

  it('streams them to a platform admin, referenced or not', async () => {
    expect(sha256Of((await download(wheels.sha256, bearer(admin))).bytes)).toBe(wheels.sha256);
    const orphan = await download(unreferenced, bearer(admin));
    expect(orphan.status).toBe(200);
    expect(sha256Of(orphan.bytes)).toBe(unreferenced);
  });

  it('streams them to the runtime of an installation deploying the version', async () => {
    const res = await download(wheels.sha256, asRuntime());
    expect(res.status).toBe(200);
    expect(res.bytes.equals(wheels.wheel)).toBe(true);
  });

  it('answers 404 artifact_not_found alike for an unknown digest and for one the caller may not read', async () => {
    const unknown = sha256Of(randomBytes(16));
    const bodies: TestResponse[] = [
      await notFound(wheels.sha256, bearer(beta)), // another organisation's wheel
      await notFound(unknown, bearer(beta)),
      await notFound(unreferenced, bearer(acme)), // stored, but no version of acme's references it
      await notFound(unknown, bearer(acme)),
      await notFound(unreferenced, asRuntime()), // stored, but not what the runtime deploys
      await notFound('not-a-digest', bearer(admin)),
      await notFound(unknown, bearer(admin)),
    ];
    expect(new Set(bodies.map((b) => b.text)).size).toBe(1);
  });

  it('refuses missing or invalid credentials with 401, whatever the digest', async () => {
    await expectRejected(t, () => t.request('GET', `/artifacts/${wheels.sha256}`), 401, 'unauthorized');
    await expectRejected(t, () => t.request('GET', `/artifacts/${wheels.sha256}`, { headers: bearer('psk_not_a_key') }), 401, 'unauthorized');
    await expectRejected(t, () => t.request('GET', `/artifacts/${wheels.sha256}`, { headers: asRuntime({ token: 'forged' }) }), 401, 'unauthorized');
    await expectRejected(t, () => t.request('GET', `/artifacts/${wheels.sha256}`, { headers: asRuntime({ generation: runtime.generation + 1 }) }), 401, 'unauthorized');
    await expectRejected(t, () => t.request('GET', `/artifacts/${wheels.sha256}`, { headers: asRuntime({ installationId: randomUUID() }) }), 401, 'unauthorized');
    await expectRejected(t, () => t.request('GET', `/artifacts/${wheels.sha256}`, { headers: asRuntime({ installationId: 'not-a-uuid' }) }), 401, 'unauthorized');
    await expectRejected(t, () => t.request('GET', `/artifacts/${wheels.sha256}`, { headers: { ...asRuntime(), 'x-generation': '1e99' } }), 401, 'unauthorized');
    // A registration token is no API key.
    await expectRejected(t, () => t.request('GET', `/artifacts/${wheels.sha256}`, { headers: bearer(runtime.token) }), 401, 'unauthorized');
  });

  it('collects the wheel of a deleted provider and unreferenced bytes, keeping wheels still referenced', async () => {
    expect(await t.infrastructure.artifacts.has(sha256Of(GONE_WHEEL))).toBe(true);
    await expectStatus(t.request('DELETE', '/providers/acme/gone', { key: acme }), 204);
    // The deleted provider's wheel and the unreferenced bytes may go in two sweeps: wait for both.
    const collected = async () => !(await t.infrastructure.artifacts.has(sha256Of(GONE_WHEEL))) && !(await t.infrastructure.artifacts.has(unreferenced));
    for (let i = 0; i < 200 && !(await collected()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await t.infrastructure.artifacts.has(sha256Of(GONE_WHEEL))).toBe(false);
    expect(await t.infrastructure.artifacts.has(unreferenced)).toBe(false);
    expect(await t.infrastructure.artifacts.has(wheels.sha256)).toBe(true);
    await notFound(sha256Of(GONE_WHEEL), bearer(acme));
    expect((await download(wheels.sha256, asRuntime())).status).toBe(200);
  });
});
