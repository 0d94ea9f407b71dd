import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { hashSecret, parseApiKey } from '../../libs/api-keys/api-key-secret';
import { CheckpointStore } from '../../libs/event-store/consumers/checkpoint-store';
import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { apiKeysProjection } from '../../projections/api-keys.projection';
import { ProjectionConsumer } from '../../libs/projection-engine/projection-consumer';
import { TestDatabase, createTestDatabase } from '../support/test-database';

/**
 * The operator CLI end to end: the built `dist/apps/cli/main.js` (`npm test` builds first) spawned
 * against a fresh database, checked by its stdout, its exit code and what it left in PostgreSQL.
 */
const CLI = resolve(__dirname, '..', '..', 'dist', 'apps', 'cli', 'main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('operator CLI (spawned)', () => {
  let db: TestDatabase;

  function cli(...args: string[]): Promise<Run> {
    return new Promise((done, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: { ...process.env, DATABASE_URL: db.url, CLI_LOG_LEVEL: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => done({ code, stdout, stderr }));
    });
  }

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    db = await createTestDatabase('cli_keys');
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('keys create --json prints the key once, as one JSON object, and the key is usable at once', async () => {
    const run = await cli('keys', 'create', '--org', 'acme', '--scopes', 'read,publish,read', '--label', 'ci', '--json');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const body = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['key', 'key_id', 'org', 'platform_admin', 'scopes']);
    expect(body).toMatchObject({ org: 'acme', scopes: ['publish', 'read'], platform_admin: false });
    const parsed = parseApiKey(body.key as string);
    expect(parsed?.keyId).toBe(body.key_id);

    // No app is running, so the CLI projected the key itself before it exited.
    const { rows } = await db.pool.query('SELECT to_jsonb(k) AS row FROM api_keys k WHERE key_id = $1', [body.key_id]);
    expect(rows).toHaveLength(1);
    const row = rows[0].row as Record<string, unknown>;
    expect(row).toMatchObject({ org: 'acme', scopes: ['publish', 'read'], platform_admin: false, label: 'ci', revoked_at: null });
    expect(row.secret_hash).toBe(hashSecret(parsed?.secret as string));
    expect(row.created_by).toMatch(/^cli:.+/);
    expect(JSON.stringify(row)).not.toContain(parsed?.secret as string);
    const events = await db.pool.query(`SELECT data::text AS data FROM es_events WHERE stream_name = $1`, [`apikey-${body.key_id as string}`]);
    expect(events.rows[0].data).not.toContain(parsed?.secret as string);
    // The consumer lock was let go again.
    const locks = await db.pool.query(`SELECT count(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
    expect(locks.rows[0].n).toBe(0);
  });

  it('keys create prints key, org and scopes as text without --json', async () => {
    const run = await cli('keys', 'create', '--org', 'globex', '--scopes', 'admin', '--platform-admin');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^key: psk_[0-9a-f]{16}_\S{43}$/m);
    expect(run.stdout).toMatch(/^org: globex$/m);
    expect(run.stdout).toMatch(/^scopes: admin$/m);
    expect(run.stdout).toMatch(/^platform_admin: true$/m);
  });

  it('refuses bad arguments with exit code 2 and no output on stdout', async () => {
    for (const args of [
      ['keys', 'create', '--org', 'Acme', '--scopes', 'read'],
      ['keys', 'create', '--org', 'acme', '--scopes', 'read,root'],
      ['keys', 'create', '--org', 'acme'],
      ['keys', 'revoke', 'nope'],
      ['audit', 'replay', '--from', 'last tuesday'],
      ['projections', 'rebuild', 'nope'],
      ['projections', 'verify'],
      ['bogus'],
    ]) {
      const run = await cli(...args);
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(run.stderr).not.toBe('');
    }
    const help = await cli('projections', 'rebuild', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage:');
  });

  it('keys create waits for a running app to project the key when the app holds the consumer lock', async () => {
    // Stand in for a running app: hold the api-keys consumer lock, and project a moment later.
    const app = new Client({ connectionString: db.url });
    await app.connect();
    const pool = db.pool;
    const store = new PostgresEventStore(pool);
    try {
      await app.query(`SELECT pg_advisory_lock(hashtextextended('consumer:api-keys', 0))`);
      const pending = cli('keys', 'create', '--org', 'initech', '--scopes', 'install', '--json');
      await new Promise((r) => setTimeout(r, 1500));
      const consumer = new ProjectionConsumer(pool, apiKeysProjection, new CheckpointStore(pool));
      for (let i = 0; i < 100; i++) {
        const events = await store.readAll({ fromPosition: await consumer.loadCheckpoint(), filter: consumer.filter });
        if (events.length > 0) await consumer.handle(events);
        const row = await pool.query(`SELECT 1 FROM api_keys WHERE org = 'initech'`);
        if (row.rowCount) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const run = await pending;
      expect(run.code).toBe(0);
      expect(run.stderr).not.toContain('warning');
      expect(JSON.parse(run.stdout)).toMatchObject({ org: 'initech', scopes: ['install'] });
    } finally {
      await store.close();
      await app.end();
    }
  });

  it('keys list never shows secrets or hashes; keys revoke takes effect at once', async () => {
    const list = await cli('keys', 'list', '--org', 'acme', '--json');
    expect(list.code).toBe(0);
    const keys = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    expect(keys).toHaveLength(1);
    expect(keys[0]).not.toHaveProperty('secret_hash');
    expect(keys[0]).not.toHaveProperty('key');
    const text = await cli('keys', 'list');
    expect(text.code).toBe(0);
    expect(text.stdout).not.toMatch(/psk_|[0-9a-f]{64}/);

    const revoke = await cli('keys', 'revoke', keys[0].key_id as string, '--json');
    expect(revoke.code).toBe(0);
    expect(JSON.parse(revoke.stdout)).toEqual({ key_id: keys[0].key_id, revoked: true, already_revoked: false });
    const row = await db.pool.query('SELECT revoked_at FROM api_keys WHERE key_id = $1', [keys[0].key_id]);
    expect(row.rows[0].revoked_at).not.toBeNull();
    const again = await cli('keys', 'revoke', keys[0].key_id as string);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already revoked');
    const missing = await cli('keys', 'revoke', '0123456789abcdef');
    expect(missing.code).toBe(1);
  });

  it('audit replay prints the log as JSON lines or readable lines, filtered', async () => {
    const json = await cli('audit', 'replay', '--json');
    expect(json.code).toBe(0);
    const events = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    // Each key for an organisation not yet declared declared it first (acme, globex, initech).
    expect(events.map((e) => e.type)).toEqual([
      'OrganizationCreated', 'ApiKeyCreated', 'OrganizationCreated', 'ApiKeyCreated', 'OrganizationCreated', 'ApiKeyCreated', 'ApiKeyRevoked',
    ]);
    expect(Object.keys(events[0]).sort()).toEqual(['actor', 'correlation_id', 'data', 'occurred_at', 'position', 'revision', 'stream', 'type']);
    const revoked = await cli('audit', 'replay', '--type', 'ApiKeyRevoked', '--from', '2000-01-01', '--to', '2999-01-01');
    expect(revoked.stdout.trim().split('\n')).toHaveLength(1);
    expect(revoked.stdout).toMatch(/^\S+Z pos=\d+:\d+ apikey-[0-9a-f]{16}#1 ApiKeyRevoked by cli:\S+ {2}\{.*\}$/m);
    const none = await cli('audit', 'replay', '--to', '2000-01-01');
    expect(none).toMatchObject({ code: 0, stdout: '' });
    const tenant = await cli('audit', 'replay', '--tenant', 'acme');
    expect(tenant).toMatchObject({ code: 0, stdout: '' });
  });

  it('projections status, rebuild and verify report as JSON; verify exits 1 on a difference', async () => {
    const status = await cli('projections', 'status', '--json');
    expect(status.code).toBe(0);
    const statuses = JSON.parse(status.stdout) as Array<Record<string, unknown>>;
    expect(statuses.find((s) => s.name === 'api-keys')).toMatchObject({ table: 'api_keys', lag: 0, active: false });

    const rebuild = await cli('projections', 'rebuild', 'api-keys', '--json');
    expect(rebuild.code).toBe(0);
    const report = JSON.parse(rebuild.stdout) as Record<string, unknown>;
    expect(Object.keys(report).sort()).toEqual(['events', 'events_per_second', 'name', 'seconds']);
    expect(report).toMatchObject({ name: 'api-keys', events: 4 });

    const ok = await cli('projections', 'verify', 'all', '--json');
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as Array<{ differences: unknown[] }>).every((r) => r.differences.length === 0)).toBe(true);

    await db.pool.query(`UPDATE api_keys SET org = 'evil' WHERE org = 'globex'`);
    const bad = await cli('projections', 'verify', 'api-keys', '--json');
    expect(bad.code).toBe(1);
    const verdict = JSON.parse(bad.stdout) as { name: string; differences: Array<{ columns: string[]; live: { org: string }; expected: { org: string } }> };
    expect(verdict.name).toBe('api-keys');
    expect(verdict.differences).toHaveLength(1);
    expect(verdict.differences[0]).toMatchObject({ columns: ['org'], live: { org: 'evil' }, expected: { org: 'globex' } });
    const text = await cli('projections', 'verify', 'api-keys');
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('org: live "evil", expected "globex"');

    const repaired = await cli('projections', 'rebuild', 'api-keys');
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toMatch(/rebuild api-keys: 4\/4 events, \d+ ev\/s/);
    expect((await cli('projections', 'verify', 'api-keys')).code).toBe(0);
  });
});
