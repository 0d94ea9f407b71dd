import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SecretUnreadable } from '../../libs/secrets/envelope';
import { InstallationSecrets } from '../../libs/secrets/installation-secrets';
import { createKeyIn, databaseDump, startChildApp } from '../reliability/fuzz-support/child-app';
import { createTestDatabase } from '../support/test-database';

/*
 * Issue 19 §3–4, end to end on the real process (node dist/apps/main.js, LOG_LEVEL=debug, the local
 * deployer running the sample runtime): a secret is sealed before it enters the log, shown nowhere
 * (responses, history, audit replay, logs, the database), reaches the runtime's environment, and is
 * crypto-shredded at uninstall; config is checked against the version's config_schema.
 */

const run = promisify(execFile);
const CLI = path.resolve(__dirname, '../../dist/apps/cli/main.js');
const WHEEL = (v: string) => `https://files.example.com/acme_db-${v}-py3-none-any.whl`;

const SCHEMA_1 = {
  type: 'object',
  properties: {
    REGION: { type: 'string', enum: ['eu', 'us'] },
    API_TOKEN: { type: 'string', writeOnly: true, minLength: 8 },
    DB_PASSWORD: { type: 'string', format: 'password' },
    POOL_SIZE: { type: 'integer', minimum: 1 },
  },
  required: ['REGION'],
};
const SCHEMA_2 = { ...SCHEMA_1, required: ['REGION', 'TENANT_LABEL'] };

const masterKey = () => randomBytes(32).toString('base64');

