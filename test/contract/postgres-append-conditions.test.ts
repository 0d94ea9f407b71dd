import { createTableStatements } from '../../libs/database/table-ddl';
import { WrongExpectedRevision } from '../../libs/event-store/event-store.port';
import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { InlineProjections } from '../../libs/projection-engine/inline-projections';
import { RowProjection } from '../../libs/projection-engine/row-projection';
import { TestDatabase, createTestDatabase } from '../support/test-database';
import { newEvent } from './event-store.contract';

/**
 * `AppendOptions.unchanged` on PostgreSQL: an append whose decision read other streams commits only
 * while they are still where it read them, with or without read models written in its transaction.
 */
const tally: RowProjection = {
  name: 'test-tally',
  eventTypes: ['Tallied'],
  table: { name: 'test_tally', key: ['stream'], columns: { stream: 'text', n: 'integer' } },
  keyOf: (event) => ({ stream: event.streamName }),
  evolve: (row, event) => ({ stream: event.streamName, n: Number(row?.n ?? 0) + 1 }),
};

describe('PostgreSQL appends that require other streams unchanged', () => {
  let db: TestDatabase;
  let plain: PostgresEventStore;
  let inline: PostgresEventStore;

  beforeAll(async () => {
    db = await createTestDatabase('contract');
    for (const statement of createTableStatements(tally.table)) await db.pool.query(statement);
    plain = new PostgresEventStore(db.pool);
    inline = new PostgresEventStore(db.pool, { inline: new InlineProjections([tally]) });
  });
  afterAll(async () => {
    await plain?.close();
    await inline?.close();
    await db?.drop();
  });

  const tallied = async (stream: string) => (await db.pool.query<{ n: number }>('SELECT n FROM test_tally WHERE stream = $1', [stream])).rows[0]?.n;

  for (const [label, store] of [
    ['without inline read models', () => plain],
    ['with a read model written inline', () => inline],
  ] as const) {
    describe(label, () => {
      it('appends while the other streams are where the decision read them (-1: no stream)', async () => {
        const [other, own] = [`other-ok-${label.length}`, `own-ok-${label.length}`];
        await store().append(other, [newEvent('Noted')], 'no_stream');
        const done = await store().append(own, [newEvent('Tallied')], 'no_stream', {
          unchanged: [
            { streamName: other, revision: 0 },
            { streamName: `never-${label.length}`, revision: -1 },
          ],
        });
        expect(done.nextExpectedRevision).toBe(0);
        expect(await store().readStream(own)).toHaveLength(1);
      });

      it('refuses with WrongExpectedRevision naming the stream that moved on, and writes nothing', async () => {
        const [other, own] = [`other-moved-${label.length}`, `own-moved-${label.length}`];
        await store().append(other, [newEvent('Noted'), newEvent('Noted')], 'no_stream');
        const refused = store().append(own, [newEvent('Tallied')], 'no_stream', { unchanged: [{ streamName: other, revision: 0 }] });
        await expect(refused).rejects.toBeInstanceOf(WrongExpectedRevision);
        await expect(refused).rejects.toMatchObject({ streamName: other, expected: 0, actual: 1 });
        expect(await store().readStream(own)).toEqual([]);
        expect(await tallied(own)).toBeUndefined();
        // The same append, at the revision the stream is at now, goes through.
        await store().append(own, [newEvent('Tallied')], 'no_stream', { unchanged: [{ streamName: other, revision: 1 }] });
        expect(await store().readStream(own)).toHaveLength(1);
      });
    });
  }

  it('the inline append writes its read model only when the condition holds', async () => {
    await inline.append('tally-a', [newEvent('Tallied')], 'no_stream', { unchanged: [{ streamName: 'tally-b', revision: -1 }] });
    expect(await tallied('tally-a')).toBe(1);
    await inline.append('tally-b', [newEvent('Noted')], 'no_stream');
    await expect(inline.append('tally-a', [newEvent('Tallied')], 0, { unchanged: [{ streamName: 'tally-b', revision: -1 }] })).rejects.toBeInstanceOf(WrongExpectedRevision);
    expect(await tallied('tally-a')).toBe(1);
  });

  it('an append of several events from remembered rows (one round trip) checks the other streams too', async () => {
    await inline.append('tally-m', [newEvent('Tallied')], 'no_stream');
    // The row is remembered now: these go in one round trip, their condition checked by the append.
    await inline.append('tally-m', [newEvent('Tallied'), newEvent('Tallied')], 0, { unchanged: [{ streamName: 'tally-n', revision: -1 }] });
    expect(await tallied('tally-m')).toBe(3);
    await inline.append('tally-n', [newEvent('Noted')], 'no_stream');
    const refused = inline.append('tally-m', [newEvent('Tallied'), newEvent('Tallied')], 2, { unchanged: [{ streamName: 'tally-n', revision: -1 }] });
    await expect(refused).rejects.toMatchObject({ streamName: 'tally-n', expected: 'no_stream', actual: 0 });
    expect(await tallied('tally-m')).toBe(3);
    expect(await inline.readStream('tally-m')).toHaveLength(3);
    await inline.append('tally-m', [newEvent('Tallied'), newEvent('Tallied')], 2, { unchanged: [{ streamName: 'tally-n', revision: 0 }] });
    expect(await tallied('tally-m')).toBe(5);
  });
});
