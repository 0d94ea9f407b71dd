import { createTableStatements } from '../../libs/database/table-ddl';
import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { InlineProjections } from '../../libs/projection-engine/inline-projections';
import { RowProjection } from '../../libs/projection-engine/row-projection';
import { TestDatabase, createTestDatabase } from '../support/test-database';
import { newEvent } from './event-store.contract';

/**
 * The PostgreSQL store writing read models in the append's transaction: the row and the event commit
 * together or not at all, with the positions the log gives them, and concurrent appends feeding one
 * row (created or updated) add up exactly.
 */
const counter: RowProjection = {
  name: 'test-counter',
  eventTypes: ['Counted', 'Broken'],
  table: { name: 'test_counter', key: ['bucket'], columns: { bucket: 'text', n: 'integer', last_position: 'text' } },
  keyOf: (event) => ({ bucket: String((event.data as { bucket: string }).bucket) }),
  evolve: (row, event) => {
    if (event.type === 'Broken') throw new Error('projection failed');
    return { bucket: (event.data as { bucket: string }).bucket, n: Number(row?.n ?? 0) + 1, last_position: `${event.position.commit}:${event.position.prepare}` };
  },
};

describe('PostgreSQL inline projections', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;

  beforeAll(async () => {
    db = await createTestDatabase('contract');
    for (const statement of createTableStatements(counter.table)) await db.pool.query(statement);
    store = new PostgresEventStore(db.pool, { inline: new InlineProjections([counter]) });
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  const count = async (bucket: string) =>
    (await db.pool.query<{ n: number; last_position: string }>('SELECT n, last_position FROM test_counter WHERE bucket = $1', [bucket])).rows[0];

  it('names the read models it writes inline', () => {
    expect(store.inlineProjections).toEqual(['test-counter']);
  });

  it('writes the row in the append transaction, with the position the log gave the event', async () => {
    const result = await store.append('s-1', [newEvent('Counted', { bucket: 'one' }), newEvent('Counted', { bucket: 'one' })], 'no_stream');
    expect(await count('one')).toEqual({ n: 2, last_position: `${result.position.commit}:${result.position.prepare}` });
  });

  it('many concurrent appends creating and updating one row count exactly (no lost update, no deadlock)', async () => {
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.append(`c-${i}`, [newEvent('Counted', { bucket: 'many' })], 'no_stream')));
    expect((await count('many')).n).toBe(40);
  });

  it('a failing projection rolls the append back: no event without its row', async () => {
    await expect(store.append('b-1', [newEvent('Broken', { bucket: 'broken' })], 'no_stream')).rejects.toThrow('projection failed');
    expect(await store.readStream('b-1')).toEqual([]);
    expect(await count('broken')).toBeUndefined();
  });

  it('events no inline read model follows take the one-statement path', async () => {
    await store.append('o-1', [newEvent('Other', { bucket: 'other' })], 'no_stream');
    expect(await store.readStream('o-1')).toHaveLength(1);
    expect(await count('other')).toBeUndefined();
  });

  it('a concurrent writer at the same revision still gets WrongExpectedRevision, and its row is not written', async () => {
    await store.append('w-1', [newEvent('Counted', { bucket: 'race' })], 'no_stream');
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => store.append('w-1', [newEvent('Counted', { bucket: 'race' })], 0)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await count('race')).n).toBe(2);
  });
});
