import {
  ANY,
  BACKWARDS,
  END,
  KurrentDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  StreamNotFoundError,
  WrongExpectedVersionError,
  eventTypeFilter,
  excludeSystemEvents,
  streamNameFilter,
  type AllStreamRecordedEvent,
  type AppendStreamState,
  type AppendResult as ClientAppendResult,
  type Direction,
  type Filter,
  type ReadPosition,
} from '@kurrent/kurrentdb-client';
import {
  AppendResult,
  BatchHandler,
  DuplicateEventIds,
  EventFilter,
  EventStore,
  ExpectedRevision,
  matchesFilter,
  NewEvent,
  AppendOptions,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  Subscription,
  SubscribeOptions,
  WrongExpectedRevision,
} from '../event-store.port';
import { comparePositions, Position } from '../position';
import { isSystemEvent, toEventData, toRecordedEvent, toStoreError } from './eventstoredb-mapping';
import { EventStoreDbSubscription } from './eventstoredb-subscription';

const DEFAULT_READ_LIMIT = 1000;
const DEFAULT_BATCH_SIZE = 500;
const READ_PAGE_SIZE = 500;
const HEAD_PAGE_SIZE = 32;

/**
 * The event store on EventStoreDB (gRPC, `@kurrent/kurrentdb-client`). Positions are the server's own
 * commit/prepare pairs; see README.md beside this file for what differs from the PostgreSQL store.
 */
export class EventStoreDbEventStore implements EventStore {
  private readonly client: KurrentDBClient;
  private readonly subscriptions = new Set<EventStoreDbSubscription>();

  /** @param connectionString e.g. `kurrentdb://localhost:2113?tls=false` */
  constructor(connectionString: string) {
    this.client = KurrentDBClient.connectionString(connectionString);
  }

