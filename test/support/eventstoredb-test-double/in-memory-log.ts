import { randomUUID } from 'node:crypto';

/** An event as the double keeps it: the fields of a prepare record that the gRPC API exposes. */
export interface StoredEvent {
  readonly streamName: string;
  readonly revision: number;
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
  readonly created: Date;
  /**
   * Byte offset of the event's record in the log. An event written outside an explicit transaction
   * is committed by its own record, so its commit and prepare positions are both this offset.
   */
  readonly logPosition: bigint;
}

export interface ProposedEvent {
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
}

export type ExpectedState =
  | { readonly kind: 'any' }
  | { readonly kind: 'no_stream' }
  | { readonly kind: 'stream_exists' }
  | { readonly kind: 'revision'; readonly revision: number };

/** `currentRevision` is -1 for a stream with no events, as on the wire (`no_stream`). */
export type AppendOutcome =
  | { readonly kind: 'written'; readonly currentRevision: number; readonly logPosition: bigint | undefined }
  | { readonly kind: 'wrong_expected_version'; readonly currentRevision: number };

export interface LogFilter {
  readonly on: 'stream_name' | 'event_type';
  readonly prefixes: readonly string[];
  readonly regex?: RegExp;
}

/** A place in `$all`: a commit/prepare pair, as clients name it. */
export interface LogPosition {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export type LogStart = 'start' | 'end' | LogPosition;

const NO_STREAM = -1;
/** Where the first record goes: a real log opens with its chunk header and epoch records. */
const FIRST_RECORD_POSITION = 128n;
/** Roughly a prepare record's fixed fields; the size only has to make positions grow like offsets. */
const RECORD_OVERHEAD = 90;
const utf8 = new TextEncoder();

export interface InMemoryLogOptions {
  /** Answer a retry whose events are already in place with success, as the server does. */
  readonly idempotentWrites: boolean;
}

/**
 * The transaction log and stream index of a single node, in memory. Appends are checked and
 * written synchronously, so writes are totally ordered exactly as the server's single writer
 * orders them, and listeners hear of each write as soon as it is in the log.
 */
export class InMemoryLog {
  private readonly records: StoredEvent[] = [];
  private readonly streams = new Map<string, StoredEvent[]>();
  /** Latest record per event id: the server's committed-events cache, here never evicted. */
  private readonly byId = new Map<string, StoredEvent>();
  private nextPosition = FIRST_RECORD_POSITION;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly options: InMemoryLogOptions) {}

  get length(): number {
    return this.records.length;
  }

  at(index: number): StoredEvent | undefined {
    return this.records[index];
  }

  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The server's commit check (expected version, then idempotence), then the write. */
  append(streamName: string, expected: ExpectedState, events: readonly ProposedEvent[]): AppendOutcome {
    const stream = this.streams.get(streamName) ?? [];
    const current = stream.length - 1;
    if (expected.kind === 'stream_exists' && current === NO_STREAM) return wrongExpectedVersion(current);

    if (expected.kind === 'any' || expected.kind === 'stream_exists') {
      // As the server: a first id new to this stream makes a new write; every id already in it is a
      // retry; a retry only partly in place is refused as a wrong expected version.
      const previous = events.map((e) => this.byId.get(e.id));
      if (this.options.idempotentWrites && previous[0]?.streamName === streamName) {
        const last = previous[previous.length - 1];
        if (!last || !previous.every((p) => p?.streamName === streamName)) return wrongExpectedVersion(current);
        return this.retried(last);
      }
      return this.write(streamName, stream, events);
    }

    const expectedRevision = expected.kind === 'no_stream' ? NO_STREAM : expected.revision;
    if (expectedRevision === current) return this.write(streamName, stream, events);
    if (expectedRevision > current || !this.options.idempotentWrites || events.length === 0) {
      return wrongExpectedVersion(current);
    }
    // The expectation is in the past: a retry when every event stands where it would have gone.
    const placed = events.every((e, i) => stream[expectedRevision + 1 + i]?.id === e.id);
    return placed ? this.retried(stream[expectedRevision + events.length]) : wrongExpectedVersion(current);
  }

