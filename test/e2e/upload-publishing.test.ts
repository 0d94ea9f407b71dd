import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../../apps/cli/program';
import { RunningInstaller, startInstaller } from '../../apps/installer/installer';
import { TestApp, TestResponse, startTestApp } from '../support/test-app';
import { buildWheel, wheelFilename } from '../support/wheel-builder';

/**
 * Issue 18's "done when": real wheels built here, uploaded as the platform's SDK uploads them
 * (multipart: field `metadata`, then file `wheel`), validated out of band, and one installed: the
 * sample runtime downloads it from the store, verifies it and reports what it loaded.
 */
const UPLOAD_MAX_BYTES = 64 * 1024;

describe('publishing by upload', () => {
  let t: TestApp;
  let installer: RunningInstaller;
  let key: string;
  let tenant: string;

  beforeAll(async () => {
    t = await startTestApp({ UPLOAD_MAX_BYTES: String(UPLOAD_MAX_BYTES), REGISTRATION_TIMEOUT_MS: '30000', RUNTIME_HEARTBEAT_INTERVAL_MS: '200' });
    installer = await startInstaller(t.infrastructure, { storeUrl: t.baseUrl });
    [key, tenant] = await Promise.all([t.createKey('acme', ['publish', 'install', 'read']), t.createKey('beta', ['install', 'read'])]);
  });
  afterAll(async () => {
    await installer?.stop();
    await t?.close();
  });

  /** What `publish_provider_version(wheel_path, name, version, schemas, metadata, changelog)` sends. */
  async function upload(metadata: unknown, wheel: Buffer, filename: string, apiKey = key): Promise<TestResponse> {
    const form = new FormData();
    form.append('metadata', typeof metadata === 'string' ? metadata : JSON.stringify(metadata));
    form.append('wheel', new Blob([wheel], { type: 'application/octet-stream' }), filename);
    const response = await fetch(`${t.baseUrl}/providers/publish`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` }, body: form });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined, text };
  }

  const metadataOf = (version: string) => ({ name: 'acme/pkg', version, schemas: { thing: { type: 'object' } }, metadata: { description: 'An uploaded provider' }, changelog: 'First' });

  async function artifactCount(): Promise<number> {
    let n = 0;
    for await (const _artifact of t.infrastructure.artifacts.list()) n++;
    return n;
  }

  async function until(path: string, done: (body: TestResponse['body']) => boolean, apiKey = key, timeoutMs = 20_000): Promise<TestResponse['body']> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await t.request('GET', path, { key: apiKey });
      if (response.status === 200 && done(response.body)) return response.body;
      if (Date.now() > deadline) throw new Error(`timed out waiting on ${path}: ${response.text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('stores an upload, answers building, and validation publishes it', async () => {
    const wheel = buildWheel({ distribution: 'acme-pkg', version: '1.0.0' });
    const sha256 = createHash('sha256').update(wheel).digest('hex');
    const response = await upload(metadataOf('1.0.0'), wheel, wheelFilename('acme-pkg', '1.0.0'));
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ canonical: 'acme/pkg', version: '1.0.0', status: 'building', published_at: null, wheel_sha256: sha256, error_message: null });
    expect(response.body.wheel_url).toMatch(new RegExp(`/artifacts/${sha256}$`));
    expect(await t.infrastructure.artifacts.has(sha256)).toBe(true);
    const published = await until('/providers/acme/pkg/versions/1.0.0', (b) => b.status !== 'building');
    expect(published).toMatchObject({ status: 'published', package_name: 'acme_pkg', error_message: null, schemas: [{ resource_type: 'thing', schema: { type: 'object' } }] });
    expect(published.published_at).toEqual(expect.any(String));
  });

  it('marks a tampered wheel failed with the reason, and refuses to install it (version_not_ready)', async () => {
    const wheel = buildWheel({ distribution: 'acme-pkg', version: '1.1.0', tamper: { 'acme_pkg/__init__.py': 'EVIL = True\n' } });
    expect((await upload(metadataOf('1.1.0'), wheel, wheelFilename('acme-pkg', '1.1.0'))).status).toBe(201);
    const failed = await until('/providers/acme/pkg/versions/1.1.0', (b) => b.status !== 'building');
    expect(failed).toMatchObject({ status: 'failed', published_at: null });
    expect(failed.error_message).toMatch(/RECORD mismatch: acme_pkg\/__init__\.py/);
    const install = await t.request('POST', '/providers/install', { key: tenant, body: { provider_name: 'acme/pkg', version: '1.1.0' } });
    expect(install.status).toBe(409);
    expect(install.body.code).toBe('version_not_ready');
    // "latest" stays the published 1.0.0.
    await until('/providers/acme/pkg', (b) => b.latest_version === '1.0.0');
  });

  it('refuses a duplicate version (409) and stores nothing of it', async () => {
    const before = await artifactCount();
    const response = await upload(metadataOf('1.0.0'), buildWheel({ distribution: 'acme-pkg', version: '1.0.0', files: { 'acme_pkg/__init__.py': 'OTHER = 2\n' } }), wheelFilename('acme-pkg', '1.0.0'));
    expect(response.status).toBe(409);
    expect(response.body.code).toBe('version_exists');
    expect(await artifactCount()).toBe(before);
  });

  it('refuses an upload over UPLOAD_MAX_BYTES (413) with nothing stored and no version', async () => {
    const before = await artifactCount();
    const events = await t.eventCount();
    const big = buildWheel({ distribution: 'acme-pkg', version: '2.0.0', files: { 'acme_pkg/__init__.py': randomBytes(UPLOAD_MAX_BYTES).toString('base64') } });
    const response = await upload(metadataOf('2.0.0'), big, wheelFilename('acme-pkg', '2.0.0'));
    expect(response.status).toBe(413);
    expect(response.body.code).toBe('payload_too_large');
    expect(await artifactCount()).toBe(before);
    expect(await t.eventCount()).toBe(events);
    expect((await t.request('GET', '/providers/acme/pkg/versions/2.0.0', { key })).status).toBe(404);
  });

  it('refuses bad metadata, a foreign prefix and a missing file before storing anything', async () => {
    const before = await artifactCount();
    const wheel = buildWheel({ distribution: 'acme-pkg', version: '3.0.0' });
    const filename = wheelFilename('acme-pkg', '3.0.0');
    const malformed = await upload('{not json', wheel, filename);
    expect([malformed.status, malformed.body.code]).toEqual([422, 'malformed_metadata']);
    const invalid = await upload({ name: 'acme/pkg', version: 'not-semver' }, wheel, filename);
    expect([invalid.status, invalid.body.code]).toEqual([422, 'validation_failed']);
    const foreign = await upload({ ...metadataOf('3.0.0'), name: 'globex/pkg' }, wheel, filename);
    expect([foreign.status, foreign.body.code]).toEqual([403, 'prefix_not_owned']);
    const reader = await upload(metadataOf('3.0.0'), wheel, filename, tenant);
    expect(reader.status).toBe(403);
    const json = await t.request('POST', '/providers/publish', { key, body: metadataOf('3.0.0') });
    expect([json.status, json.body.code]).toEqual([422, 'multipart_required']);
    expect(await artifactCount()).toBe(before);
  });

  it('publishes with the CLI: upload, wait, exit 0 once published; exit 1 with the reason when failed', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cli-publish-'));
    try {
      const good = path.join(dir, wheelFilename('acme-tool', '0.1.0'));
      writeFileSync(good, buildWheel({ distribution: 'acme-tool', version: '0.1.0' }));
      const schemas = path.join(dir, 'schemas.json');
      writeFileSync(schemas, JSON.stringify({ widget: { type: 'object' } }));
      const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
      const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
      try {
        expect(await runCli(['publish', good, '--name', 'acme/tool', '--schemas', schemas, '--url', t.baseUrl, '--key', key])).toBe(0);
        const bad = path.join(dir, wheelFilename('acme-tool', '0.2.0'));
        writeFileSync(bad, buildWheel({ distribution: 'acme-tool', version: '0.2.0', metadataVersion: '0.1.9' }));
        expect(await runCli(['publish', bad, '--name', 'acme/tool', '--url', t.baseUrl, '--key', key])).toBe(1);
        expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toMatch(/is failed: .*Version 0\.1\.9/);
      } finally {
        stdout.mockRestore();
        stderr.mockRestore();
      }
      const published = await t.request('GET', '/providers/acme/tool/versions/0.1.0', { key });
      expect(published.body).toMatchObject({ status: 'published', schemas: [{ resource_type: 'widget', schema: { type: 'object' } }] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('installs the published version: the runtime downloads and verifies the wheel, and reports it', async () => {
    const install = await t.request('POST', '/providers/install', { key: tenant, body: { provider_name: 'acme/pkg' } });
    expect(install.status).toBe(201);
    expect(install.body.installed_version).toBe('1.0.0');
    const ready = await until('/providers/installed/acme/pkg', (b) => b.lifecycle_state === 'ready' || b.lifecycle_state === 'failed', tenant, 30_000);
    expect(ready).toMatchObject({ lifecycle_state: 'ready', current_version: '1.0.0' });
    const history = await t.request('GET', '/providers/installed/acme/pkg/history', { key: tenant });
    const registration = history.body.items.find((i: { type: string }) => i.type === 'RegistrationReceived');
    expect(registration.data).toMatchObject({ version: '1.0.0', wheel_name: 'acme-pkg', wheel_version: '1.0.0' });
  });
});
