import { randomBytes, randomUUID } from 'node:crypto';
import { Client, Pool } from 'pg';
import { DECLARED_TABLES, createPool, migrate } from '../../libs/database/database';
import { applyDeclaredTables, hasDeclaredShape } from '../../libs/database/declared-tables';
import { DeclaredTable, indexName, primaryKeyName } from '../../libs/database/table-spec';
import { CheckpointStore } from '../../libs/event-store/consumers/checkpoint-store';
import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { RecordedEvent } from '../../libs/event-store/event-store.port';
import { waitUntil } from '../../libs/event-store/consumers/wait-until';
import { CheckpointMovedBack, ProjectionConsumer } from '../../libs/projection-engine/projection-consumer';
import { apiKeysProjection } from '../../projections/api-keys.projection';
import { installedProvidersProjection } from '../../projections/installed-providers.projection';
import { withDatabase } from '../support/test-database';
import { LEGACY_READ_MODEL_SCHEMA } from './fixtures/legacy-schema';
import { eventStoreMigration } from '../../libs/event-store/postgres/migrations/1763900000000-event-store';

/**
 * Start-up's schema step over a real PostgreSQL: the event store's SQL migration and the read-model
 * tables made from their declarations, on an empty database and on one the TypeORM migrations made.
 */
/** The tables the TypeORM release made (LEGACY_READ_MODEL_SCHEMA and the event store's migration). */
const LEGACY_TABLES = new Set(['es_checkpoints', 'api_keys', 'provider_versions', 'catalog_providers', 'installed_providers', 'runtime_heartbeats', 'deployment_observations']);
/** Legacy tables whose declaration has changed since (catalog `scope`, version `runtime_image`, installation `serving_generation`): refolded from the log, not adopted. */
const CHANGED_SINCE_LEGACY = new Set(['provider_versions', 'catalog_providers', 'installed_providers']);

