import pino from 'pino';
import { aggregatesIn } from '../../libs/application/aggregates';
import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { TestDatabase, createTestDatabase } from '../../test/support/test-database';
import { startIdempotencyPurge } from './idempotency-purge';

describe('idempotency purge', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;

  beforeAll(async () => {
    db = await createTestDatabase('idem_purge');
    store = new PostgresEventStore(db.pool, { idlePollMs: 500 });
  });
  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  it('deletes records past the retention when it starts and on its timer, and keeps the others', async () => {
    const aggregates = aggregatesIn(db.pool, store, { idempotencyRetentionMs: 60_000, onBackgroundError: (e) => { throw e; } });
    const record = (key: string) => ({ scope: 'acme', key, streamName: 's', firstRevision: 0, lastRevision: 0, requestHash: null });
    await aggregates.idempotency.record(record('old'));
    await aggregates.idempotency.record(record('fresh'));
    await db.pool.query(`UPDATE idempotency_keys SET recorded_at = now() - interval '2 minutes' WHERE key = 'old'`);

    const purge = startIdempotencyPurge({ aggregates, logger: pino({ level: 'silent' }) }, 50);
    try {
      const keys = async () => (await db.pool.query<{ key: string }>('SELECT key FROM idempotency_keys ORDER BY key')).rows.map((r) => r.key);
      for (let i = 0; i < 100 && (await keys()).includes('old'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(await keys()).toEqual(['fresh']);
      await aggregates.idempotency.record(record('later'));
      await db.pool.query(`UPDATE idempotency_keys SET recorded_at = now() - interval '2 minutes' WHERE key = 'later'`);
      for (let i = 0; i < 100 && (await keys()).includes('later'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(await keys()).toEqual(['fresh']);
    } finally {
      await purge.stop();
    }
  });
});
