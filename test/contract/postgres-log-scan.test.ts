import { isDeepStrictEqual } from 'node:util';
import { Pool, QueryConfig } from 'pg';
import pino from 'pino';
import { CheckpointStore } from '../../libs/event-store/consumers/checkpoint-store';
import { ConsumerRunner } from '../../libs/event-store/consumers/consumer-runner';
import { isCaughtUp } from '../../libs/event-store/consumers/caught-up';
import { ProjectionConsumer } from '../../libs/projection-engine/projection-consumer';
import { apiKeysProjection } from '../../projections/api-keys.projection';
import { Position, comparePositions } from '../../libs/event-store/position';
import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { RecordedEvent } from '../../libs/event-store/event-store.port';
import { createPool } from '../../libs/database/database';
import { TestDatabase, createTestDatabase } from '../support/test-database';
import { newEvent } from './event-store.contract';

/**
 * A subscriber that follows a few event types reads each part of the log once: its reads move past
 * the events it does not take, instead of starting again from its last own event on every wake-up
 * (a cost that grew with every event appended since).
 */
describe('PostgreSQL log scan', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;

  beforeAll(async () => {
    db = await createTestDatabase('scan');
    store = new PostgresEventStore(db.pool, { idlePollMs: 200 });
  });

  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  async function appendOne(stream: string, type: string): Promise<Position> {
    await store.append(stream, [newEvent(type)], 'any');
    const [event] = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
    return event.position;
  }

  it('returns the events the filter takes, whole, and the position of the last event read', async () => {
    const start = await store.headPosition();
    const kept = await appendOne('scan-a', 'Kept');
    let last = kept;
    for (let i = 0; i < 5; i++) last = await appendOne(`scan-b${i}`, 'Other');

    // Reads stop below the server's oldest open transaction, in any database (the snapshot xmin is
    // cluster-wide): while other suites write, the last events may take a moment to become readable.
    let all = await store.scanAll({ fromPosition: start, filter: { eventTypes: ['Kept'] } });
    for (const until = Date.now() + 20_000; !isDeepStrictEqual(all.scannedTo, last) && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 20));
      all = await store.scanAll({ fromPosition: start, filter: { eventTypes: ['Kept'] } });
    }
    expect(all.events.map((e) => [e.type, e.streamName, e.data])).toEqual([['Kept', 'scan-a', {}]]);
    expect(all.events[0].position).toEqual(kept);
    expect(all.scannedTo).toEqual(last);
    expect(all.full).toBe(false);

    // The limit bounds the events read, taken or not.
    const three = await store.scanAll({ fromPosition: start, limit: 3, filter: { eventTypes: ['Other'] } });
    expect(three.events).toHaveLength(2);
    expect(three.scannedTo).toEqual(three.events[1].position);
    expect(three.full).toBe(true);

    const none = await store.scanAll({ fromPosition: last, filter: { eventTypes: ['Kept'] } });
    expect(none).toEqual({ events: [], scannedTo: undefined, full: false });
  });

  it("a filtered subscription's next read starts after the events it did not take", async () => {
    // The subscription reads on a pool of its own, so its reads can be watched.
    const readPool = createPool(db.url, 2, 'scan-watch');
    const scansFrom: Array<string | undefined> = [];
    const query = readPool.query.bind(readPool);
    readPool.query = ((config: QueryConfig) => {
      if (typeof config === 'object' && config.text.includes('AS last_read')) scansFrom.push(config.values?.[1] === undefined ? undefined : String(config.values[1]));
      return query(config);
    }) as Pool['query'];
    const watched = new PostgresEventStore(db.pool, { idlePollMs: 200, subscriptionPool: readPool });
    const from = await store.headPosition();
    const seen: RecordedEvent[] = [];
    const subscription = watched.subscribeToAll({ fromPosition: from, filter: { eventTypes: ['Wanted'] } }, async (events) => {
      seen.push(...events);
    });
    try {
      let lastOther: Position | undefined;
      for (let i = 0; i < 4; i++) lastOther = await appendOne(`scan-c${i}`, 'Other');
      const wanted = await appendOne('scan-d', 'Wanted');
      await waitFor(() => seen.length === 1);
      for (let i = 0; i < 3; i++) lastOther = await appendOne(`scan-e${i}`, 'Other');
      await watched.append('scan-f', [newEvent('Other')], 'any'); // wakes the subscription
      // The reads come to start at or past the last event not taken (once the server's oldest open
      // transaction, in any database, lets them see it); before, they kept starting at `wanted`.
      const passed = () => scansFrom.some((from) => from !== undefined && BigInt(from) >= (lastOther as Position).prepare);
      await waitFor(passed, 20_000);

      expect(seen.map((e) => e.type)).toEqual(['Wanted']);
      expect(comparePositions(lastOther as Position, wanted)).toBeGreaterThan(0);
      expect(passed()).toBe(true);
    } finally {
      await subscription.stop();
      await watched.close();
      await readPool.end();
    }
  });

  it("a read model of rare events keeps its checkpoint near the head, so asking whether it has caught up reads little", async () => {
    const checkpoints = new CheckpointStore(db.pool);
    const consumer = new ProjectionConsumer(db.pool, apiKeysProjection, checkpoints, { passOverEveryMs: 0 });
    const runner = new ConsumerRunner(db.pool, store, consumer, pino({ level: 'silent' }), { lockRetryMs: 50 });
    runner.start();
    try {
      let last: Position | undefined;
      for (let i = 0; i < 20; i++) last = await appendOne(`scan-g${i}`, 'Other');
      const head = last as Position;
      const until = Date.now() + 20_000;
      let saved = await checkpoints.load(apiKeysProjection.name);
      while ((!saved || comparePositions(saved, head) < 0) && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
        saved = await checkpoints.load(apiKeysProjection.name);
      }
      // None of the twenty events is an API key's, yet the checkpoint stands at the last of them.
      expect(saved).toEqual(head);
      expect(await isCaughtUp(store, saved, head, apiKeysProjection.eventTypes)).toBe(true);
    } finally {
      await runner.stop();
    }
  });

  it('a paced subscription reads the commits of its interval together', async () => {
    const from = await store.headPosition();
    const batches: number[] = [];
    const subscription = store.subscribeToAll({ fromPosition: from, filter: { eventTypes: ['Paced'] }, pace: { readEveryMs: 400 } }, async (events) => {
      if (events.length > 0) batches.push(events.length);
    });
    try {
      await new Promise((r) => setTimeout(r, 300)); // drained, waiting for a commit
      for (let i = 0; i < 10; i++) {
        await store.append(`scan-h${i}`, [newEvent('Paced')], 'any');
        await new Promise((r) => setTimeout(r, 10));
      }
      await waitFor(() => batches.reduce((a, b) => a + b, 0) === 10, 20_000);
      // Ten commits ~15 ms apart: woken by the first, the subscription reads once the interval is
      // over (unpaced it reads about ten times). Other suites' open transactions may hold some of
      // the events back for a read or two, hence not exactly one.
      expect(batches.length).toBeLessThanOrEqual(4);
    } finally {
      await subscription.stop();
    }
  });
  it('a paced subscription under a steady stream of commits reads once per interval, not once per commit', async () => {
    const from = await store.headPosition();
    let reads = 0;
    const subscription = store.subscribeToAll({ fromPosition: from, filter: { eventTypes: ['Rare'] }, pace: { readEveryMs: 400 } }, async () => {
      reads++;
    });
    try {
      await new Promise((r) => setTimeout(r, 300)); // drained, waiting for a commit
      const until = Date.now() + 1_600;
      let commits = 0;
      for (; Date.now() < until; commits++) await store.append(`scan-s${commits}`, [newEvent('Other')], 'any');
      // Each read found new commits: unpaced, it would read again at once, about once per commit.
      expect(commits).toBeGreaterThan(40);
      expect(reads).toBeGreaterThan(0);
      expect(reads).toBeLessThanOrEqual(8);
    } finally {
      await subscription.stop();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
