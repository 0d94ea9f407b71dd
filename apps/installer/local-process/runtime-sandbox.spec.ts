import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { DesiredDeployment } from '../deployer.port';
import { LocalProcessDeployer } from './local-process.deployer';
import { pidsOfUid, processUid } from './proc';
import { RUNTIME_PATH } from './runtime-environment';
import { describeExit } from './runtime-failure';

/*
 * What a hostile tenant could do with its own runtime, tried against the deployer directly (as events
 * written before the API refused reserved keys would): nothing of its config steers the process, it
 * cannot read another runtime's environment, and its output never reaches what the tenant is shown.
 */

jest.setTimeout(30_000);

const IDLE = `${process.execPath} -e setInterval(()=>{},1e3)`;
const AS_ROOT = process.getuid?.() === 0;

function desired(installationId: string, overrides: Partial<DesiredDeployment> = {}): DesiredDeployment {
  return {
    installationId,
    tenant: 'acme',
    prefix: 'acme',
    name: 'widgets',
    generation: 1,
    version: '1.0.0',
    runtimeVersion: '1.0.0',
    wheelUrl: 'https://example.invalid/w.whl',
    wheelSha256: null,
    packageName: null,
    entrypoint: null,
    config: {},
    resourceTier: 'free',
    registrationToken: `token-${installationId}`,
    storeUrl: 'http://127.0.0.1:1',
    ...overrides,
  };
}

function environOf(pid: number): Map<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .filter(Boolean)
    .map((entry): [string, string] => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]);
  return new Map(entries);
}