describe('declared tables', () => {
  const adminUrl = process.env.DATABASE_URL as string;
  const made: string[] = [];

  async function emptyDatabase(): Promise<{ url: string; pool: Pool }> {
    const name = `decl_${randomBytes(6).toString('hex')}`;
    await admin(`CREATE DATABASE ${name}`);
    made.push(name);
    const url = withDatabase(adminUrl, name);
    return { url, pool: createPool(url, 4, 'test') };
  }

  async function admin(sql: string): Promise<void> {
    const client = new Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }

  const pools: Pool[] = [];
  afterAll(async () => {
    for (const pool of pools) await pool.end();
    for (const name of made) await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });

  async function indexNames(pool: Pool): Promise<string[]> {
    const { rows } = await pool.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`);
    return rows.map((r) => r.indexname);
  }

  it('creates every declared table on an empty database, and a second start changes nothing', async () => {
    const { url, pool } = await emptyDatabase();
    pools.push(pool);
    const first = await migrate(url);
    expect(first.migrations).toEqual(['EventStore1763900000000', 'AppendConditions1764500000000']);
    expect(first.tables).toEqual(DECLARED_TABLES.map((t) => ({ table: t.spec.name, action: 'created' })));
    for (const table of DECLARED_TABLES) expect(await hasDeclaredShape(pool, table.spec)).toBe(true);
    expect(await indexNames(pool)).toEqual(expect.arrayContaining(['installed_providers_installation_id', 'installed_providers_provider', 'catalog_providers_tags', 'api_keys_org', 'runtime_heartbeats_last_seen']));
    expect(await migrate(url)).toEqual({ migrations: [], tables: [] });
  });

  it('adopts a database the TypeORM migrations made: no migration runs twice, no table is rebuilt, index names stay', async () => {
    const { url, pool } = await emptyDatabase();
    pools.push(pool);
    for (const statement of [...eventStoreMigration.statements, ...LEGACY_READ_MODEL_SCHEMA]) await pool.query(statement);
    await pool.query(`CREATE TABLE "schema_migrations" ("id" SERIAL NOT NULL, "timestamp" bigint NOT NULL, "name" character varying NOT NULL, CONSTRAINT "PK_schema_migrations" PRIMARY KEY ("id"))`);
    const recorded = ['EventStore1763900000000', 'ReadModels1763900000100', 'RuntimeHeartbeats1763900000200', 'CatalogRevision1763900000300', 'DeploymentObservations1763900000400'];
    for (const name of recorded) await pool.query('INSERT INTO schema_migrations ("timestamp", name) VALUES ($1, $2)', [name.slice(-13), name]);
    await pool.query(`INSERT INTO api_keys VALUES ('k1', 'acme', '[]', false, 'hash', null, 'me', now(), null)`);
    await pool.query(`INSERT INTO es_checkpoints (consumer, commit_position, prepare_position) VALUES ('api-keys', 5, 5)`);
    const before = await indexNames(pool);
    // Tables declared since that release (the artifact store's) are new: created, with their indexes.
    const added = DECLARED_TABLES.filter((t) => !LEGACY_TABLES.has(t.spec.name));
    const addedIndexes = added.flatMap((t) => [primaryKeyName(t.spec.name), ...(t.spec.indexes ?? []).map((i) => indexName(t.spec.name, i))]);

    const report = await migrate(url);
    // Only the migration added since that release runs.
    expect(report.migrations).toEqual(['AppendConditions1764500000000']);
    const expected = (name: string) => (CHANGED_SINCE_LEGACY.has(name) ? 'refolded' : LEGACY_TABLES.has(name) ? 'adopted' : 'created');
    expect(report.tables.map((t) => t.action)).toEqual(DECLARED_TABLES.map((t) => expected(t.spec.name)));
    expect(await indexNames(pool)).toEqual([...before, 'schema_tables_pkey', ...addedIndexes].sort());
    expect((await pool.query('SELECT key_id FROM api_keys')).rows).toEqual([{ key_id: 'k1' }]);
    expect((await pool.query(`SELECT commit_position FROM es_checkpoints WHERE consumer = 'api-keys'`)).rows).toEqual([{ commit_position: '5' }]);
    expect((await pool.query('SELECT count(*)::int AS n FROM schema_migrations')).rows[0].n).toBe(recorded.length + 1);
    expect(await migrate(url)).toEqual({ migrations: [], tables: [] });
  });

  it('a changed projection declaration drops the table, recreates it as declared and resets its checkpoints so the log refolds it', async () => {
    const { url, pool } = await emptyDatabase();
    pools.push(pool);
    await migrate(url);
    await pool.query(`INSERT INTO es_checkpoints (consumer, commit_position, prepare_position) VALUES ('installed-providers', 7, 7), ('installed-providers__rebuild', 3, 3), ('catalog', 9, 9)`);
    const spec = installedProvidersProjection.table;
    const changed: DeclaredTable = {
      spec: { ...spec, columns: { ...spec.columns, region: 'text' }, nullable: [...(spec.nullable ?? []), 'region'] },
      onChange: { kind: 'refold', consumers: ['installed-providers'] },
    };
    const client = await pool.connect();
    try {
      expect(await applyDeclaredTables(client, [changed])).toEqual([{ table: 'installed_providers', action: 'refolded' }]);
      expect(await applyDeclaredTables(client, [changed])).toEqual([]);
    } finally {
      client.release();
    }
    expect(await hasDeclaredShape(pool, changed.spec)).toBe(true);
    const { rows } = await pool.query<{ consumer: string }>('SELECT consumer FROM es_checkpoints ORDER BY 1');
    expect(rows.map((r) => r.consumer)).toEqual(['catalog']);
  });

  it('a live consumer whose table was refolded under it resubscribes from the reset checkpoint instead of skipping the history', async () => {
    const { url, pool } = await emptyDatabase();
    pools.push(pool);
    await migrate(url);
    const store = new PostgresEventStore(pool);
    const at = '2026-01-01T00:00:00.000Z';
    const metadata = { schema_version: 1, correlation_id: randomUUID(), causation_id: null, actor: 'test', occurred_at: at };
    for (const keyId of ['k1', 'k2', 'k3']) {
      const data = { key_id: keyId, org: 'acme', scopes: [], platform_admin: false, secret_hash: 'h', label: null, created_by: 'test', at };
      await store.append(`api-key-${keyId}`, [{ id: randomUUID(), type: 'ApiKeyCreated', data, metadata }], 'no_stream');
    }
    // The log shows an event once no older transaction (in any database of the server) is in flight.
    let events: RecordedEvent[] = [];
    const visible = await waitUntil(async () => (events = await store.readAll({ filter: { eventTypes: apiKeysProjection.eventTypes } })).length === 3, { timeoutMs: 10_000, intervalMs: 20 });
    expect(visible).toBe(true);
    const consumer = new ProjectionConsumer(pool, apiKeysProjection, new CheckpointStore(pool));
    await consumer.loadCheckpoint();
    await consumer.handle(events.slice(0, 2));
    expect((await pool.query('SELECT count(*)::int AS n FROM api_keys')).rows[0].n).toBe(2);

    const spec = apiKeysProjection.table;
    const changed: DeclaredTable = { spec: { ...spec, columns: { ...spec.columns, note: 'text' }, nullable: [...(spec.nullable ?? []), 'note'] }, onChange: { kind: 'refold', consumers: ['api-keys'] } };
    const client = await pool.connect();
    try {
      expect(await applyDeclaredTables(client, [changed])).toEqual([{ table: 'api_keys', action: 'refolded' }]);
    } finally {
      client.release();
    }
    await expect(consumer.handle(events.slice(2))).rejects.toThrow(CheckpointMovedBack);
    expect((await pool.query('SELECT count(*)::int AS n FROM api_keys')).rows[0].n).toBe(0);

    // What the runner does next: resubscribe from the checkpoint, now the start of the log.
    expect(await consumer.loadCheckpoint()).toBeUndefined();
    await consumer.handle(events);
    const { rows } = await pool.query<{ key_id: string }>('SELECT key_id FROM api_keys ORDER BY 1');
    expect(rows.map((r) => r.key_id)).toEqual(['k1', 'k2', 'k3']);
    await store.close();
  });

  it('a table whose rows no log can restore stops start-up rather than being dropped', async () => {
    const { url, pool } = await emptyDatabase();
    pools.push(pool);
    await migrate(url);
    const [heartbeats] = DECLARED_TABLES.filter((t) => t.spec.name === 'runtime_heartbeats');
    const changed: DeclaredTable = { spec: { ...heartbeats.spec, nullable: [] }, onChange: { kind: 'refuse' } };
    const client = await pool.connect();
    try {
      await expect(applyDeclaredTables(client, [changed])).rejects.toThrow(/does not match its declaration/);
    } finally {
      client.release();
    }
    expect(await hasDeclaredShape(pool, heartbeats.spec)).toBe(true);
  });
});
