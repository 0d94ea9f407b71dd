import { Position } from './position';

/** What every event carries beside its data; written by the command side, read by everyone. */
export interface EventMetadata {
  schema_version: number;
  correlation_id: string;
  causation_id: string | null;
  actor: string;
  occurred_at: string;
  idempotency_key?: string | null;
  /** Hash of the request that caused the event, so a reused idempotency key can be told apart. */
  request_hash?: string | null;
  /** W3C `traceparent` of the span that appended the event, so a consumer's span continues it. */
  trace_context?: string | null;
}

export interface NewEvent<Type extends string = string, Data = unknown> {
  id: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
}

export interface RecordedEvent<Type extends string = string, Data = unknown> extends NewEvent<Type, Data> {
  streamName: string;
  /** 0-based position of the event in its stream. */
  revision: number;
  position: Position;
}

/** `no_stream`: the stream must not exist; `stream_exists`: it must; a number: its last revision. */
export type ExpectedRevision = number | 'no_stream' | 'any' | 'stream_exists';

export interface AppendResult {
  /** Revision of the last event now in the stream. */
  nextExpectedRevision: number;
  /** Global position of the last appended event. */
  position: Position;
}

export interface ReadStreamOptions {
  fromRevision?: number;
  direction?: 'forwards' | 'backwards';
  maxCount?: number;
}

/** Either list may be given; an event passes when it matches any entry of each given list. */
export interface EventFilter {
  eventTypes?: readonly string[];
  streamPrefixes?: readonly string[];
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position. */
  fromPosition?: Position;
  limit?: number;
  filter?: EventFilter;
  /**
   * PostgreSQL: also read events committed after a transaction still in flight. Safe only for a
   * caller holding the exclusive lock of the inline read model it reads for, so that none of the
   * events it wants can still commit (a rebuild's swap, a verify's comparison).
   */
  beyondOpenTransactions?: boolean;
}

export interface CountEventsQuery {
  eventTypes: readonly string[];
  /** Exclusive. */
  after?: Position;
  /** Inclusive. */
  upTo?: Position;
}

export interface SubscribeOptions {
  /** Exclusive, like a checkpoint: delivery starts after it. */
  fromPosition?: Position;
  filter?: EventFilter;
  batchSize?: number;
  /** See `LogConsumer.pace` (PostgreSQL; EventStoreDB pushes as it likes). */
  pace?: ReadPace;
}

export interface ReadPace {
  /** Once woken by a commit, wait this long before reading, so that a while's commits make one read. */
  readEveryMs: number;
}

/**
 * Receives events in global-log order, a batch at a time. The next batch is read only after the
 * returned promise resolves; a rejection stops the subscription with that error. `readTo`, where the
 * store can tell it, is the last position the read behind this batch covered (at or past its last
 * event): a batch may then be empty, the read having found only events the filter leaves out, so
 * that a consumer can move its checkpoint past them.
 */
export type BatchHandler = (events: RecordedEvent[], readTo?: Position) => Promise<void>;

export interface Subscription {
  /** Resolves when the subscription has stopped; rejects with the handler's or the store's error. */
  readonly finished: Promise<void>;
  stop(): Promise<void>;
}

/** A stream at a revision (-1: the stream has no events). */
export interface StreamRevision {
  streamName: string;
  revision: number;
}

export interface AppendOptions {
  /**
   * Streams the decision read besides its own, at the revisions it read them: when any has moved on,
   * the append writes nothing and fails with WrongExpectedRevision naming it. PostgreSQL checks them
   * in the append's transaction; EventStoreDB cannot check another stream in an append and refuses
   * the option.
   */
  unchanged?: readonly StreamRevision[];
}

export interface EventStore {
  append(streamName: string, events: readonly NewEvent[], expectedRevision: ExpectedRevision, options?: AppendOptions): Promise<AppendResult>;
  readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /**
   * Several whole streams, forwards, in one request where the store allows it: a command that
   * decides on one stream with another's state (an installation and its provider) reads both at
   * once. One array per name, in the order given; an unknown stream is empty.
   */
  readStreams(streamNames: readonly string[]): Promise<RecordedEvent[][]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  subscribeToAll(options: SubscribeOptions, handler: BatchHandler): Subscription;
  /** Position of the newest event a subscriber can see now, or undefined for an empty log. */
  headPosition(): Promise<Position | undefined>;
  /** How many visible events match, where the store can count without reading them (else absent). */
  countEvents?(query: CountEventsQuery): Promise<number>;
  /** Read models the store writes in each append's own transaction (PostgreSQL inline projections). */
  readonly inlineProjections?: readonly string[];
  /**
   * True when each append records its keyed request in the idempotency index itself, in the append's
   * transaction (PostgreSQL); otherwise the command runner records it after the append.
   */
  readonly recordsIdempotencyKeys?: boolean;
  close(): Promise<void>;
}

export const EVENT_STORE = Symbol('EventStore');

export class WrongExpectedRevision extends Error {
  constructor(
    readonly streamName: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | 'no_stream' | 'unknown',
  ) {
    super(`Stream ${streamName} is at revision ${String(actual)}, expected ${String(expected)}`);
    this.name = 'WrongExpectedRevision';
  }
}

/** Event ids already used elsewhere (another stream, or a different place in this one). */
export class DuplicateEventIds extends Error {
  constructor(readonly streamName: string, readonly eventIds: readonly string[]) {
    super(`Events ${eventIds.join(', ')} already exist outside this append to ${streamName}`);
    this.name = 'DuplicateEventIds';
  }
}

/** The store could not be reached; callers answer 503 and retry later. */
export class EventStoreUnavailable extends Error {
  constructor(cause: unknown) {
    super(`Event store unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'EventStoreUnavailable';
  }
}

export function matchesFilter(event: { type: string; streamName: string }, filter?: EventFilter): boolean {
  if (!filter) return true;
  if (filter.eventTypes && !filter.eventTypes.includes(event.type)) return false;
  if (filter.streamPrefixes && !filter.streamPrefixes.some((p) => event.streamName.startsWith(p))) return false;
  return true;
}
