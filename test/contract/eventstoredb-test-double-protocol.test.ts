import { randomUUID } from 'node:crypto';
import {
  ANY,
  BACKWARDS,
  END,
  KurrentDBClient,
  FORWARDS,
  jsonEvent,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  StreamNotFoundError,
  streamNameFilter,
  WrongExpectedVersionError,
  type AllStreamResolvedEvent,
  type Position,
} from '@kurrent/kurrentdb-client';
import { EventStoreDbTestDouble } from '../support/eventstoredb-test-double/eventstoredb-test-double';

/**
 * The test double against the real client, without the adapter: what the server says (positions,
 * conflicts, retries, checkpoints), read back through `@kurrent/kurrentdb-client` as an application
 * would. Both append paths: BatchAppend (current servers) and Append.
 */
describe.each([
  { batchAppend: true, path: 'Streams.BatchAppend' },
  { batchAppend: false, path: 'Streams.Append' },
])('EventStoreDB test double through the client ($path)', ({ batchAppend }) => {
  let server: EventStoreDbTestDouble;
  let client: KurrentDBClient;
  let stream: string;

  beforeEach(async () => {
    server = new EventStoreDbTestDouble({ batchAppend });
    client = KurrentDBClient.connectionString((await server.start()).connectionString);
    stream = `protocol-${randomUUID().slice(0, 8)}`;
  });

  afterEach(async () => {
    await client.dispose();
    await server.stop();
  });

  const event = (type = 'E') => jsonEvent({ id: randomUUID(), type, data: { type } });

  it('answers an append with the position of its last event, commit and prepare alike', async () => {
    const result = await client.appendToStream(stream, [event(), event()], { streamState: NO_STREAM });
    const [first, second] = (await collect(client.readStream(stream))).map((e) => e.event?.position as Position);
    expect(result.nextExpectedRevision).toBe(1n);
    expect(second).toEqual(result.position);
    expect(first.commit).toBe(first.prepare);
    expect(first.commit < second.commit).toBe(true);
  });

  it('reports a wrong expected version with the stream’s current revision', async () => {
    await client.appendToStream(stream, event(), { streamState: NO_STREAM });
    const conflicts = await Promise.all([
      client.appendToStream(stream, event(), { streamState: NO_STREAM }).catch((e: unknown) => e),
      client.appendToStream(stream, event(), { streamState: 5n }).catch((e: unknown) => e),
      client.appendToStream(`${stream}-missing`, event(), { streamState: STREAM_EXISTS }).catch((e: unknown) => e),
    ]);
    for (const conflict of conflicts) expect(conflict).toBeInstanceOf(WrongExpectedVersionError);
    const [noStream, exact, streamExists] = conflicts as WrongExpectedVersionError[];
    expect([noStream.expectedState, noStream.actualState]).toEqual([NO_STREAM, 0n]);
    expect([exact.expectedState, exact.actualState]).toEqual([5n, 0n]);
    expect([streamExists.expectedState, streamExists.actualState]).toEqual([STREAM_EXISTS, NO_STREAM]);
  });

  it('answers a retried append with the original result and writes nothing', async () => {
    const events = [event(), event()];
    const first = await client.appendToStream(stream, events, { streamState: NO_STREAM });
    await client.appendToStream(stream, event(), { streamState: 1n });
    await expect(client.appendToStream(stream, events, { streamState: NO_STREAM })).resolves.toEqual(first);
    await expect(client.appendToStream(stream, events, { streamState: ANY })).resolves.toEqual(first);
    expect(await collect(client.readStream(stream))).toHaveLength(3);
  });

  it('reads a missing stream as StreamNotFound', async () => {
    await expect(collect(client.readStream(stream))).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  it('reads $all forwards including the starting position and backwards from just before it', async () => {
    await client.appendToStream(stream, [event('A'), event('B'), event('C')], { streamState: NO_STREAM });
    const all = (await collect(client.readAll({ fromPosition: START }))).map((e) => e.event);
    const b = all.find((e) => e?.type === 'B')?.position as Position;
    const forwards = await collect(client.readAll({ fromPosition: b, direction: FORWARDS, maxCount: 2 }));
    const backwards = await collect(client.readAll({ fromPosition: b, direction: BACKWARDS, maxCount: 1 }));
    expect(forwards.map((e) => e.event?.type)).toEqual(['B', 'C']);
    expect(backwards.map((e) => e.event?.type)).toEqual(['A']);
    const newest = await collect(client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 1 }));
    expect(newest.map((e) => e.event?.type)).toEqual(['C']);
  });

  it('subscribes after a position, filtered, with checkpoints every interval and on catching up', async () => {
    const written = await client.appendToStream(stream, event('Start'), { streamState: NO_STREAM });
    for (let i = 0; i < 70; i++) await client.appendToStream(`noise-${stream}`, event('Noise'), { streamState: ANY });
    await client.appendToStream(stream, event('Match'), { streamState: 0n });

    const checkpoints: Position[] = [];
    const delivered: string[] = [];
    let caughtUp = false;
    const subscription = client.subscribeToAll({
      fromPosition: written.position,
      filter: streamNameFilter({ prefixes: [stream], checkpointInterval: 1, checkpointReached: (_s, p) => void checkpoints.push(p) }),
    });
    subscription.on('caughtUp', () => (caughtUp = true));
    subscription.on('data', (resolved: AllStreamResolvedEvent) => delivered.push(resolved.event?.type ?? '?'));
    await waitUntil(() => caughtUp);
    await subscription.unsubscribe();

    // Only what matches, strictly after the starting position; the 70 others count towards checkpoints.
    expect(delivered).toEqual(['Match']);
    expect(checkpoints).toHaveLength(3);
    expect(checkpoints.every((p, i) => i === 0 || p.commit > checkpoints[i - 1].commit)).toBe(true);
  });
});

async function collect<T>(read: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of read) items.push(item);
  return items;
}

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