describe('local runtime sandbox', () => {
  let dir: string;
  let runtimeDir: string;
  let logLines: string[];
  const deployers: LocalProcessDeployer[] = [];

  const deployer = (runtimeCommand = IDLE, startupGraceMs = 100) => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });
    const d = new LocalProcessDeployer({ logger: pino({ level: 'info' }, sink), runtimeCommand, runtimeDir, startupGraceMs, heartbeatIntervalMs: 250, stopTimeoutMs: 2000 });
    deployers.push(d);
    return d;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'runtime-sandbox-'));
    runtimeDir = path.join(dir, 'runtimes');
    logLines = [];
  });

  afterEach(async () => {
    await Promise.all(deployers.splice(0).map((d) => d.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds the environment from nothing: reserved config keys and the installer’s own variables never reach the runtime', async () => {
    process.env.INSTALLER_ONLY_SECRET = 'installer-secret';
    try {
      const id = randomUUID();
      const d = deployer();
      const config = {
        NODE_OPTIONS: '--import=data:text/javascript,process.exit(7)',
        LD_PRELOAD: '/tmp/evil.so',
        PATH: '/tmp/evil-bin',
        HOME: '/root',
        node_options: '--require=/tmp/evil.js',
        PROVIDER_STORE_URL: 'http://evil.example',
        HEARTBEAT_INTERVAL_MS: '1',
        REGION: 'eu-west-1',
      };
      await d.apply(desired(id, { config }));
      const [{ pid }] = d.running(id);
      const env = environOf(pid);

      for (const key of ['NODE_OPTIONS', 'LD_PRELOAD', 'node_options', 'HEARTBEAT_INTERVAL_MS', 'INSTALLER_ONLY_SECRET', 'DATABASE_URL']) expect(env.has(key)).toBe(false);
      expect(env.get('PATH')).toBe(RUNTIME_PATH);
      expect(env.get('HOME')).toBe(d.workDirOf(id, 1));
      expect(env.get('PROVIDER_STORE_URL')).toBe('http://127.0.0.1:1');
      expect(env.get('PROVIDER_STORE_HEARTBEAT_INTERVAL_MS')).toBe('250');
      expect(env.get('REGION')).toBe('eu-west-1');
      // The operator hears which keys were dropped, by name.
      expect(logLines.join('')).toContain('reserved config keys left out');
    } finally {
      delete process.env.INSTALLER_ONLY_SECRET;
    }
  });

  it(
    AS_ROOT
      ? 'as root, two installations run under different unprivileged uids and neither can read or signal the other'
      : 'not root: runtimes run as the installer’s own user (uid separation needs root, which this run lacks, so only that is checked)',
    async () => {
      const d = deployer();
      const [a, b] = [randomUUID(), randomUUID()];
      await d.apply(desired(a));
      await d.apply(desired(b));
      const [pidA, pidB] = [d.running(a)[0].pid, d.running(b)[0].pid];
      const [uidA, uidB] = [processUid(pidA), processUid(pidB)];
      if (!AS_ROOT) {
        expect([uidA, uidB]).toEqual([process.getuid?.(), process.getuid?.()]);
        expect(logLines.join('')).toContain('installer is not root');
        return;
      }
      expect(uidA).toBeGreaterThanOrEqual(200_000);
      expect(uidB).toBeGreaterThanOrEqual(200_000);
      expect(uidA).not.toBe(uidB);
      // A process under A's uid (what A's runtime could start) tries B's environment and B itself.
      const probe = (victim: number, uid: number) =>
        spawnSync(
          process.execPath,
          ['-e', `try{require('fs').readFileSync('/proc/${victim}/environ');console.log('read')}catch(e){console.log(e.code)}try{process.kill(${victim},0);console.log('signalled')}catch(e){console.log(e.code)}`],
          { uid, gid: uid, env: { PATH: RUNTIME_PATH }, cwd: '/', encoding: 'utf8' },
        ).stdout.trim().split('\n');
      expect(probe(pidB, uidA as number)).toEqual(['EACCES', 'EPERM']);
      expect(probe(pidA, uidB as number)).toEqual(['EACCES', 'EPERM']);
      // Its own, it can read: the difference is the uid, not a broken probe.
      expect(probe(pidA, uidA as number)).toEqual(['read', 'signalled']);
    },
  );

  it('gives each generation a 0700 work folder of its own, removed with its pid file when the generation stops', async () => {
    const d = deployer();
    const id = randomUUID();
    await d.apply(desired(id));
    const [{ pid }] = d.running(id);
    const work = d.workDirOf(id, 1);
    const stat = statSync(work);
    // eslint-disable-next-line no-bitwise
    expect(stat.mode & 0o777).toBe(0o700);
    expect(stat.uid).toBe(processUid(pid));
    expect(work.startsWith(runtimeDir)).toBe(true);
    const pidFile = path.join(runtimeDir, 'state', `${id}.g1.json`);
    expect(existsSync(pidFile)).toBe(true);

    await d.stop(id, 1);
    expect(d.running(id)).toEqual([]);
    expect(existsSync(work)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
  });

  it(
    AS_ROOT
      ? 'remove kills whatever the runtime left behind under its uid and frees the uid'
      : 'not root: remove stops the runtime and removes its folder (leftovers are found by uid, which needs root)',
    async () => {
      const spawner = `${process.execPath} -e require('child_process').spawn(process.execPath,['-e','setInterval(()=>{},1e3)'],{detached:true,stdio:'ignore'}).unref();setInterval(()=>{},1e3)`;
      const d = deployer(spawner, 300);
      const id = randomUUID();
      await d.apply(desired(id));
      const [{ pid }] = d.running(id);
      const uid = processUid(pid) as number;
      await d.remove(id);
      expect(d.running(id)).toEqual([]);
      expect(existsSync(d.workDirOf(id, 1))).toBe(false);
      if (!AS_ROOT) return;
      expect(pidsOfUid(uid)).toEqual([]);
      expect(existsSync(path.join(runtimeDir, 'uids', `uid-${uid}`))).toBe(false);
    },
  );

  it('a runtime that fails shows the tenant the platform’s words and its image without host paths; its output goes to the operator log only', async () => {
    const id = randomUUID();
    const leak = `${process.execPath} -e console.error('LEAK:'+process.env.PROVIDER_STORE_REGISTRATION_TOKEN+':'+process.cwd());process.exit(3)`;
    const d = deployer(leak, 2000);

    const failure = await d.apply(desired(id)).then(
      () => undefined,
      (error: Error) => error.message,
    );
    expect(failure).toBe('runtime exited with code 3 right after start');
    const observed = await d.status(id);
    expect(observed).toMatchObject({ status: 'failed', message: 'runtime exited with code 3', image: 'local-process:runtime-command@1.0.0' });
    expect(JSON.stringify(observed)).not.toMatch(/LEAK|token-|\//);
    expect(logLines.join('')).toContain('LEAK:');
    // The failed generation's folder is gone too.
    expect(existsSync(d.workDirOf(id, 1))).toBe(false);
  });

  it('a runtime over its tier’s memory is reported as exceeding its memory limit', async () => {
    const id = randomUUID();
    const hog = `${process.execPath} -e a=[];for(;;)a.push(Buffer.alloc(1<<20).fill(1))`;
    const d = deployer(hog, 10_000);
    await expect(d.apply(desired(id, { resourceTier: 'free' }))).rejects.toThrow('runtime exceeded its memory limit (128 MiB, free tier) right after start');
  });

  it('a program that cannot start is reported without its host path', async () => {
    const d = deployer('/nonexistent/secret-location/runtime');
    await expect(d.apply(desired(randomUUID()))).rejects.toThrow(/^cannot start the runtime \(ENOENT\)$/);
  });

  it('names each way a runtime ends in the platform’s words', () => {
    const base = { code: null, signal: null, sawOutOfMemory: false, tier: 'standard' } as const;
    expect(describeExit({ ...base, signal: 'SIGXCPU' })).toBe('exceeded its CPU time limit (14400 s, standard tier)');
    expect(describeExit({ ...base, signal: 'SIGABRT', sawOutOfMemory: true })).toBe('exceeded its memory limit (512 MiB, standard tier)');
    expect(describeExit({ ...base, signal: 'SIGKILL' })).toBe('was killed by SIGKILL');
    expect(describeExit({ ...base, code: 0, sawOutOfMemory: true })).toBe('exited with code 0');
    expect(describeExit({ ...base, code: 2 })).toBe('exited with code 2');
  });
});
