import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { RunningInstaller, startInstaller } from '../../../apps/installer/installer';
import { LocalProcessDeployer } from '../../../apps/installer/local-process/local-process.deployer';
import { processUid } from '../../../apps/installer/local-process/proc';
import { TestApp, TestResponse, startTestApp } from '../../support/test-app';

const AS_ROOT = process.getuid?.() === 0;

/*
 * The attack found against `npm start` (installer as root): a tenant's config put
 * `NODE_OPTIONS=--import=data:…` in its runtime's environment, which ran the tenant's code in the
 * platform's runtime; that code read the other runtimes' /proc/<pid>/environ (their registration
 * tokens), printed them into its own deployment failure, and forged heartbeats with them.
 */
export function runtimeSandboxAttacks(): void {
  describe('runtime sandbox', () => {
    let t: TestApp;
    let installer: RunningInstaller;
    let deployer: LocalProcessDeployer;
    let dir: string;
    let victimKey: string;
    let malloryKey: string;

    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'hostile-tenant-'));
      t = await startTestApp({ HEARTBEAT_TIMEOUT_MS: '1500', WATCHDOG_INTERVAL_MS: '200', REGISTRATION_TIMEOUT_MS: '20000' });
      deployer = new LocalProcessDeployer({ logger: pino({ level: 'silent' }), runtimeDir: path.join(dir, 'runtimes'), heartbeatIntervalMs: 200, stopTimeoutMs: 3000 });
      installer = await startInstaller(t.infrastructure, { deployer, storeUrl: t.baseUrl });
      victimKey = await t.createKey('victim', ['publish', 'install', 'read']);
      malloryKey = await t.createKey('mallory', ['publish', 'install', 'read']);
    });
    afterAll(async () => {
      await installer?.stop();
      await t?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    async function until(key: string, route: string, done: (body: TestResponse['body']) => boolean, timeoutMs = 30_000): Promise<TestResponse['body']> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const response = await t.request('GET', route, { key });
        if (response.status === 200 && done(response.body)) return response.body;
        if (Date.now() > deadline) throw new Error(`timed out waiting on ${route}: ${response.text}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    const installationIdOf = async (tenant: string): Promise<string> => {
      const { rows } = await t.db.pool.query<{ installation_id: string }>(`SELECT installation_id FROM installed_providers WHERE tenant = $1`, [tenant]);
      return rows[0].installation_id;
    };

    const publish = (key: string, name: string) =>
      t.request('POST', '/provider-versions', { key, body: { name, version: '1.0.0', wheel_url: `https://files.example.com/${name.replace('/', '_')}-1.0.0.whl` } });

    it(
      AS_ROOT
        ? 'a tenant’s NODE_OPTIONS runs nothing, its runtime cannot read or forge for another tenant’s, and that tenant stays healthy'
        : 'a tenant’s NODE_OPTIONS runs nothing and that other tenant stays healthy (not root: the uid-separation part needs root and is left out)',
      async () => {
        expect((await publish(victimKey, 'victim/db')).status).toBe(201);
        expect((await publish(malloryKey, 'mallory/x')).status).toBe(201);
        expect((await t.request('POST', '/providers/install', { key: victimKey, body: { provider_name: 'victim/db' } })).status).toBe(201);
        await until(victimKey, '/providers/installed/victim/db', (b) => b.lifecycle_state === 'ready' && b.health === 'healthy');
        const victimId = await installationIdOf('victim');
        const [victimRuntime] = deployer.running(victimId);
        const victimToken = /PROVIDER_STORE_REGISTRATION_TOKEN=([^\0]+)/.exec(readFileSync(`/proc/${victimRuntime.pid}/environ`, 'utf8'))?.[1] ?? '';
        expect(victimToken.length).toBeGreaterThan(20);

        // Had it run, the payload would print every environment it can read and kill its own runtime.
        const payload = "--import=data:text/javascript,import fs from 'fs';for(const p of fs.readdirSync('/proc')){try{process.stderr.write(fs.readFileSync('/proc/'+p+'/environ'))}catch{}}process.exit(42)";
        const hostile = { NODE_OPTIONS: payload, LD_PRELOAD: '/tmp/evil.so', PATH: '/tmp/evil' };
        let install = await t.request('POST', '/providers/install', { key: malloryKey, body: { provider_name: 'mallory/x', config: hostile } });
        if (install.status === 422) {
          // The API refuses reserved keys: the door is shut, and the runtime below is an ordinary one.
          expect(install.body.code).toBe('reserved_config_key');
          install = await t.request('POST', '/providers/install', { key: malloryKey, body: { provider_name: 'mallory/x', config: { REGION: 'eu' } } });
        }
        expect(install.status).toBe(201);
        // Its runtime comes up as the platform's runtime: the payload never ran (it would exit 42).
        await until(malloryKey, '/providers/installed/mallory/x', (b) => b.lifecycle_state === 'ready');
        const deployment = await until(malloryKey, '/providers/installed/mallory/x/deployment', (b) => b.status === 'available' && b.image !== null);
        expect(deployment.message).toBeNull();
        expect(deployment.image).toBe('local-process:sample-runtime@1.0.0');
        const malloryId = await installationIdOf('mallory');
        const [malloryRuntime] = deployer.running(malloryId);
        const malloryEnviron = readFileSync(`/proc/${malloryRuntime.pid}/environ`, 'utf8');
        expect(malloryEnviron).not.toMatch(/NODE_OPTIONS|LD_PRELOAD|\/tmp\/evil/);

        if (AS_ROOT) {
          // Tenant code in mallory's runtime (a provider's wheel runs there anyway) runs under its uid.
          const uid = processUid(malloryRuntime.pid) as number;
          expect(uid).not.toBe(0);
          expect(uid).not.toBe(processUid(victimRuntime.pid));
          // Asynchronously: the API answering the forged heartbeat runs in this very process.
          const attack = await promisify(execFile)(
            process.execPath,
            [
              '-e',
              `let token='';try{token=/PROVIDER_STORE_REGISTRATION_TOKEN=([^\\0]+)/.exec(require('fs').readFileSync('/proc/${victimRuntime.pid}/environ','utf8'))[1]}catch(e){console.log(e.code)}` +
                `fetch('${t.baseUrl}/runtime/heartbeats',{method:'POST',headers:{authorization:'Bearer '+token,'content-type':'application/json'},` +
                `body:JSON.stringify({installation_id:'${victimId}',generation:1,status:'degraded'})}).then(r=>console.log(r.status))`,
            ],
            { uid, gid: uid, cwd: '/', env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8', timeout: 20_000 },
          );
          expect(attack.stdout.trim().split('\n')).toEqual(['EACCES', '401']);
        }

        // Nothing the tenant is shown holds the victim's token, and the victim's runtime beats on.
        for (const route of ['/providers/installed/mallory/x', '/providers/installed/mallory/x/deployment', '/providers/installed/mallory/x/history']) {
          expect((await t.request('GET', route, { key: malloryKey })).text).not.toContain(victimToken);
        }
        await new Promise((r) => setTimeout(r, 2000));
        const victim = await until(victimKey, '/providers/installed/victim/db', () => true);
        expect(victim).toMatchObject({ lifecycle_state: 'ready', health: 'healthy' });
        expect(deployer.running(victimId)).toEqual([victimRuntime]);
      },
    );
  });
}
