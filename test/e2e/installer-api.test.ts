import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { RunningInstaller, startInstaller } from '../../apps/installer/installer';
import { EffectLine, LocalProcessDeployer } from '../../apps/installer/local-process/local-process.deployer';
import { TestApp, startTestApp } from '../support/test-app';

/*
 * The whole loop over HTTP: the real API, the installer with the local-process deployer, and the
 * real sample runtime calling the API's /runtime endpoints with its registration token.
 */

jest.setTimeout(60_000);

describe('installer with the real API and the sample runtime', () => {
  let t: TestApp;
  let installer: RunningInstaller;
  let dir: string;
  let effectLog: string;
  let key: string;

  beforeAll(async () => {
    t = await startTestApp({ REGISTRATION_TIMEOUT_MS: '20000' });
    dir = mkdtempSync(path.join(tmpdir(), 'installer-api-'));
    effectLog = path.join(dir, 'effects.jsonl');
    const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    const deployer = new LocalProcessDeployer({ logger, effectLogFile: effectLog, runtimeDir: path.join(dir, 'runtimes'), heartbeatIntervalMs: 200, stopTimeoutMs: 3000 });
    installer = await startInstaller(t.infrastructure, { deployer, storeUrl: t.baseUrl });
    key = await t.createKey('acme', ['publish', 'install', 'read']);
  });

  afterAll(async () => {
    await installer?.stop();
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const effects = (): string[] =>
    existsSync(effectLog)
      ? readFileSync(effectLog, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as EffectLine)
          .map((e) => `${e.action} g${e.generation}`)
      : [];

  async function installed(): Promise<Record<string, unknown>> {
    const response = await t.request('GET', '/providers/installed/acme/db', { key });
    return response.body as Record<string, unknown>;
  }

  async function waitFor(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const publish = (version: string) =>
    t.request('POST', '/provider-versions', {
      key,
      body: { name: 'acme/db', version, wheel_url: `https://files.example.com/acme_db-${version}-py3-none-any.whl` },
    });

  it('install → the runtime registers through the API → ready; upgrade → the new generation registers, the old one is retired', async () => {
    expect((await publish('1.0.0')).status).toBe(201);
    expect((await publish('2.0.0')).status).toBe(201);

    const install = await t.request('POST', '/providers/install', {
      key,
      body: { provider_name: 'acme/db', version: '1.0.0', config: {} },
    });
    expect(install.status).toBe(201);
    await waitFor('ready at 1.0.0', async () => (await installed()).lifecycle_state === 'ready');
    expect(await installed()).toMatchObject({ lifecycle_state: 'ready', current_version: '1.0.0', installed_version: '1.0.0' });
    expect(effects()).toEqual(['start g1']);

    const upgrade = await t.request('POST', '/providers/installed/acme/db/upgrade', { key, body: { version: '2.0.0' } });
    expect(upgrade.status).toBeLessThan(300);
    await waitFor('ready at 2.0.0', async () => (await installed()).current_version === '2.0.0');
    await waitFor('generation 1 retired', () => effects().includes('stop g1'));
    expect(effects()).toEqual(['start g1', 'start g2', 'stop g1']);

    const history = await t.request('GET', '/providers/installed/acme/db/history', { key });
    const types = (history.body as { items: Array<{ type: string }> }).items.map((i) => i.type);
    expect(types).toEqual(
      expect.arrayContaining(['InstallRequested', 'DeployStarted', 'RegistrationReceived', 'UpgradeRequested']),
    );

    const uninstall = await t.request('DELETE', '/providers/installed/acme/db', { key });
    expect(uninstall.status).toBe(202);
    await waitFor('removed', () => effects().includes('remove g2'));
    await waitFor('uninstalled', async () => (await t.request('GET', '/providers/installed/acme/db', { key })).status === 404);
    expect(effects()).toEqual(['start g1', 'start g2', 'stop g1', 'remove g2']);
  });
});