  async append(streamName: string, events: readonly NewEvent[], expected: ExpectedRevision, options: AppendOptions = {}): Promise<AppendResult> {
    if (events.length === 0) throw new Error('append needs at least one event');
    // An append here is one stream's: another stream's revision cannot be checked in it.
    if (options.unchanged?.length) throw new Error('EventStoreDB cannot check other streams in an append (AppendOptions.unchanged)');
    let result: ClientAppendResult;
    try {
      result = await this.client.appendToStream(streamName, events.map(toEventData), {
        streamState: toClientExpectedRevision(expected),
      });
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) throw toStoreError(error);
      const replay = await this.findPreviousAppend(streamName, events, expected);
      if (replay) return replay;
      const actual = error.actualState;
      throw new WrongExpectedRevision(streamName, expected, actual === NO_STREAM ? 'no_stream' : Number(actual));
    }
    if (!result.position) throw new Error(`EventStoreDB returned no log position for the append to ${streamName}`);
    return {
      nextExpectedRevision: Number(result.nextExpectedRevision),
      position: { commit: result.position.commit, prepare: result.position.prepare },
    };
  }

  /**
   * The server answers a retry at the same expected revision with the original result by itself.
   * Where it does not (only part of the retried events are in place, or the server no longer
   * recognises the retry), the ids are looked for where the expectation would have put them: all of
   * them there, in order, is the original append; some of them there means the ids were reused.
   * EventStoreDB keeps no index of event ids, so ids reused in another stream go unnoticed.
   */
  private async findPreviousAppend(
    streamName: string,
    events: readonly NewEvent[],
    expected: ExpectedRevision,
  ): Promise<AppendResult | undefined> {
    // `any` never conflicts, and `stream_exists` conflicts only with a missing stream.
    if (expected === 'any' || expected === 'stream_exists') return undefined;
    const firstRevision = expected === 'no_stream' ? 0 : expected + 1;
    const ids = events.map((e) => e.id);
    const found = await this.readStream(streamName, { fromRevision: firstRevision, maxCount: events.length });
    if (found.length === events.length && found.every((e, i) => e.id === ids[i])) {
      const last = found[found.length - 1];
      return { nextExpectedRevision: last.revision, position: last.position };
    }
    if (found.some((e) => ids.includes(e.id))) throw new DuplicateEventIds(streamName, ids);
    return undefined;
  }

  async readStream(streamName: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    if (options.maxCount === 0) return [];
    const backwards = options.direction === 'backwards';
    const read = this.client.readStream(streamName, {
      direction: backwards ? BACKWARDS : FORWARDS,
      fromRevision: options.fromRevision !== undefined ? BigInt(options.fromRevision) : backwards ? END : START,
      maxCount: options.maxCount,
    });
    const events: RecordedEvent[] = [];
    try {
      for await (const resolved of read) {
        if (resolved.event) events.push(toRecordedEvent(resolved.event));
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw toStoreError(error);
    }
    return events;
  }

  /** EventStoreDB reads one stream per call: the reads go out together. */
  readStreams(streamNames: readonly string[]): Promise<RecordedEvent[][]> {
    return Promise.all(streamNames.map((name) => this.readStream(name)));
  }

  /**
   * Pages through `$all`, filtered by the server (the KurrentDB client reads `$all` with a filter,
   * so a selective read no longer scans the log); the page is checked here again, which turns the
   * server's prefix match on event types into the port's exact match.
   */
  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const limit = options.limit ?? DEFAULT_READ_LIMIT;
    // One more than the limit: forward reads include the event at the starting position.
    const pageSize = options.filter ? READ_PAGE_SIZE : Math.min(READ_PAGE_SIZE, limit + 1);
    const filter = options.filter ? serverSideFilter(options.filter) : undefined;
    const events: RecordedEvent[] = [];
    let cursor = options.fromPosition;
    while (events.length < limit) {
      const page = await this.readAllPage(cursor ?? START, FORWARDS, pageSize, filter);
      for (const event of page) {
        if (cursor && comparePositions(event.position, cursor) <= 0) continue;
        cursor = event.position;
        if (isDeliverable(event, options.filter)) {
          events.push(toRecordedEvent(event));
          if (events.length === limit) break;
        }
      }
      if (page.length < pageSize) break;
    }
    return events;
  }

  subscribeToAll(options: SubscribeOptions, handler: BatchHandler): Subscription {
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    const source = this.client.subscribeToAll(
      { fromPosition: options.fromPosition ?? START, filter: serverSideFilter(options.filter) },
      // Lets a batch fill up to batchSize while the handler is busy with the previous one.
      { highWaterMark: batchSize },
    );
    const subscription = new EventStoreDbSubscription(source, { ...options, batchSize }, handler);
    this.subscriptions.add(subscription);
    void subscription.finished.catch(() => undefined).finally(() => this.subscriptions.delete(subscription));
    return subscription;
  }

  async headPosition(): Promise<Position | undefined> {
    let from: ReadPosition = END;
    for (;;) {
      const page = await this.readAllPage(from, BACKWARDS, HEAD_PAGE_SIZE);
      const newest = page.find((event) => !isSystemEvent(event));
      if (newest) return { commit: newest.position.commit, prepare: newest.position.prepare };
      if (page.length < HEAD_PAGE_SIZE) return undefined;
      from = page[page.length - 1].position;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    await this.client.dispose();
  }

  private async readAllPage(fromPosition: ReadPosition, direction: Direction, maxCount: number, filter?: Filter): Promise<AllStreamRecordedEvent[]> {
    const events: AllStreamRecordedEvent[] = [];
    try {
      for await (const resolved of this.client.readAll({ fromPosition, direction, maxCount, ...(filter ? { filter } : {}) })) {
        if (resolved.event) events.push(resolved.event);
      }
    } catch (error) {
      throw toStoreError(error);
    }
    return events;
  }
}

function toClientExpectedRevision(expected: ExpectedRevision): AppendStreamState {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      return BigInt(expected);
  }
}

function isDeliverable(event: AllStreamRecordedEvent, filter: EventFilter | undefined): boolean {
  return !isSystemEvent(event) && matchesFilter({ type: event.type, streamName: event.streamId }, filter);
}

/**
 * Narrows the subscription on the server with one of the two lists (stream prefixes when both are
 * given); the subscription applies the whole filter again, which also turns the server's prefix
 * match on event types into the port's exact match. Without a filter, system events stay on the
 * server.
 */
function serverSideFilter(filter: EventFilter | undefined): Filter {
  if (filter?.streamPrefixes?.length) return streamNameFilter({ prefixes: [...filter.streamPrefixes] });
  if (filter?.eventTypes?.length) return eventTypeFilter({ prefixes: [...filter.eventTypes] });
  return excludeSystemEvents();
}
