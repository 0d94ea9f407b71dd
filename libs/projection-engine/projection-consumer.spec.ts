import { randomUUID } from 'node:crypto';
import { Pool, PoolClient } from 'pg';
import { installedProvidersProjection } from '../../projections/installed-providers.projection';
import { TestDatabase, createTestDatabase } from '../../test/support/test-database';
import { CheckpointStore } from '../event-store/consumers/checkpoint-store';
import { RecordedEvent } from '../event-store/event-store.port';
import { ProjectionConsumer } from './projection-consumer';

/**
 * An asynchronous projection's batch is two round trips (BEGIN, checkpoint lock and the rows' read;
 * then writes, checkpoint and COMMIT): each one more is a wait, on a busy process an event-loop turn,
 * between an append and its row.
 */
describe('ProjectionConsumer batches', () => {
  let db: TestDatabase;
  const sent: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('consumer');
  });
  afterAll(() => db.drop());

  /** The pool, its clients' queries noted (statements prepared once per connection aside). */
  function watched(pool: Pool): Pool {
    const patched = new WeakSet<PoolClient>();
    const connect = pool.connect.bind(pool) as () => Promise<PoolClient>;
    return Object.assign(Object.create(pool) as Pool, {
      connect: async () => {
        // The same client object each time the connection is lent: what is prepared on it is known by it.
        const client = await connect();
        if (!patched.has(client)) {
          patched.add(client);
          const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
          Object.assign(client, {
            query: (...args: unknown[]) => {
              if (typeof args[0] === 'string' && !args[0].startsWith('PREPARE')) sent.push(args[0]);
              return query(...args);
            },
          });
        }
        return client;
      },
    });
  }

  const install = (tenant: string, name: string, position: bigint): RecordedEvent => ({
    id: randomUUID(),
    type: 'InstallRequested',
    streamName: `installation-${tenant}.acme.${name}`,
    revision: 0,
    position: { commit: position, prepare: position },
    data: { at: '2026-11-30T00:00:00.000Z', installation_id: randomUUID(), tenant, prefix: 'acme', name, version: '1.0.0', resource_tier: 'free', upgrade_policy: 'manual', config: {}, generation: 1 },
    metadata: { schema_version: 1, correlation_id: randomUUID(), causation_id: null, actor: 'test', occurred_at: '2026-11-30T00:00:00.000Z' },
  });

  it('writes a batch in two round trips, and a redelivered batch changes nothing', async () => {
    const consumer = new ProjectionConsumer(watched(db.pool), installedProvidersProjection, new CheckpointStore(db.pool));
    await consumer.loadCheckpoint();
    await consumer.handle([install('t1', 'a', 10n)]); // the consumer's first batch creates its checkpoint row

    sent.length = 0;
    const batch = [install('t1', 'b', 11n), install('t2', 'a', 12n), install('t2', 'b', 13n)];
    await consumer.handle(batch);
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatch(/^BEGIN;/);
    expect(sent[1]).toMatch(/COMMIT$/);

    const rows = async () => (await db.pool.query<{ k: string }>(`SELECT tenant || '/' || name AS k, installation_id FROM installed_providers ORDER BY 1`)).rows;
    const before = await rows();
    expect(before.map((r) => r.k)).toEqual(['t1/a', 't1/b', 't2/a', 't2/b']);
    expect((await new CheckpointStore(db.pool).load('installed-providers'))?.commit).toBe(13n);

    // Redelivered (a crash, another replica): the checkpoint has passed it, nothing is written twice.
    await consumer.handle([...batch, install('t1', 'b', 12n)]);
    expect(await rows()).toEqual(before);
  });
});
