import { roundTripsAsJson } from '../../libs/application/aggregate-snapshots';
import { EventStoreDbEventStore } from '../../libs/event-store/eventstoredb/eventstoredb-event-store';
import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { EventStoreDbTestDouble } from '../support/eventstoredb-test-double/eventstoredb-test-double';
import { createTestDatabase } from '../support/test-database';
import { aggregateSnapshotContract } from './aggregate-snapshots.contract';

aggregateSnapshotContract('PostgreSQL event store', async () => {
  const db = await createTestDatabase('snapshots');
  const store = new PostgresEventStore(db.pool, { idlePollMs: 500 });
  return {
    store,
    pool: db.pool,
    teardown: async () => {
      await store.close();
      await db.drop();
    },
  };
});

// The log in EventStoreDB (its gRPC test double), the snapshots in PostgreSQL, as in production.
aggregateSnapshotContract('EventStoreDB adapter via gRPC test double', async () => {
  const db = await createTestDatabase('snapshots_esdb');
  const server = new EventStoreDbTestDouble({});
  const { connectionString } = await server.start();
  const store = new EventStoreDbEventStore(connectionString);
  return {
    store,
    pool: db.pool,
    teardown: async () => {
      await store.close();
      await server.stop();
      await db.drop();
    },
  };
});

describe('roundTripsAsJson', () => {
  it('accepts plain JSON state and refuses what JSON would change', () => {
    expect(roundTripsAsJson({ a: [1, 'x', null, { b: true }] })).toBe(true);
    expect(roundTripsAsJson({ at: new Date(0) })).toBe(false);
    expect(roundTripsAsJson({ m: new Map([[1, 2]]) })).toBe(false);
    expect(roundTripsAsJson({ gone: undefined })).toBe(false);
  });
});
