import { randomUUID } from 'node:crypto';
import {
  EventStore,
  NewEvent,
  RecordedEvent,
  WrongExpectedRevision,
} from '../../libs/event-store/event-store.port';
import { comparePositions, Position } from '../../libs/event-store/position';

export interface ContractTarget {
  store: EventStore;
  /**
   * Opens a write that takes its place in the log now but commits only when `commit()` is called,
   * for stores with interleaving transactions (PostgreSQL). Absent where appends are atomic.
   */
  beginSlowAppend?(streamName: string, event: NewEvent): Promise<{ commit(): Promise<void> }>;
  teardown(): Promise<void>;
}

export function newEvent(type = 'ThingHappened', data: Record<string, unknown> = {}): NewEvent {
  return {
    id: randomUUID(),
    type,
    data,
    metadata: {
      schema_version: 1,
      correlation_id: randomUUID(),
      causation_id: null,
      actor: 'contract-test',
      occurred_at: new Date().toISOString(),
    },
  };
}

/** Collects what a subscription delivers until `until` holds or the timeout passes. */
async function collect(
  store: EventStore,
  options: Parameters<EventStore['subscribeToAll']>[0],
  until: (events: RecordedEvent[]) => boolean,
  timeoutMs = 15_000,
): Promise<RecordedEvent[]> {
  const seen: RecordedEvent[] = [];
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const sub = store.subscribeToAll(options, async (events) => {
    seen.push(...events);
    if (until(seen)) resolveDone();
  });
  const timer = setTimeout(resolveDone, timeoutMs);
  await done;
  clearTimeout(timer);
  await sub.stop();
  return seen;
}

function expectStrictlyIncreasing(events: RecordedEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    expect(comparePositions(events[i - 1].position, events[i].position)).toBeLessThan(0);
  }
}

