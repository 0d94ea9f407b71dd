import { randomUUID } from 'node:crypto';
import {
  DuplicateEventIds,
  EventStoreUnavailable,
  RecordedEvent,
  Subscription,
} from '../../libs/event-store/event-store.port';
import { EventStoreDbEventStore } from '../../libs/event-store/eventstoredb/eventstoredb-event-store';
import { EventStoreDbTestDouble } from '../support/eventstoredb-test-double/eventstoredb-test-double';
import { newEvent } from './event-store.contract';

/** What the EventStoreDB adapter does beyond the shared contract: the server's own events, flow, failures. */
describe('EventStoreDB adapter (on the gRPC test double)', () => {
  let server: EventStoreDbTestDouble;
  let store: EventStoreDbEventStore;
  let stream: string;

  beforeEach(async () => {
    server = new EventStoreDbTestDouble();
    const { connectionString } = await server.start();
    store = new EventStoreDbEventStore(connectionString);
    stream = `adapter-${randomUUID().slice(0, 8)}`;
  });

  afterEach(async () => {
    await store.close();
    await server.stop();
  });

  it('refuses to require other streams unchanged in an append, which it cannot check, and appends nothing', async () => {
    await expect(store.append(stream, [newEvent('Noted')], 'no_stream', { unchanged: [{ streamName: 'other', revision: 0 }] })).rejects.toThrow('AppendOptions.unchanged');
    expect(await store.readStream(stream)).toEqual([]);
  });

  it('passes over the server’s own events in readAll, headPosition and subscriptions', async () => {
    const written = await store.append(stream, [newEvent('Mine')], 'no_stream');
    server.appendSystemEvent('$stats-127.0.0.1:2113', '$statsCollected');

    expect(await store.headPosition()).toEqual(written.position);
    expect((await store.readAll()).map((e) => e.type)).toEqual(['Mine']);
    const delivered = await deliveredUntil(store, (seen) => seen.length >= 1);
    expect(delivered.map((e) => e.type)).toEqual(['Mine']);
  });

  it('calls the handler one batch at a time, each at most batchSize events, all in order', async () => {
    for (let i = 0; i < 40; i++) await store.append(stream, [newEvent('N', { i })], i === 0 ? 'no_stream' : i - 1);
    let running = 0;
    let overlapped = false;
    const sizes: number[] = [];
    const seen: number[] = [];
    let done!: () => void;
    const allSeen = new Promise<void>((resolve) => (done = resolve));
    const subscription = store.subscribeToAll({ filter: { streamPrefixes: [stream] }, batchSize: 7 }, async (events) => {
      overlapped ||= running > 0;
      running++;
      sizes.push(events.length);
      seen.push(...events.map((e) => (e.data as { i: number }).i));
      await new Promise((resolve) => setTimeout(resolve, 20));
      running--;
      if (seen.length >= 40) done();
    });
    await allSeen;
    await subscription.stop();

    expect(overlapped).toBe(false);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(7);
    // Events buffered while the handler was busy arrive together.
    expect(Math.max(...sizes)).toBeGreaterThan(1);
  });

  it('ends the subscription with the handler’s error, delivering nothing after it', async () => {
    await store.append(stream, [newEvent('A'), newEvent('B')], 'no_stream');
    const failure = new Error('projection broke');
    const calls: string[][] = [];
    const subscription = store.subscribeToAll({ filter: { streamPrefixes: [stream] }, batchSize: 1 }, async (events) => {
      calls.push(events.map((e) => e.type));
      throw failure;
    });
    await expect(subscription.finished).rejects.toBe(failure);
    await store.append(stream, [newEvent('C')], 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(calls).toEqual([['A']]);
  });

  it('stop() resolves finished', async () => {
    const subscription = store.subscribeToAll({}, async () => undefined);
    await subscription.stop();
    await expect(subscription.finished).resolves.toBeUndefined();
  });

  it('reports ids already standing where a retry points, but not as that append, as DuplicateEventIds', async () => {
    const [a, b, c] = [newEvent('A'), newEvent('B'), newEvent('C')];
    await store.append(stream, [a, b], 'no_stream');
    await expect(store.append(stream, [b, c], 0)).rejects.toBeInstanceOf(DuplicateEventIds);
    expect(await store.readStream(stream)).toHaveLength(2);
  });

  it('reports an unreachable server as EventStoreUnavailable', async () => {
    await store.append(stream, [newEvent()], 'no_stream');
    await server.stop();

    await expect(store.append(stream, [newEvent()], 0)).rejects.toBeInstanceOf(EventStoreUnavailable);
    await expect(store.readStream(stream)).rejects.toBeInstanceOf(EventStoreUnavailable);
    await expect(store.readAll()).rejects.toBeInstanceOf(EventStoreUnavailable);
    await expect(store.headPosition()).rejects.toBeInstanceOf(EventStoreUnavailable);
  });

  it('works again once the server is back', async () => {
    await store.append(stream, [newEvent()], 'no_stream');
    await server.stop();
    await expect(store.append(stream, [newEvent()], 0)).rejects.toBeInstanceOf(EventStoreUnavailable);
    await server.start();
    await expect(store.append(stream, [newEvent()], 0)).resolves.toMatchObject({ nextExpectedRevision: 1 });
  });

  it('ends a subscription with EventStoreUnavailable when the server goes away', async () => {
    await store.append(stream, [newEvent()], 'no_stream');
    let delivered = 0;
    const subscription: Subscription = store.subscribeToAll({}, async (events) => {
      delivered += events.length;
    });
    await waitUntil(() => delivered > 0);
    await server.stop();
    await expect(subscription.finished).rejects.toBeInstanceOf(EventStoreUnavailable);
  });
});

async function deliveredUntil(store: EventStoreDbEventStore, until: (seen: RecordedEvent[]) => boolean): Promise<RecordedEvent[]> {
  const seen: RecordedEvent[] = [];
  const subscription = store.subscribeToAll({}, async (events) => {
    seen.push(...events);
  });
  await waitUntil(() => until(seen));
  // Long enough for anything that should not have come to arrive.
  await new Promise((resolve) => setTimeout(resolve, 100));
  await subscription.stop();
  return seen;
}

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
