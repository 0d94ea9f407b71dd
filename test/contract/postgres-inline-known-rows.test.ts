import { Pool } from 'pg';
import { createTableStatements } from '../../libs/database/table-ddl';
import { WrongExpectedRevision } from '../../libs/event-store/event-store.port';
import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { InlineProjections } from '../../libs/projection-engine/inline-projections';
import { RowProjection } from '../../libs/projection-engine/row-projection';
import { TestDatabase, createTestDatabase } from '../support/test-database';
import { newEvent } from './event-store.contract';

/**
 * An inline append whose rows the store wrote last goes in one round trip, its writes computed from
 * the remembered rows; each applies only to the row version remembered, so a row another process
 * or a rebuild changed meanwhile is read again (two round trips) instead of overwritten.
 */
const buckets: RowProjection = {
  name: 'test-buckets',
  eventTypes: ['Added', 'Emptied'],
  table: { name: 'test_buckets', key: ['bucket'], columns: { bucket: 'text', n: 'integer', last_revision: 'bigint' } },
  keyOf: (event) => ({ bucket: String((event.data as { bucket: string }).bucket) }),
  // No position: the writes can be computed before the log gives one.
  evolve: (row, event) => (event.type === 'Emptied' ? null : { bucket: (event.data as { bucket: string }).bucket, n: Number(row?.n ?? 0) + 1, last_revision: event.revision }),
};

