import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { TestApp, startTestApp } from '../support/test-app';

const CLI = join(__dirname, '..', '..', 'dist', 'apps', 'cli', 'main.js');

function cli(databaseUrl: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: databaseUrl }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/**
 * Issue 6's "done when", end to end: after a scripted session of installs and upgrades, verify finds
 * nothing; a truncated read model is rebuilt to byte-identical rows while GETs keep answering;
 * as_of shows the earlier state; audit replay shows who did what.
 */
describe('operator session: verify, rebuild without downtime, time travel, audit', () => {
  let t: TestApp;
  let acme: string;
  let beta: string;
  let beforeUpgrade: string;

  beforeAll(async () => {
    t = await startTestApp();
    acme = await t.createKey('acme', ['publish', 'install', 'read']);
    beta = await t.createKey('beta', ['install', 'read']);
    for (const name of ['postgres', 'redis', 'kafka']) {
      for (const version of ['1.0.0', '1.1.0', '2.0.0']) {
        const r = await t.request('POST', '/provider-versions', { key: acme, body: { name: `acme/${name}`, version, wheel_url: `https://f.example.com/${name}-${version}.whl` } });
        expect(r.status).toBe(201);
      }
    }
    for (const key of [acme, beta]) {
      for (const name of ['postgres', 'redis', 'kafka']) {
        expect((await t.request('POST', '/providers/install', { key, body: { provider_name: `acme/${name}`, version: '1.0.0' } })).status).toBe(201);
      }
    }
    await new Promise((r) => setTimeout(r, 20));
    beforeUpgrade = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    expect((await t.request('POST', '/providers/installed/acme/postgres/upgrade', { key: acme, body: { version: '2.0.0' } })).status).toBe(200);
    expect((await t.request('POST', '/providers/installed/acme/postgres/downgrade', { key: acme, body: { target_version: '1.1.0' } })).status).toBe(200);
    expect((await t.request('PATCH', '/providers/installed/acme/redis', { key: acme, body: { config: { A: 'b' } } })).status).toBe(200);
    expect((await t.request('DELETE', '/providers/installed/acme/kafka', { key: acme })).status).toBe(202);
    expect((await t.request('POST', '/providers/installed/acme/redis/upgrade', { key: beta, body: {} })).status).toBe(200);
    // Everything projected before the operator looks.
    expect((await t.request('GET', `/providers/installed?min_position=${await t.lastPosition()}`, { key: acme })).status).toBe(200);
  });
  afterAll(async () => t?.close());

  const snapshot = async () =>
    (await t.db.pool.query<{ row: unknown }>('SELECT to_jsonb(i) AS row FROM installed_providers i ORDER BY tenant, prefix, name')).rows.map((r) => r.row);

  it('verify all prints no difference', async () => {
    const result = await cli(t.db.url, ['projections', 'verify', 'all', '--json']);
    expect(result.code).toBe(0);
    const reports = JSON.parse(result.stdout) as Array<{ name: string; differences: unknown[] }>;
    expect(reports.map((r) => r.name).sort()).toEqual(['api-keys', 'catalog', 'installed-providers', 'organizations', 'provider-install-counts', 'provider-versions']);
    for (const report of reports) expect(report.differences).toEqual([]);
  });

  it('a truncated table is rebuilt to byte-identical rows while GETs keep answering', async () => {
    const before = await snapshot();
    expect(before.length).toBe(6); // acme/kafka stays "deleting": no installer runs here to finish it
    await t.db.pool.query('TRUNCATE installed_providers');
    const statuses: number[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        statuses.push((await t.request('GET', '/providers/installed', { key: beta })).status);
        statuses.push((await t.request('GET', '/providers/acme/postgres', { key: beta })).status);
      }
    })();
    const rebuilt = await cli(t.db.url, ['projections', 'rebuild', 'all', '--json']);
    polling = false;
    await poller;
    expect(rebuilt.code).toBe(0);
    expect(await snapshot()).toEqual(before);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200)).toBe(true);
    const list = await t.request('GET', '/providers/installed', { key: beta });
    expect(list.body.map((i: { name: string }) => i.name)).toEqual(['kafka', 'postgres', 'redis']);
  });

  it('as_of returns the earlier state', async () => {
    const now = await t.request('GET', '/providers/installed/acme/postgres', { key: acme });
    expect(now.body.installed_version).toBe('1.1.0');
    const then = await t.request('GET', `/providers/installed/acme/postgres?as_of=${beforeUpgrade}`, { key: acme });
    expect(then.status).toBe(200);
    expect(then.body.installed_version).toBe('1.0.0');
    const gone = await t.request('GET', `/providers/installed/acme/kafka?as_of=${beforeUpgrade}`, { key: acme });
    expect(gone.body.lifecycle_state).toBe('pending');
  });

  it('audit replay shows who did what', async () => {
    const result = await cli(t.db.url, ['audit', 'replay', '--tenant', 'acme', '--json']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; actor: string; stream: string });
    expect(lines.every((l) => l.stream.startsWith('installation-acme.'))).toBe(true);
    const acmeKeyId = acme.split('_')[1];
    const upgrade = lines.find((l) => l.type === 'UpgradeRequested');
    expect(upgrade?.actor).toBe(`apikey:${acmeKeyId}@acme`);
    expect(lines.map((l) => l.type)).toEqual(expect.arrayContaining(['InstallRequested', 'UpgradeRequested', 'InstallationReconfigured', 'UninstallRequested']));
    const readable = await cli(t.db.url, ['audit', 'replay', '--tenant', 'beta', '--type', 'UpgradeRequested']);
    expect(readable.stdout).toContain('installation-beta.acme.redis');
    expect(readable.stdout).toContain(`@beta`);
  });
});
