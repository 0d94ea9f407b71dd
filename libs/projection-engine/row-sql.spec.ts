import { installedProvidersProjection } from '../../projections/installed-providers.projection';
import { TestDatabase, createTestDatabase } from '../../test/support/test-database';
import { deleteRows, preparedRowStatements, readRows } from './row-sql';

/**
 * Reads, locks and deletes by key look each key up in the primary key, whatever the planner guesses
 * of the key list: a join let it hash a one-key list against a scan of the whole table (it assumes
 * a hundred keys), so every append's inline write cost grew with the read model.
 */
describe('row statements by key', () => {
  let db: TestDatabase;
  const spec = installedProvidersProjection.table;
  const key = { tenant: 't7', prefix: 'p', name: 'n17' };

  beforeAll(async () => {
    db = await createTestDatabase('rowsql');
    await db.pool.query(
      `INSERT INTO installed_providers (tenant, prefix, name, installation_id, installed_version, current_version, upgrade_policy,
         resource_tier, config, lifecycle_state, health, generation, revision, installed_at, updated_at)
       SELECT 't' || (g % 10), 'p', 'n' || g, gen_random_uuid(), '1.0.0', '1.0.0', 'manual', 'small', '{}'::jsonb, 'ready', 'healthy', 1, 3, now(), now()
         FROM generate_series(1, 5000) AS g`,
    );
    await db.pool.query('ANALYZE installed_providers');
  });

  afterAll(() => db.drop());

  async function plan(sql: string, args: unknown[]): Promise<string> {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, args);
      await client.query('ROLLBACK');
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    } finally {
      client.release();
    }
  }

  it('the prepared lock, read and delete of one row scan no table', async () => {
    const statements = preparedRowStatements(spec);
    for (const statement of [statements.lock, statements.read, statements.delete]) {
      const shown = await plan(statement.sql, [JSON.stringify([key])]);
      expect(shown).not.toMatch(/Seq Scan on installed_providers/);
      expect(shown).toMatch(/Index Scan/);
    }
  });

  it('locks, reads and deletes exactly the rows of the keys given', async () => {
    const statements = preparedRowStatements(spec);
    const other = { tenant: 't3', prefix: 'p', name: 'n13' };
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      const locked = await client.query<{ row: Record<string, unknown> }>(statements.lock.sql, [JSON.stringify([other, key, { ...key, name: 'absent' }])]);
      // In key order, whatever the order asked.
      expect(locked.rows.map((r) => [r.row.tenant, r.row.name])).toEqual([
        ['t3', 'n13'],
        ['t7', 'n17'],
      ]);
      const read = await client.query<{ row: Record<string, unknown> }>(statements.read.sql, [JSON.stringify([other, { ...key, name: 'absent' }])]);
      expect(read.rows.map((r) => r.row.name)).toEqual(['n13']);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }

    expect((await readRows(db.pool, spec, 'installed_providers', [key])).map((r) => r.name)).toEqual(['n17']);
    await deleteRows(db.pool, spec, 'installed_providers', [key, other]);
    expect(await readRows(db.pool, spec, 'installed_providers', [key, other])).toEqual([]);
    const { rows } = await db.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM installed_providers');
    expect(rows[0].n).toBe('4998');
  });
});
