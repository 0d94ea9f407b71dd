import { randomBytes } from 'node:crypto';
import { ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDatabase, createTestDatabase } from '../support/test-database';

/**
 * Production dependencies suffice: the built project (dist, package.json, package-lock.json) copied
 * to a temporary folder, installed there with `npm ci --omit=dev` (from the local npm cache when it
 * has everything), then the API started from that copy against DATABASE_URL answers `/health/ready`.
 * A module the API needs that sits in devDependencies makes it fail to start, and this test fail.
 */
const ROOT = join(__dirname, '..', '..');
const INSTALL_TIMEOUT_MS = 240_000;
const READY_TIMEOUT_MS = 60_000;
const NETWORK_ERROR = /ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|ECONNRESET|ENETUNREACH|EHOSTUNREACH|request to \S+ failed|network/i;

interface Finished {
  code: number | null;
  output: string;
}

function runToEnd(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs / 1000} s:\n${output.slice(-4000)}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForReady(url: string, api: ChildProcess, log: () => string): Promise<number> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (api.exitCode !== null) throw new Error(`the API exited with ${api.exitCode} before it was ready:\n${log().slice(-4000)}`);
    try {
      const response = await fetch(url);
      if (response.status === 200) return response.status;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${url} not 200 within ${READY_TIMEOUT_MS / 1000} s (last: ${last}):\n${log().slice(-4000)}`);
}

describe('production install: npm ci --omit=dev, then the API', () => {
  let dir: string;
  let db: TestDatabase;
  let api: ChildProcess | undefined;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'apps', 'api', 'main.js'))) throw new Error('dist/ is missing: run `npm run -s build` first (npm test does)');
    dir = mkdtempSync(join(tmpdir(), 'provider-store-production-'));
    cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    cpSync(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
    db = await createTestDatabase('prod');
  });

  afterAll(async () => {
    if (api && api.exitCode === null) {
      const exited = new Promise((resolve) => api?.once('exit', resolve));
      api.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
      clearTimeout(timer);
      if (api.exitCode === null) api.kill('SIGKILL');
    }
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    'installs with production dependencies only and serves /health/ready against DATABASE_URL',
    async () => {
      const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
      // Install scripts run as on a real install (the embedded PostgreSQL's binaries unpack); no telemetry.
      const install = await runToEnd(
        npm,
        ['ci', '--omit=dev', '--ignore-scripts=false', '--prefer-offline', '--no-audit', '--no-fund'],
        dir,
        { ...process.env, NODE_ENV: 'production', SCARF_ANALYTICS: 'false' },
        INSTALL_TIMEOUT_MS,
      );
      if (install.code !== 0) {
        const why = NETWORK_ERROR.test(install.output)
          ? 'the local npm cache lacks a package of the lockfile and the registry is unreachable'
          : 'see its output';
        throw new Error(`npm ci --omit=dev failed (exit ${install.code}): ${why}:\n${install.output.slice(-4000)}`);
      }
      // Nothing of devDependencies came along.
      for (const devOnly of ['typescript', 'jest', 'eslint', 'kubernetes-models']) expect({ devOnly, installed: existsSync(join(dir, 'node_modules', devOnly)) }).toEqual({ devOnly, installed: false });
      expect(existsSync(join(dir, 'node_modules', '@nestjs', 'core'))).toBe(true);

      const port = await freePort();
      let log = '';
      const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production', DATABASE_URL: db.url, SECRETS_MASTER_KEY: randomBytes(32).toString('base64'), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
      delete env.EVENTSTORE_URL;
      // NODE_PATH would let the copy find the project's full node_modules: the copy must stand alone.
      delete env.NODE_PATH;
      api = spawn(process.execPath, ['dist/apps/api/main.js'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      api.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
      api.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
      expect(await waitForReady(`http://127.0.0.1:${port}/health/ready`, api, () => log)).toBe(200);
      const live = await fetch(`http://127.0.0.1:${port}/health/live`);
      expect(live.status).toBe(200);
    },
    INSTALL_TIMEOUT_MS + READY_TIMEOUT_MS + 30_000,
  );
});