  /** Appends the server writes for itself (statistics, epochs, metadata); readers must skip them. */
  appendSystemEvent(streamName: string, type: string): void {
    const stream = this.streams.get(streamName) ?? [];
    const data = utf8.encode('{}');
    this.write(streamName, stream, [{ id: randomUUID(), type, contentType: 'application/json', data, customMetadata: new Uint8Array() }]);
  }

  /** `undefined` when the stream does not exist. */
  readStream(
    streamName: string,
    from: 'start' | 'end' | number,
    direction: 'forwards' | 'backwards',
    count: number,
  ): StoredEvent[] | undefined {
    const stream = this.streams.get(streamName);
    if (!stream) return undefined;
    if (direction === 'forwards') {
      const first = from === 'start' ? 0 : from === 'end' ? stream.length : from;
      return stream.slice(first, first + count);
    }
    const last = from === 'end' ? stream.length - 1 : from === 'start' ? 0 : Math.min(from, stream.length - 1);
    return stream.slice(Math.max(0, last - count + 1), last + 1).reverse();
  }

  /**
   * `$all` in log order. As on the server, a forward read includes the event at `from` and a
   * backward read starts just before it.
   */
  readAll(from: LogStart, direction: 'forwards' | 'backwards', count: number, filter?: LogFilter): StoredEvent[] {
    const events: StoredEvent[] = [];
    if (direction === 'forwards') {
      for (let i = this.indexAtOrAfter(from); i < this.records.length && events.length < count; i++) {
        if (!filter || matches(this.records[i], filter)) events.push(this.records[i]);
      }
    } else {
      for (let i = this.indexAtOrAfter(from) - 1; i >= 0 && events.length < count; i--) {
        if (!filter || matches(this.records[i], filter)) events.push(this.records[i]);
      }
    }
    return events;
  }

  /** Index of the first record at or after `from` (`end`: the next record to be written). */
  indexAtOrAfter(from: LogStart): number {
    if (from === 'start') return 0;
    if (from === 'end') return this.records.length;
    return this.firstIndex((record) => compare(record, from) >= 0);
  }

  /** Index of the first record strictly after `from`: where a subscription from `from` begins. */
  indexAfter(from: LogPosition): number {
    return this.firstIndex((record) => compare(record, from) > 0);
  }

  private firstIndex(isAtOrPast: (record: StoredEvent) => boolean): number {
    let low = 0;
    let high = this.records.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (isAtOrPast(this.records[mid])) high = mid;
      else low = mid + 1;
    }
    return low;
  }

  private write(streamName: string, stream: StoredEvent[], events: readonly ProposedEvent[]): AppendOutcome {
    const created = new Date();
    for (const event of events) {
      const record: StoredEvent = { ...event, streamName, revision: stream.length, created, logPosition: this.nextPosition };
      this.nextPosition += BigInt(recordSize(record));
      stream.push(record);
      this.records.push(record);
      this.byId.set(record.id, record);
    }
    if (stream.length > 0) this.streams.set(streamName, stream);
    if (events.length > 0) for (const listener of [...this.listeners]) listener();
    return { kind: 'written', currentRevision: stream.length - 1, logPosition: stream[stream.length - 1]?.logPosition };
  }

  /** The server answers a retry with the last retried event: its revision and its position. */
  private retried(last: StoredEvent): AppendOutcome {
    return { kind: 'written', currentRevision: last.revision, logPosition: last.logPosition };
  }
}

export function matches(event: StoredEvent, filter: LogFilter): boolean {
  const value = filter.on === 'stream_name' ? event.streamName : event.type;
  return filter.regex ? filter.regex.test(value) : filter.prefixes.some((prefix) => value.startsWith(prefix));
}

function compare(record: StoredEvent, position: LogPosition): number {
  if (record.logPosition !== position.commit) return record.logPosition < position.commit ? -1 : 1;
  if (record.logPosition !== position.prepare) return record.logPosition < position.prepare ? -1 : 1;
  return 0;
}

function wrongExpectedVersion(currentRevision: number): AppendOutcome {
  return { kind: 'wrong_expected_version', currentRevision };
}

function recordSize(record: StoredEvent): number {
  return (
    RECORD_OVERHEAD +
    utf8.encode(record.streamName).length +
    utf8.encode(record.type).length +
    record.data.length +
    record.customMetadata.length
  );
}