describe('secret config and config_schema (node dist/apps/main.js at LOG_LEVEL=debug)', () => {
  it('seals secrets before the log, shows them nowhere, delivers them to the runtime, shreds them at uninstall; refuses config the schema forbids', async () => {
    const db = await createTestDatabase('secrets');
    const runtimeDir = mkdtempSync(path.join(tmpdir(), 'ps-secrets-'));
    const oldKey = masterKey();
    const env = { DATABASE_URL: db.url, SECRETS_MASTER_KEY: oldKey, LOG_LEVEL: 'debug', RUNTIME_DIR: runtimeDir, RUNTIME_HEARTBEAT_INTERVAL_MS: '200', RATE_LIMIT_PER_MINUTE: '100000' };
    const app = await startChildApp(env);
    const apiToken = `tok-${randomBytes(12).toString('hex')}`;
    const dbPassword = `pw-${randomBytes(12).toString('hex')}`;
    const extraSecret = `xs-${randomBytes(12).toString('hex')}`;
    const secrets = [apiToken, dbPassword, extraSecret];
    const leaksIn = (text: string) => secrets.filter((s) => text.includes(s));
    let output = '';
    try {
      const key = await createKeyIn(db.pool, 'acme', ['publish', 'install', 'read']);
      const call = async (method: string, p: string, body?: unknown, extraHeaders: Record<string, string> = {}) => {
        const res = await fetch(`${app.baseUrl}${p}`, {
          method,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...extraHeaders },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.text();
        expect(leaksIn(text)).toEqual([]);
        return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined, text };
      };
      const installationEvents = async () =>
        (await db.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM es_events WHERE stream_name LIKE 'installation-acme.%'`)).rows[0].n;

      // A config_schema that is not a JSON Schema is refused at publish, and nothing is stored.
      const badSchema = await call('POST', '/provider-versions', { name: 'acme/db', version: '0.9.0', wheel_url: WHEEL('0.9.0'), config_schema: { type: 'objec' } });
      expect(badSchema.status).toBe(422);
      expect(badSchema.body).toMatchObject({ code: 'invalid_config_schema' });
      const catastrophic = await call('POST', '/provider-versions', { name: 'acme/db', version: '0.9.1', wheel_url: WHEEL('0.9.1'), config_schema: { type: 'object', properties: { A: { type: 'string', pattern: '(?=a)(a+)+\\1$' } } } });
      expect(catastrophic.body).toMatchObject({ code: 'invalid_config_schema' });
      expect((await call('POST', '/provider-versions', { name: 'acme/db', version: '1.0.0', wheel_url: WHEEL('1.0.0'), config_schema: SCHEMA_1 })).status).toBe(201);

      // Config the schema forbids: 422 config_invalid with each violation's pointer, nothing appended.
      const invalid = await call('POST', '/providers/install', { provider_name: 'acme/db', config: { REGION: 'mars', API_TOKEN: 'short', POOL_SIZE: 'many' } });
      expect(invalid.status).toBe(422);
      expect(invalid.body).toMatchObject({ code: 'config_invalid' });
      const pointers = (invalid.body!.details as Array<{ field: string; constraint: string }>).map((d) => `${d.field} ${d.constraint}`).sort();
      expect(pointers).toEqual(['/API_TOKEN minLength', '/POOL_SIZE type', '/REGION enum']);
      expect(await installationEvents()).toBe('0');
      expect((await call('POST', '/providers/install', { provider_name: 'acme/db', config: {} })).body!.details).toEqual([
        expect.objectContaining({ field: '/REGION', constraint: 'required' }),
      ]);
      expect(await installationEvents()).toBe('0');

      // Secrets: API_TOKEN (writeOnly) and DB_PASSWORD (format: password) by the schema, EXTRA_SECRET by secret_config.
      const installBody = {
        provider_name: 'acme/db',
        config: { REGION: 'eu', API_TOKEN: apiToken, DB_PASSWORD: dbPassword, POOL_SIZE: '4' },
        secret_config: { EXTRA_SECRET: extraSecret },
      };
      const installed = await call('POST', '/providers/install', installBody, { 'idempotency-key': 'install-once' });
      expect(installed.status).toBe(201);
      expect(installed.body!.config).toEqual({ REGION: 'eu', API_TOKEN: '***', DB_PASSWORD: '***', POOL_SIZE: '4', EXTRA_SECRET: '***' });
      // A retry replays; the body's hash in the log is keyed, so no guess at a secret can be checked against it.
      const retried = await call('POST', '/providers/install', installBody, { 'idempotency-key': 'install-once' });
      expect(retried.body).toEqual(installed.body);
      const plainHash = createHash('sha256').update(`POST /providers/install\n${JSON.stringify(installBody)}`).digest('hex');
      const { rows: hashes } = await db.pool.query<{ h: string }>(`SELECT metadata->>'request_hash' AS h FROM es_events WHERE event_type = 'InstallRequested'`);
      expect(hashes).toHaveLength(1);
      expect(hashes[0].h).toMatch(/^[0-9a-f]{64}$/);
      expect(hashes[0].h).not.toBe(plainHash);

      const deadline = Date.now() + 40_000;
      let one: Record<string, unknown> | undefined;
      for (;;) {
        one = (await call('GET', '/providers/installed/acme/db')).body;
        if (one?.lifecycle_state === 'ready' || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(one).toMatchObject({ lifecycle_state: 'ready', config: { REGION: 'eu', API_TOKEN: '***', DB_PASSWORD: '***', EXTRA_SECRET: '***' } });
      const { rows: ids } = await db.pool.query<{ installation_id: string }>(`SELECT installation_id FROM installed_providers`);
      const installationId = ids[0].installation_id;

      // The runtime has the plaintext in its environment.
      const stateDir = path.join(runtimeDir, 'state');
      const pidFile = readdirSync(stateDir).find((f) => f.startsWith(`${installationId}.g1`));
      const pid = (JSON.parse(readFileSync(path.join(stateDir, pidFile!), 'utf8')) as { pid: number }).pid;
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\u0000');
      expect(environ).toEqual(expect.arrayContaining([`API_TOKEN=${apiToken}`, `DB_PASSWORD=${dbPassword}`, `EXTRA_SECRET=${extraSecret}`, 'REGION=eu']));

      // Lists, time travel, history: keys shown, values masked, no token hash.
      expect((await call('GET', '/providers/installed')).text).toContain('"API_TOKEN":"***"');
      expect((await call('GET', `/providers/installed/acme/db?as_of=${encodeURIComponent(new Date().toISOString())}`)).body!.config).toMatchObject({ API_TOKEN: '***' });
      const history = await call('GET', '/providers/installed/acme/db/history?limit=100');
      const items = history.body!.items as Array<{ type: string; data: Record<string, unknown> }>;
      expect(items.find((i) => i.type === 'InstallRequested')!.data).toMatchObject({ config: { API_TOKEN: '***', EXTRA_SECRET: '***', REGION: 'eu' }, secret_keys: ['API_TOKEN', 'DB_PASSWORD', 'EXTRA_SECRET'] });
      expect(items.find((i) => i.type === 'DeployStarted')!.data).not.toHaveProperty('token_hash');
      expect(history.text).not.toContain('sealed:v1:');

      // The same secret sent again changes nothing that runs; the mask keeps a value; a new value redeploys.
      const same = await call('PATCH', '/providers/installed/acme/db', { config: { REGION: 'eu', API_TOKEN: '***', DB_PASSWORD: dbPassword, POOL_SIZE: '4', EXTRA_SECRET: '***' } });
      expect(same.body).toMatchObject({ lifecycle_state: 'ready' });
      const tooShort = await call('PATCH', '/providers/installed/acme/db', { secret_config: { API_TOKEN: 'short' } });
      expect(tooShort.body).toMatchObject({ code: 'config_invalid', details: [expect.objectContaining({ field: '/API_TOKEN', constraint: 'minLength' })] });

      // An upgrade to a version whose schema the current config violates names the keys to change.
      expect((await call('POST', '/provider-versions', { name: 'acme/db', version: '2.0.0', wheel_url: WHEEL('2.0.0'), config_schema: SCHEMA_2 })).status).toBe(201);
      const before = await installationEvents();
      const upgrade = await call('POST', '/providers/installed/acme/db/upgrade', { version: '2.0.0' });
      expect(upgrade.status).toBe(422);
      expect(upgrade.body).toMatchObject({ code: 'config_invalid', details: [expect.objectContaining({ field: '/TENANT_LABEL', constraint: 'required' })] });
      expect(upgrade.body!.message).toContain('change TENANT_LABEL');
      expect(await installationEvents()).toBe(before);

      // The operator CLI's audit replay masks too.
      const cliEnv = { ...process.env, DATABASE_URL: db.url, SECRETS_MASTER_KEY: oldKey };
      const audit = await run(process.execPath, [CLI, 'audit', 'replay', '--tenant', 'acme', '--json'], { env: cliEnv });
      expect(audit.stdout).toContain('"API_TOKEN":"***"');
      expect(leaksIn(audit.stdout)).toEqual([]);
      expect(audit.stdout).not.toContain('token_hash');

      // Rotation re-wraps the data key; the log is untouched; only the new key opens it now.
      const logBefore = (await db.pool.query<{ d: string }>(`SELECT md5(string_agg(data::text, '' ORDER BY global_position)) AS d FROM es_events`)).rows[0].d;
      const newKey = masterKey();
      const rotation = await run(process.execPath, [CLI, 'secrets', 'rotate-master-key', '--json'], { env: { ...cliEnv, SECRETS_MASTER_KEY: newKey, SECRETS_PREVIOUS_MASTER_KEY: oldKey } });
      expect(JSON.parse(rotation.stdout)).toEqual({ rewrapped: 1, already_current: 0 });
      expect((await db.pool.query<{ d: string }>(`SELECT md5(string_agg(data::text, '' ORDER BY global_position)) AS d FROM es_events`)).rows[0].d).toBe(logBefore);
      const sealedInLog = await sealedValuesOf(db.pool, installationId);
      const withNew = await InstallationSecrets.load(db.pool, { masterKey: newKey, previousMasterKey: undefined, production: true });
      expect(await withNew.reveal(installationId, sealedInLog)).toMatchObject({ API_TOKEN: apiToken, EXTRA_SECRET: extraSecret });
      const withOld = await InstallationSecrets.load(db.pool, { masterKey: oldKey, previousMasterKey: undefined, production: true });
      await expect(withOld.reveal(installationId, sealedInLog)).rejects.toBeInstanceOf(SecretUnreadable);

      // Nothing in the database holds a plaintext secret.
      expect(leaksIn(await databaseDump(db.pool))).toEqual([]);

      // Uninstall: the data key is destroyed; no key can open what the log still holds.
      expect((await call('DELETE', '/providers/installed/acme/db')).status).toBe(202);
      const gone = Date.now() + 30_000;
      while ((await call('GET', '/providers/installed/acme/db')).status !== 404 && Date.now() < gone) await new Promise((r) => setTimeout(r, 200));
      expect((await db.pool.query(`SELECT 1 FROM installation_data_keys WHERE installation_id = $1`, [installationId])).rowCount).toBe(0);
      await expect(withNew.reveal(installationId, sealedInLog)).rejects.toBeInstanceOf(SecretUnreadable);
      const history2 = await call('GET', '/providers/installed/acme/db/history?limit=100');
      expect(history2.text).toContain('"API_TOKEN":"***"');

      await app.stop();
      output = app.output();
      const lines = output.split('\n').filter(Boolean);
      expect(lines.filter((l) => /"level":20\b/.test(l)).length).toBeGreaterThan(0);
      expect(lines.filter((l) => leaksIn(l).length > 0)).toEqual([]);
    } finally {
      await app.stop();
      await db.drop();
      if (existsSync(runtimeDir)) rmSync(runtimeDir, { recursive: true, force: true });
    }
  }, 120_000);
});

/** The sealed values of the installation's InstallRequested, as the log keeps them for ever. */
async function sealedValuesOf(pool: import('pg').Pool, installationId: string): Promise<Record<string, string>> {
  const { rows } = await pool.query<{ data: { config: Record<string, string>; secret_keys: string[] } }>(
    `SELECT data FROM es_events WHERE event_type = 'InstallRequested' AND data->>'installation_id' = $1`,
    [installationId],
  );
  const { config, secret_keys: keys } = rows[0].data;
  expect(keys.every((k) => config[k].startsWith('sealed:v1:'))).toBe(true);
  return Object.fromEntries(keys.map((k) => [k, config[k]]));
}

describe('no master key in production', () => {
  it('the API refuses to start with NODE_ENV=production and no SECRETS_MASTER_KEY, saying what to set', async () => {
    const db = await createTestDatabase('nokey');
    try {
      const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production', DATABASE_URL: db.url, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' };
      const exit = await run(process.execPath, [path.resolve(__dirname, '../../dist/apps/api/main.js')], { env, timeout: 30_000 }).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code?: number; stderr?: string }) => ({ code: error.code ?? -1, stderr: error.stderr ?? '' }),
      );
      expect(exit.code).not.toBe(0);
      expect(exit.stderr).toContain('SECRETS_MASTER_KEY is not set and NODE_ENV=production: refusing to start');
      expect((await db.pool.query('SELECT 1 FROM secrets_generated_master_key')).rowCount).toBe(0);
    } finally {
      await db.drop();
    }
  }, 60_000);
});
