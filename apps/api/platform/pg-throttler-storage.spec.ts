import { TestDatabase, createTestDatabase } from '../../../test/support/test-database';
import { PgThrottlerStorage } from './pg-throttler-storage';

describe('PgThrottlerStorage on PostgreSQL: one budget for all replicas, counted a lease at a time', () => {
  let db: TestDatabase;
  let queries = 0;

  beforeAll(async () => {
    db = await createTestDatabase('throttler');
    const query = db.pool.query.bind(db.pool);
    // Counts the round trips the limiter makes (the pool is the database's only door).
    db.pool.query = ((...args: Parameters<typeof query>) => {
      queries++;
      return query(...args);
    }) as typeof db.pool.query;
  });
  afterAll(async () => {
    await db.drop();
  });

  it('two replicas together allow the limit, less at most a lease each, and refuse the rest', async () => {
    const replicas = [new PgThrottlerStorage(db.pool), new PgThrottlerStorage(db.pool)];
    const limit = 1000;
    queries = 0;
    let allowed = 0;
    for (let i = 0; i < 1300; i++) {
      const record = await replicas[i % 2].increment('per-principal:key:busy', 60_000, limit);
      if (!record.isBlocked) allowed++;
    }
    expect(allowed).toBeLessThanOrEqual(limit);
    expect(allowed).toBeGreaterThanOrEqual(limit - 2 * 10);
    // 1000 hits in leases of 10, then one refusal per refused request: far fewer than one per request.
    expect(queries).toBeLessThan(100 + 300 + 10);
  });

  it('counts every request when the limit is under 100 (a lease of one)', async () => {
    const replicas = [new PgThrottlerStorage(db.pool), new PgThrottlerStorage(db.pool)];
    const results = [];
    for (let i = 0; i < 7; i++) results.push(await replicas[i % 2].increment('per-principal:key:small', 60_000, 5));
    expect(results.map((r) => r.isBlocked)).toEqual([false, false, false, false, false, true, true]);
    expect(results.slice(0, 5).map((r) => r.totalHits)).toEqual([1, 2, 3, 4, 5]);
  });

  it('concurrent requests on one replica share its lease instead of each taking one', async () => {
    const storage = new PgThrottlerStorage(db.pool);
    queries = 0;
    const records = await Promise.all(Array.from({ length: 10 }, () => storage.increment('per-principal:key:burst', 60_000, 1000)));
    expect(records.every((r) => !r.isBlocked)).toBe(true);
    expect(queries).toBeLessThanOrEqual(3);
    const { rows } = await db.pool.query<{ hits: number }>(`SELECT hits FROM rate_limit_windows WHERE bucket = 'per-principal:key:burst'`);
    expect(rows[0].hits).toBe(10);
  });
});