export function eventStoreContract(name: string, makeTarget: () => Promise<ContractTarget>): void {
  describe(`event store contract: ${name}`, () => {
    let target: ContractTarget;
    let store: EventStore;
    let run: string;
    const stream = (label: string) => `contract${run}-${label}`;

    beforeAll(async () => {
      target = await makeTarget();
      store = target.store;
    });
    afterAll(async () => {
      await target?.teardown();
    });
    beforeEach(() => {
      run = randomUUID().slice(0, 8);
    });

    describe('append and readStream', () => {
      it('stores events with revisions from 0, ids, types, data and metadata', async () => {
        const events = [newEvent('A', { n: 1 }), newEvent('B', { n: 2, nested: { ok: true } })];
        const result = await store.append(stream('s'), events, 'no_stream');
        expect(result.nextExpectedRevision).toBe(1);
        const read = await store.readStream(stream('s'));
        expect(read.map((e) => [e.id, e.type, e.revision, e.streamName])).toEqual([
          [events[0].id, 'A', 0, stream('s')],
          [events[1].id, 'B', 1, stream('s')],
        ]);
        expect(read[1].data).toEqual({ n: 2, nested: { ok: true } });
        expect(read[0].metadata).toEqual(events[0].metadata);
        expect(comparePositions(read[1].position, result.position)).toBe(0);
      });

      it('reads an unknown stream as empty', async () => {
        expect(await store.readStream(stream('nothing'))).toEqual([]);
      });

      it('reads several streams at once, each whole and in order, in the order asked, unknown ones empty', async () => {
        await store.append(stream('m1'), [newEvent('A', { n: 1 }), newEvent('A', { n: 2 })], 'no_stream');
        await store.append(stream('m2'), [newEvent('B', { n: 3 })], 'no_stream');
        await store.append(stream('m1'), [newEvent('A', { n: 4 })], 1);
        const [second, none, first] = await store.readStreams([stream('m2'), stream('m-none'), stream('m1')]);
        expect(second.map((e) => [e.streamName, e.revision, e.data])).toEqual([[stream('m2'), 0, { n: 3 }]]);
        expect(none).toEqual([]);
        expect(first.map((e) => [e.revision, e.data])).toEqual([
          [0, { n: 1 }],
          [1, { n: 2 }],
          [2, { n: 4 }],
        ]);
        expect(first).toEqual(await store.readStream(stream('m1')));
      });

      it('reads backwards, from a revision, and at most maxCount', async () => {
        await store.append(stream('r'), [0, 1, 2, 3, 4].map((n) => newEvent('N', { n })), 'no_stream');
        const back = await store.readStream(stream('r'), { direction: 'backwards' });
        expect(back.map((e) => e.revision)).toEqual([4, 3, 2, 1, 0]);
        const from = await store.readStream(stream('r'), { fromRevision: 2, maxCount: 2 });
        expect(from.map((e) => e.revision)).toEqual([2, 3]);
        const backFrom = await store.readStream(stream('r'), { direction: 'backwards', fromRevision: 1 });
        expect(backFrom.map((e) => e.revision)).toEqual([1, 0]);
      });
    });

    describe('expected revision', () => {
      it('no_stream fails once the stream exists', async () => {
        await store.append(stream('e'), [newEvent()], 'no_stream');
        await expect(store.append(stream('e'), [newEvent()], 'no_stream')).rejects.toBeInstanceOf(WrongExpectedRevision);
      });

      it('stream_exists fails on a missing stream and passes on an existing one', async () => {
        await expect(store.append(stream('x'), [newEvent()], 'stream_exists')).rejects.toBeInstanceOf(WrongExpectedRevision);
        await store.append(stream('x'), [newEvent()], 'any');
        await expect(store.append(stream('x'), [newEvent()], 'stream_exists')).resolves.toMatchObject({ nextExpectedRevision: 1 });
      });

      it('an exact revision must match the last one', async () => {
        await store.append(stream('n'), [newEvent(), newEvent()], 'no_stream');
        const error = await store.append(stream('n'), [newEvent()], 0).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(WrongExpectedRevision);
        expect((error as WrongExpectedRevision).actual).toBe(1);
        await expect(store.append(stream('n'), [newEvent()], 1)).resolves.toMatchObject({ nextExpectedRevision: 2 });
      });

      it('any appends whatever the stream holds', async () => {
        await store.append(stream('any'), [newEvent()], 'any');
        await expect(store.append(stream('any'), [newEvent()], 'any')).resolves.toMatchObject({ nextExpectedRevision: 1 });
      });

      it('of concurrent appends at one revision exactly one wins, the rest get WrongExpectedRevision', async () => {
        await store.append(stream('race'), [newEvent()], 'no_stream');
        const results = await Promise.allSettled(
          Array.from({ length: 12 }, () => store.append(stream('race'), [newEvent('Raced')], 0)),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(11);
        for (const l of lost) expect(l.reason).toBeInstanceOf(WrongExpectedRevision);
        expect(await store.readStream(stream('race'))).toHaveLength(2);
      });
    });

    describe('idempotent retries', () => {
      it('a retried append with the same event ids returns the first result and writes nothing', async () => {
        const events = [newEvent('I'), newEvent('J')];
        const first = await store.append(stream('idem'), events, 'no_stream');
        const retry = await store.append(stream('idem'), events, 'no_stream');
        expect(retry.nextExpectedRevision).toBe(first.nextExpectedRevision);
        expect(comparePositions(retry.position, first.position)).toBe(0);
        expect(await store.readStream(stream('idem'))).toHaveLength(2);
      });

      it('a retry with an exact revision after later appends still writes nothing', async () => {
        await store.append(stream('idem2'), [newEvent()], 'no_stream');
        const events = [newEvent('K')];
        await store.append(stream('idem2'), events, 0);
        await store.append(stream('idem2'), [newEvent()], 1);
        await expect(store.append(stream('idem2'), events, 0)).resolves.toMatchObject({ nextExpectedRevision: 1 });
        expect(await store.readStream(stream('idem2'))).toHaveLength(3);
      });
    });

    describe('readAll', () => {
      it('reads after a position, in order, with a limit and filters', async () => {
        const head = await store.headPosition();
        await store.append(stream('ra-1'), [newEvent(`T${run}`), newEvent(`U${run}`)], 'no_stream');
        await store.append(stream('ra-2'), [newEvent(`T${run}`)], 'no_stream');
        // A transaction still open elsewhere on the server may keep just-committed events out of
        // the log for a moment (that is what makes reading it safe), so the first read is polled.
        let all = await store.readAll({ fromPosition: head, limit: 10_000 });
        const ours = (events: RecordedEvent[]) => events.filter((e) => e.streamName.startsWith(`contract${run}`));
        for (let i = 0; i < 200 && ours(all).length < 3; i++) {
          await new Promise((r) => setTimeout(r, 25));
          all = await store.readAll({ fromPosition: head, limit: 10_000 });
        }
        const mine = ours(all);
        expect(mine.map((e) => e.streamName)).toEqual([stream('ra-1'), stream('ra-1'), stream('ra-2')]);
        expectStrictlyIncreasing(all);

        const byType = await store.readAll({ fromPosition: head, filter: { eventTypes: [`T${run}`] } });
        expect(byType.map((e) => e.streamName)).toEqual([stream('ra-1'), stream('ra-2')]);
        const byPrefix = await store.readAll({ fromPosition: head, filter: { streamPrefixes: [stream('ra-2')] } });
        expect(byPrefix.map((e) => e.type)).toEqual([`T${run}`]);
        const limited = await store.readAll({ fromPosition: head, limit: 1, filter: { streamPrefixes: [`contract${run}`] } });
        expect(limited).toHaveLength(1);
        const after = await store.readAll({ fromPosition: limited[0].position, filter: { streamPrefixes: [`contract${run}`] } });
        expect(after).toHaveLength(2);
      });

      it('headPosition reaches the newest event once no older transaction holds it back', async () => {
        const result = await store.append(stream('head'), [newEvent()], 'no_stream');
        // Another database's transaction in flight on the same server may hide it for a moment:
        // the head is what a subscriber can safely read, so it is polled, bounded.
        let head: Position | undefined;
        for (let i = 0; i < 200; i++) {
          head = await store.headPosition();
          if (head && comparePositions(head, result.position) >= 0) break;
          await new Promise((r) => setTimeout(r, 25));
        }
        expect(head).toBeDefined();
        expect(comparePositions(head as Position, result.position)).toBeGreaterThanOrEqual(0);
      });
    });

    describe('subscriptions', () => {
      it('20 concurrent writers: the subscriber sees every event exactly once, in position order', async () => {
        const from = await store.headPosition();
        const prefix = `contract${run}-w`;
        const writers = 20;
        const perWriter = 10;
        const writing = Promise.all(
          Array.from({ length: writers }, async (_, w) => {
            for (let i = 0; i < perWriter; i++) {
              await store.append(`${prefix}${w}`, [newEvent('Written', { w, i })], i === 0 ? 'no_stream' : i - 1);
            }
          }),
        );
        const seenPromise = collect(store, { fromPosition: from, filter: { streamPrefixes: [prefix] } }, (s) => s.length >= writers * perWriter);
        await writing;
        const seen = await seenPromise;
        expect(seen).toHaveLength(writers * perWriter);
        expect(new Set(seen.map((e) => e.id)).size).toBe(writers * perWriter);
        expectStrictlyIncreasing(seen);
        for (let w = 0; w < writers; w++) {
          const ofWriter = seen.filter((e) => e.streamName === `${prefix}${w}`).map((e) => (e.data as { i: number }).i);
          expect(ofWriter).toEqual(Array.from({ length: perWriter }, (_, i) => i));
        }
      });

      it('catches up on history, then delivers live events', async () => {
        const from = await store.headPosition();
        const prefix = `contract${run}-live`;
        await store.append(`${prefix}-a`, [newEvent('Old')], 'no_stream');
        const seenPromise = collect(store, { fromPosition: from, filter: { streamPrefixes: [prefix] } }, (s) => s.length >= 2);
        await new Promise((r) => setTimeout(r, 200));
        await store.append(`${prefix}-b`, [newEvent('New')], 'no_stream');
        const seen = await seenPromise;
        expect(seen.map((e) => e.type)).toEqual(['Old', 'New']);
      });

      it('a write that took its place first but commits last is delivered, in order, exactly once', async () => {
        const from = await store.headPosition();
        const prefix = `contract${run}-late`;
        const slowEvent = newEvent('Slow');
        const slow = target.beginSlowAppend ? await target.beginSlowAppend(`${prefix}-slow`, slowEvent) : undefined;
        await store.append(`${prefix}-fast`, [newEvent('Fast')], 'no_stream');
        const seenPromise = collect(store, { fromPosition: from, filter: { streamPrefixes: [prefix] } }, (s) => s.length >= 2);
        await new Promise((r) => setTimeout(r, 300));
        if (slow) await slow.commit();
        else await store.append(`${prefix}-slow`, [slowEvent], 'no_stream');
        const seen = await seenPromise;
        expect(seen.map((e) => e.type).sort()).toEqual(['Fast', 'Slow']);
        expectStrictlyIncreasing(seen);
        const all = await store.readAll({ fromPosition: from, filter: { streamPrefixes: [prefix] } });
        expect(all.map((e) => e.id)).toEqual(seen.map((e) => e.id));
      });

      it('resubscribing from a checkpoint delivers nothing twice', async () => {
        const from = await store.headPosition();
        const prefix = `contract${run}-ck`;
        for (let i = 0; i < 6; i++) await store.append(`${prefix}-${i}`, [newEvent('C', { i })], 'no_stream');
        const first = await collect(store, { fromPosition: from, filter: { streamPrefixes: [prefix] }, batchSize: 2 }, (s) => s.length >= 3);
        const checkpoint = first[2].position;
        await store.append(`${prefix}-6`, [newEvent('C', { i: 6 })], 'no_stream');
        const second = await collect(store, { fromPosition: checkpoint, filter: { streamPrefixes: [prefix] } }, (s) => s.length >= 4);
        const firstThree = first.slice(0, 3).map((e) => (e.data as { i: number }).i);
        expect(firstThree).toEqual([0, 1, 2]);
        expect(second.map((e) => (e.data as { i: number }).i)).toEqual([3, 4, 5, 6]);
      });

      it('an event-type filter delivers only those types', async () => {
        const from = await store.headPosition();
        const prefix = `contract${run}-ft`;
        await store.append(`${prefix}-1`, [newEvent(`Keep${run}`), newEvent(`Drop${run}`), newEvent(`Keep${run}`)], 'no_stream');
        const seen = await collect(store, { fromPosition: from, filter: { eventTypes: [`Keep${run}`] } }, (s) => s.length >= 2);
        expect(seen.map((e) => e.type)).toEqual([`Keep${run}`, `Keep${run}`]);
      });
    });
  });
}
