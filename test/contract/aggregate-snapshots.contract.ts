import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Pool } from 'pg';
import { PostgresSnapshotStore } from '../../libs/application/aggregate-snapshots';
import { loadAggregate, refreshSnapshotIfDue } from '../../libs/application/snapshot-loader';
import { fold } from '../../libs/domain/decider';
import { EventStore } from '../../libs/event-store/event-store.port';
import { newEvent } from './event-store.contract';

const EPOCH = new Date(0).toISOString();
/** Longer than a load reads from a stream's end (64 events), so that the load turns to the snapshot. */
const longHistory = (): TallyEvent[] => Array.from({ length: 80 }, (_, n) => ({ type: 'Added', data: { n: n % 7 } }));

/** A fold whose result depends on every event and on their order, with plain-JSON state. */
type TallyEvent = { type: 'Added'; data: { n: number } } | { type: 'Renamed'; data: { name: string } } | { type: 'Reset'; data: Record<string, never> };
interface Tally {
  total: number;
  name: string;
  trail: number[];
}
const tally = {
  initialState: { total: 0, name: '', trail: [] } as Tally,
  evolve(state: Tally, event: TallyEvent): Tally {
    switch (event.type) {
      case 'Added':
        return { ...state, total: state.total * 3 + event.data.n, trail: [...state.trail, event.data.n].slice(-5) };
      case 'Renamed':
        return { ...state, name: event.data.name };
      case 'Reset':
        return { ...state, total: 0 };
    }
  },
  snapshot: { name: 'tally', version: 1 },
};

const eventArbitrary: fc.Arbitrary<TallyEvent> = fc.oneof(
  fc.integer({ min: -9, max: 9 }).map((n): TallyEvent => ({ type: 'Added', data: { n } })),
  fc.string({ maxLength: 6 }).map((name): TallyEvent => ({ type: 'Renamed', data: { name } })),
  fc.constant<TallyEvent>({ type: 'Reset', data: {} }),
);
/** A history appended in batches; after each batch the aggregate is loaded and its snapshot maybe refreshed. */
const historyArbitrary = fc.array(fc.array(eventArbitrary, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 8 });

export interface SnapshotTarget {
  store: EventStore;
  /** PostgreSQL, where the snapshots live whichever store holds the log. */
  pool: Pool;
  teardown(): Promise<void>;
}

export function aggregateSnapshotContract(name: string, makeTarget: () => Promise<SnapshotTarget>): void {
  describe(`aggregate snapshots: ${name}`, () => {
    let target: SnapshotTarget;
    let snapshots: PostgresSnapshotStore;
    const failures: unknown[] = [];

    beforeAll(async () => {
      target = await makeTarget();
      snapshots = new PostgresSnapshotStore(target.pool);
    });
    afterAll(async () => {
      await target?.teardown();
    });

    async function appendAll(stream: string, events: readonly TallyEvent[], expected: number): Promise<number> {
      const result = await target.store.append(stream, events.map((e) => newEvent(e.type, e.data)), expected === -1 ? 'no_stream' : expected);
      return result.nextExpectedRevision;
    }

    async function settle(): Promise<void> {
      // The refresh is not awaited by design; let its write land before the next load reads.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    it('never changes a fold: snapshot + tail equals the fold from the start, for random histories', async () => {
      await fc.assert(
        fc.asyncProperty(historyArbitrary, fc.integer({ min: 1, max: 10 }), async (batches, every) => {
          const stream = `tally-${randomUUID()}`;
          const history: TallyEvent[] = [];
          let revision = -1;
          for (const batch of batches) {
            revision = await appendAll(stream, batch, revision);
            history.push(...batch);
            const loaded = await loadAggregate(target.store, snapshots, tally, stream);
            expect(loaded.state).toEqual(fold(tally, history));
            expect(loaded.revision).toBe(history.length - 1);
            refreshSnapshotIfDue(snapshots, tally.snapshot, stream, loaded, (e) => failures.push(e), every, 0);
            await settle();
          }
          const stored = await snapshots.read(stream, tally.snapshot);
          // Proves the property was exercised with a snapshot in play, not only by full folds.
          if (history.length >= every) expect(stored).toBeDefined();
        }),
        { numRuns: 12 },
      );
      expect(failures).toEqual([]);
    });

    it('ignores a snapshot whose event at its revision is not the stream event it was folded up to', async () => {
      const stream = `tally-${randomUUID()}`;
      const history = longHistory();
      await appendAll(stream, history, -1);
      await snapshots.write(stream, tally.snapshot, { revision: history.length - 2, eventId: randomUUID(), state: { total: 999, name: 'forged', trail: [] }, occurredUntil: EPOCH });

      const loaded = await loadAggregate(target.store, snapshots, tally, stream);

      expect(loaded.state).toEqual(fold(tally, history));
      expect(loaded.snapshotRevision).toBe(-1);
    });

    it('ignores a snapshot written under another version of the fold', async () => {
      const stream = `tally-${randomUUID()}`;
      const history = longHistory();
      await appendAll(stream, history, -1);
      const recorded = await target.store.readStream(stream);
      await snapshots.write(stream, { name: 'tally', version: 0 }, { revision: history.length - 2, eventId: recorded[history.length - 2].id, state: { total: 999, name: 'old evolve', trail: [] }, occurredUntil: EPOCH });

      const loaded = await loadAggregate(target.store, snapshots, tally, stream);

      expect(loaded.state).toEqual(fold(tally, history));
      expect(loaded.snapshotRevision).toBe(-1);
    });

    it('starts from a valid snapshot and folds only the events after it', async () => {
      const stream = `tally-${randomUUID()}`;
      const history = longHistory();
      await appendAll(stream, history, -1);
      const recorded = await target.store.readStream(stream);
      const last = history.length - 1;
      await snapshots.write(stream, tally.snapshot, { revision: last - 1, eventId: recorded[last - 1].id, state: fold(tally, history.slice(0, last)), occurredUntil: EPOCH });

      const loaded = await loadAggregate(target.store, snapshots, tally, stream);

      expect(loaded).toMatchObject({ state: fold(tally, history), revision: last, lastEventId: recorded[last].id, position: recorded[last].position, snapshotRevision: last - 1 });
      expect(loaded.tail.map((e) => e.id)).toEqual([recorded[last].id]);
    });
  });
}
