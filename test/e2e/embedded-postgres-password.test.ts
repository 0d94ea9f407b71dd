import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '..', '..');
const WITH_POSTGRES = join(ROOT, 'dist', 'scripts', 'with-postgres.js');

/** Where the built script keeps a named server's data: asked of the built module, which knows the checkout from dist/. */
function dataRootFor(name: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the built module, as with-postgres runs it
  const built = require(join(ROOT, 'dist', 'libs', 'database', 'embedded-postgres.js')) as { dataRootFor(name: string): string };
  return built.dataRootFor(name);
}

/*
 * Inside the embedded server's session (the package is an ES module, so it runs under Node, not
 * jest): connect with the URL it was given, then with the fixed `postgres` password of earlier
 * releases, and print what happened.
 */
const PROBE = `
const { Client } = require('pg');
(async () => {
  const url = process.env.DATABASE_URL;
  const good = new Client({ connectionString: url });
  await good.connect(); await good.end();
  const legacy = new URL(url); legacy.password = 'postgres';
  const bad = new Client({ connectionString: legacy.toString() });
  const refused = await bad.connect().then(() => false, (e) => /password authentication failed/.test(e.message));
  await bad.end().catch(() => {});
  process.stdout.write(JSON.stringify({ password: decodeURIComponent(new URL(url).password), refused }));
})();`;

async function probe(name: string): Promise<{ password: string; refused: boolean }> {
  const env = { ...process.env, DATABASE_URL: '', NODE_ENV: 'test' };
  const { stdout } = await run(process.execPath, [WITH_POSTGRES, '--name', name, '--', process.execPath, '-e', PROBE], { env, cwd: ROOT });
  return JSON.parse(stdout) as { password: string; refused: boolean };
}

/**
 * The embedded PostgreSQL listens on a TCP port any local user can reach (a runtime, say): a fresh
 * data folder gets a random superuser password, kept beside it mode 0600, and the fixed `postgres`
 * password of earlier releases is refused.
 */
describe('embedded PostgreSQL superuser password', () => {
  const name = `pg-password-${randomBytes(4).toString('hex')}`;
  afterAll(() => rmSync(dataRootFor(name), { recursive: true, force: true }));

  it('is random per data folder, kept 0600, reused by the next start, and the old fixed password is refused', async () => {
    const first = await probe(name);
    expect(first.password).toMatch(/^[0-9a-f]{48}$/);
    expect(first.refused).toBe(true);
    const passwordFile = join(dataRootFor(name), 'superuser-password');
    expect(existsSync(passwordFile)).toBe(true);
    expect(statSync(passwordFile).mode & 0o777).toBe(0o600);

    const second = await probe(name);
    expect(second).toEqual(first);
  });
});