describe('PostgreSQL inline appends from remembered rows', () => {
  let db: TestDatabase;
  let one: Pool;
  let a: PostgresEventStore;
  let b: PostgresEventStore;
  let queries: string[];

  beforeAll(async () => {
    db = await createTestDatabase('contract');
    for (const statement of createTableStatements(buckets.table)) await db.pool.query(statement);
    // `a` on one connection, whose queries are counted; `b` stands for another process.
    one = new Pool({ connectionString: db.url, max: 1 });
    one.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
      Object.assign(client, {
        query: (...args: unknown[]) => {
          queries.push(typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0]));
          return query(...args);
        },
      });
    });
    a = new PostgresEventStore(one, { inline: new InlineProjections([buckets]) });
    b = new PostgresEventStore(db.pool, { inline: new InlineProjections([buckets]) });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await one?.end();
    await db?.drop();
  });

  beforeEach(() => {
    queries = [];
  });

  const bucket = async (name: string) => (await db.pool.query<{ n: number; last_revision: string }>('SELECT n, last_revision FROM test_buckets WHERE bucket = $1', [name])).rows[0];
  /** The appends' own round trips: what `a` sent, less the statements prepared once per connection and the NOTIFY. */
  const roundTrips = () => queries.filter((q) => !q.startsWith('PREPARE') && !q.includes('pg_notify')).length;

  it('appends to a row it wrote last in one round trip, with the revision the log gives', async () => {
    await a.append('s-1', [newEvent('Added', { bucket: 'one' })], 'no_stream');
    expect(await bucket('one')).toEqual({ n: 1, last_revision: '0' });
    queries = [];
    await a.append('s-1', [newEvent('Added', { bucket: 'one' }), newEvent('Added', { bucket: 'one' })], 0);
    expect(roundTrips()).toBe(1);
    expect(await bucket('one')).toEqual({ n: 3, last_revision: '2' });
  });

  it('checks the streams the decision read in the same round trip, and writes nothing once one moved', async () => {
    await a.append('s-u', [newEvent('Added', { bucket: 'u' })], 'no_stream');
    queries = [];
    await a.append('s-u', [newEvent('Added', { bucket: 'u' })], 0, { unchanged: [{ streamName: 'other-u', revision: -1 }] });
    expect(roundTrips()).toBe(1);
    await b.append('other-u', [newEvent('Noted')], 'no_stream');
    const refused = a.append('s-u', [newEvent('Added', { bucket: 'u' })], 1, { unchanged: [{ streamName: 'other-u', revision: -1 }] });
    await expect(refused).rejects.toMatchObject({ streamName: 'other-u', expected: 'no_stream', actual: 0 });
    expect(await bucket('u')).toEqual({ n: 2, last_revision: '1' });
    expect(await a.readStream('s-u')).toHaveLength(2);
  });

  it('reads a row another process changed again (two round trips) and counts exactly', async () => {
    await a.append('s-2', [newEvent('Added', { bucket: 'shared' })], 'no_stream');
    for (let i = 0; i < 3; i++) {
      await b.append(`other-${i}`, [newEvent('Added', { bucket: 'shared' })], 'no_stream');
      queries = [];
      await a.append(`mine-${i}`, [newEvent('Added', { bucket: 'shared' })], 'no_stream');
      expect(roundTrips()).toBe(4); // the remembered row's write refused, its ROLLBACK, then the two round trips
    }
    expect((await bucket('shared')).n).toBe(7);
    queries = [];
    await a.append('mine-3', [newEvent('Added', { bucket: 'shared' })], 'no_stream');
    expect(roundTrips()).toBe(1);
    expect((await bucket('shared')).n).toBe(8);
  });

  it('does not overwrite a row a rebuild or an operator changed meanwhile', async () => {
    await a.append('s-3', [newEvent('Added', { bucket: 'rebuilt' })], 'no_stream');
    await db.pool.query(`UPDATE test_buckets SET n = 10 WHERE bucket = 'rebuilt'`);
    await a.append('s-3', [newEvent('Added', { bucket: 'rebuilt' })], 0);
    expect((await bucket('rebuilt')).n).toBe(11);
  });

  it('many concurrent appends of both processes to one remembered row add up exactly', async () => {
    await Promise.all([a, b].map((store) => store.append(`warm-${store === a ? 'a' : 'b'}`, [newEvent('Added', { bucket: 'busy' })], 'no_stream')));
    await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).append(`busy-${i}`, [newEvent('Added', { bucket: 'busy' })], 'no_stream')));
    expect((await bucket('busy')).n).toBe(32);
  });

  it('an append at a stale revision writes neither its event nor its row', async () => {
    await a.append('s-4', [newEvent('Added', { bucket: 'stale' })], 'no_stream');
    await b.append('s-4', [newEvent('Added', { bucket: 'stale' })], 0);
    await expect(a.append('s-4', [newEvent('Added', { bucket: 'stale' })], 0)).rejects.toBeInstanceOf(WrongExpectedRevision);
    expect(await a.readStream('s-4')).toHaveLength(2);
    expect((await bucket('stale')).n).toBe(2);
    // Another process emptied the bucket: the remembered row is gone, and the next append starts it again.
    await b.append('s-5', [newEvent('Emptied', { bucket: 'stale' })], 'no_stream');
    await a.append('s-4', [newEvent('Added', { bucket: 'stale' })], 1);
    expect(await bucket('stale')).toEqual({ n: 1, last_revision: '2' });
  });

  it('a retried append whose first attempt went in (same event ids, its answer lost) writes its rows once', async () => {
    await a.append('s-7', [newEvent('Added', { bucket: 'retry' })], 'no_stream');
    const event = newEvent('Added', { bucket: 'retry' });
    await a.append('s-7', [event], 0);
    const again = await a.append('s-7', [event], 0);
    expect(again.nextExpectedRevision).toBe(1);
    expect(await a.readStream('s-7')).toHaveLength(2);
    expect(await bucket('retry')).toEqual({ n: 2, last_revision: '1' });
  });

  it('does not take a row remembered absent for absent when another process created it meanwhile', async () => {
    await a.append('s-8', [newEvent('Added', { bucket: 'back' })], 'no_stream');
    await a.append('s-8', [newEvent('Emptied', { bucket: 'back' })], 0);
    await b.append('s-9', [newEvent('Added', { bucket: 'back' })], 'no_stream');
    // `a` remembers no row; emptying it again must delete the one `b` made.
    await a.append('s-8', [newEvent('Emptied', { bucket: 'back' })], 1);
    expect(await bucket('back')).toBeUndefined();
  });

  it('deletes a remembered row in one round trip, and creates it again from nothing', async () => {
    await a.append('s-6', [newEvent('Added', { bucket: 'gone' })], 'no_stream');
    queries = [];
    await a.append('s-6', [newEvent('Emptied', { bucket: 'gone' })], 0);
    expect(roundTrips()).toBe(1);
    expect(await bucket('gone')).toBeUndefined();
    queries = [];
    await a.append('s-6', [newEvent('Added', { bucket: 'gone' })], 1);
    expect(roundTrips()).toBe(1);
    expect(await bucket('gone')).toEqual({ n: 1, last_revision: '2' });
  });
});
