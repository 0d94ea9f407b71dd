import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { createTestDatabase } from '../support/test-database';
import { eventStoreContract } from './event-store.contract';

eventStoreContract('PostgreSQL', async () => {
  const db = await createTestDatabase('contract');
  const store = new PostgresEventStore(db.pool, { idlePollMs: 500 });
  return {
    store,
    // Takes a sequence number (and a transaction id) in an open transaction on its own connection,
    // so a later append commits first: the late-commit case, forced rather than hoped for.
    beginSlowAppend: async (streamName, event) => {
      const client = await db.pool.connect();
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO es_events (stream_name, stream_revision, event_id, event_type, data, metadata)
         VALUES ($1, 0, $2, $3, $4, $5)`,
        [streamName, event.id, event.type, JSON.stringify(event.data), JSON.stringify(event.metadata)],
      );
      return {
        commit: async () => {
          await client.query(`SELECT pg_notify('es_events', '')`);
          await client.query('COMMIT');
          client.release();
        },
      };
    },
    teardown: async () => {
      await store.close();
      await db.drop();
    },
  };
});
