import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { apiKeyStream } from '../../libs/api-keys/api-key';
import { issueApiKey } from '../../libs/api-keys/api-key-secret';
import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { TestDatabase, createTestDatabase } from '../support/test-database';

/**
 * `orgs create|rename|list` and "a key for an unknown organisation declares it": the built CLI
 * spawned against a fresh database, checked by its output, exit code and the log it left.
 */
const CLI = resolve(__dirname, '..', '..', 'dist', 'apps', 'cli', 'main.js');

describe('operator CLI: organisations (spawned)', () => {
  let db: TestDatabase;

  function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((done, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: db.url, CLI_LOG_LEVEL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => done({ code, stdout, stderr }));
    });
  }

  const streamTypes = async (stream: string) =>
    (await db.pool.query<{ type: string }>('SELECT event_type AS type FROM es_events WHERE stream_name = $1 ORDER BY stream_revision', [stream])).rows.map((r) => r.type);

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    db = await createTestDatabase('cli_orgs');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('orgs create declares an organisation, and refuses to declare it twice', async () => {
    const run = await cli('orgs', 'create', 'acme', '--name', 'Acme Corp', '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ id: 'acme', slug: 'acme', name: 'Acme Corp', status: 'active' });
    expect(await streamTypes('organization-acme')).toEqual(['OrganizationCreated']);
    const again = await cli('orgs', 'create', 'acme');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('organization_exists');
    expect(await streamTypes('organization-acme')).toEqual(['OrganizationCreated']);
  });

  it('keys create for an unknown organisation declares it first; for a known one it leaves it alone', async () => {
    const run = await cli('keys', 'create', '--org', 'globex', '--scopes', 'read', '--json');
    expect(run.code).toBe(0);
    expect(await streamTypes('organization-globex')).toEqual(['OrganizationCreated']);
    expect((await cli('keys', 'create', '--org', 'acme', '--scopes', 'read')).code).toBe(0);
    expect(await streamTypes('organization-acme')).toEqual(['OrganizationCreated']);
  });

  it('orgs list shows every organisation, named or not, also those known only from a key', async () => {
    // A key written before organisations had streams of their own: its event alone names the organisation.
    const store = new PostgresEventStore(db.pool);
    const { keyId, secretHash } = issueApiKey();
    await store.append(apiKeyStream(keyId), [
      {
        id: randomUUID(),
        type: 'ApiKeyCreated',
        data: { key_id: keyId, org: 'initech', scopes: ['read'], platform_admin: false, secret_hash: secretHash, label: null, created_by: 'cli:legacy', at: '2025-01-01T00:00:00.000Z' },
        metadata: { schema_version: 1, correlation_id: randomUUID(), causation_id: null, actor: 'cli:legacy', occurred_at: '2025-01-01T00:00:00.000Z', idempotency_key: null },
      },
    ], 'no_stream');
    await store.close();
    const list = await cli('orgs', 'list', '--json');
    expect(list.code).toBe(0);
    const orgs = JSON.parse(list.stdout) as Array<{ id: string; name: string }>;
    expect(orgs.map((o) => [o.id, o.name])).toEqual([
      ['acme', 'Acme Corp'],
      ['globex', 'globex'],
      ['initech', 'initech'],
    ]);
    expect(await streamTypes('organization-initech')).toEqual([]);
    const text = await cli('orgs', 'list');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ID\s+NAME\s+CREATED\s+UPDATED$/m);
    expect(text.stdout).toMatch(/^acme\s+Acme Corp\s+\S+Z\s+\S+Z$/m);
  });

  it('orgs rename renames; bad ids and names are usage errors with nothing written', async () => {
    const renamed = await cli('orgs', 'rename', 'acme', '--name', 'Acme Inc');
    expect(renamed.code).toBe(0);
    expect(await streamTypes('organization-acme')).toEqual(['OrganizationCreated', 'OrganizationRenamed']);
    expect((JSON.parse((await cli('orgs', 'list', '--json')).stdout) as Array<{ name: string }>)[0].name).toBe('Acme Inc');
    const before = (await db.pool.query('SELECT count(*)::int AS n FROM es_events')).rows[0].n;
    for (const args of [
      ['orgs', 'create', 'Acme'],
      ['orgs', 'create', 'ok', '--name', ' '],
      ['orgs', 'create', 'ok', '--name', 'x'.repeat(201)],
      ['orgs', 'rename', 'acme'],
      ['orgs', 'create'],
    ]) {
      const run = await cli(...args);
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' });
    }
    const missing = await cli('orgs', 'rename', 'nobody', '--name', 'X');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('organization_not_found');
    expect((await db.pool.query('SELECT count(*)::int AS n FROM es_events')).rows[0].n).toBe(before);
  });
});
