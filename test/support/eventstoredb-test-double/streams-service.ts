import { randomUUID } from 'node:crypto';
import {
  sendUnaryData,
  ServerDuplexStream,
  ServerReadableStream,
  ServerWritableStream,
  status as GrpcStatus,
  StatusObject,
} from '@grpc/grpc-js';
import { IStreamsServer } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_grpc_pb';
import { AppendReq, AppendResp, BatchAppendReq, BatchAppendResp, ReadReq, ReadResp } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_pb';
import { AppendOutcome, ExpectedState, InMemoryLog, LogFilter, LogStart, matches, ProposedEvent, StoredEvent } from './in-memory-log';
import {
  expectedFromAppendOptions,
  expectedFromBatchOptions,
  ProtocolError,
  streamNameOf,
  toAppendResponse,
  toBadRequestResponse,
  toBatchAppendResponse,
  toCheckpointResponse,
  toEventResponse,
  toProposedEvent,
  toStreamIdentifier,
  uuidToString,
} from './protocol';

/** The server's page size for filtered reads, which the checkpoint interval multiplies. */
const DEFAULT_MAX_SEARCH_WINDOW = 32;

export interface StreamsServiceOptions {
  readonly batchAppend: boolean;
}

interface SubscriptionFilter {
  readonly filter: LogFilter;
  /** Events considered (matching or not) between two checkpoints. */
  readonly checkpointInterval: number;
}

interface PendingAppend {
  readonly streamName: string;
  readonly expected: ExpectedState;
  readonly events: ProposedEvent[];
}

/** The subset of a server call `send` needs, common to server-streaming and duplex calls. */
interface WritableCall<Response> {
  readonly cancelled: boolean;
  write(message: Response): boolean;
  once(event: 'drain' | 'cancelled', listener: () => void): unknown;
  off(event: 'drain' | 'cancelled', listener: () => void): unknown;
}

/** The Streams service over one in-memory log. */
export class StreamsService {
  private readonly subscriptions = new Set<() => void>();

  constructor(
    private readonly log: InMemoryLog,
    private readonly options: StreamsServiceOptions,
  ) {}

  /** Ends every subscription being served with UNAVAILABLE, as a node shutting down does. */
  closeSubscriptions(): void {
    for (const close of [...this.subscriptions]) close();
  }

  get implementation(): IStreamsServer {
    return {
      read: (call) => {
        this.read(call).catch((error: unknown) => {
          if (!call.cancelled) call.emit('error', toStatus(error));
        });
      },
      append: (call, callback) => this.append(call, callback),
      batchAppend: (call) => this.batchAppend(call),
      delete: (_call, callback) => callback(unimplemented('Streams.Delete')),
      tombstone: (_call, callback) => callback(unimplemented('Streams.Tombstone')),
    };
  }

  private async read(call: ServerWritableStream<ReadReq, ReadResp>): Promise<void> {
    const options = call.request.getOptions();
    if (!options) throw new ProtocolError('missing read options');
    const structuredIds = options.getUuidOption()?.hasStructured() ?? false;
    const filter = options.hasFilter() ? toSubscriptionFilter(options.getFilter()) : undefined;

    if (options.hasSubscription()) {
      const all = options.getAll();
      if (!all) throw new ProtocolError('the test double serves subscriptions to $all only', GrpcStatus.UNIMPLEMENTED);
      await this.subscribe(call, allStart(all), filter, structuredIds);
      return;
    }

    const count = Number(options.getCount());
    const direction = options.getReadDirection() === ReadReq.Options.ReadDirection.BACKWARDS ? 'backwards' : 'forwards';
    let events: StoredEvent[];
    const streamOptions = options.getStream();
    if (streamOptions) {
      const streamName = streamNameOf(streamOptions.getStreamIdentifier());
      const from = streamOptions.hasRevision() ? Number(streamOptions.getRevision()) : streamOptions.hasEnd() ? 'end' : 'start';
      const found = this.log.readStream(streamName, from, direction, count);
      if (!found) {
        const notFound = new ReadResp.StreamNotFound().setStreamIdentifier(toStreamIdentifier(streamName));
        await send(call, new ReadResp().setStreamNotFound(notFound));
        call.end();
        return;
      }
      events = found;
    } else {
      const all = options.getAll();
      if (!all) throw new ProtocolError('read options name neither a stream nor $all');
      events = this.log.readAll(allStart(all), direction, count, filter?.filter);
    }
    for (const event of events) await send(call, toEventResponse(event, structuredIds));
    call.end();
  }

  /**
   * Catch-up then live as one loop over the log: deliver what lies after the cursor, then wait for
   * the next write. Like the server, a filtered subscription reports a checkpoint every
   * `checkpointInterval` events it considered and one when it first catches up; the caught-up
   * notice follows.
   */
  private async subscribe(
    call: ServerWritableStream<ReadReq, ReadResp>,
    start: LogStart,
    filter: SubscriptionFilter | undefined,
    structuredIds: boolean,
  ): Promise<void> {
    const written = new Signal();
    let closedByServer = false;
    const close = () => {
      closedByServer = true;
      written.fire();
    };
    const stopListening = this.log.onAppend(written.fire);
    call.once('cancelled', written.fire);
    this.subscriptions.add(close);
    try {
      const confirmation = new ReadResp.SubscriptionConfirmation().setSubscriptionId(randomUUID());
      await send(call, new ReadResp().setConfirmation(confirmation));
      // From a position, delivery starts strictly after it.
      let index = typeof start === 'string' ? this.log.indexAtOrAfter(start) : this.log.indexAfter(start);
      let checkpoint = typeof start === 'string' ? undefined : start.commit;
      let considered = 0;
      let live = false;
      while (!closedByServer && !call.cancelled) {
        const event = this.log.at(index);
        if (!event) {
          if (!live) {
            live = true;
            if (filter && checkpoint !== undefined) await send(call, toCheckpointResponse(checkpoint));
            await send(call, new ReadResp().setCaughtUp(new ReadResp.CaughtUp()));
          }
          await written.wait();
          continue;
        }
        index++;
        checkpoint = event.logPosition;
        if (!filter || matches(event, filter.filter)) await send(call, toEventResponse(event, structuredIds));
        if (filter && ++considered >= filter.checkpointInterval) {
          considered = 0;
          await send(call, toCheckpointResponse(checkpoint));
        }
      }
    } finally {
      stopListening();
      this.subscriptions.delete(close);
      call.off('cancelled', written.fire);
    }
    if (closedByServer && !call.cancelled) call.emit('error', { code: GrpcStatus.UNAVAILABLE, details: 'Server is shutting down' });
  }

  private append(call: ServerReadableStream<AppendReq, AppendResp>, callback: sendUnaryData<AppendResp>): void {
    let options: AppendReq.Options | undefined;
    const events: ProposedEvent[] = [];
    let failure: { error: unknown } | undefined;
    call.on('data', (request: AppendReq) => {
      try {
        const header = request.getOptions();
        const message = request.getProposedMessage();
        if (header) options = header;
        else if (message) events.push(toProposedEvent(message));
      } catch (error) {
        failure ??= { error };
      }
    });
    call.on('end', () => {
      try {
        if (failure) throw failure.error;
        if (!options) throw new ProtocolError('the first append message must carry the options');
        const expected = expectedFromAppendOptions(options);
        const outcome = this.log.append(streamNameOf(options.getStreamIdentifier()), expected, events);
        callback(null, toAppendResponse(outcome, expected));
      } catch (error) {
        callback(toStatus(error));
      }
    });
  }

  /**
   * One long-lived call carries many appends, each a run of requests sharing a correlation id: the
   * first with the options, the last marked final. Each append is answered on the same call.
   */
  private batchAppend(call: ServerDuplexStream<BatchAppendReq, BatchAppendResp>): void {
    if (!this.options.batchAppend) {
      call.emit('error', unimplemented('Streams.BatchAppend'));
      return;
    }
    const pending = new Map<string, PendingAppend>();
    call.on('data', (request: BatchAppendReq) => {
      const correlationId = request.getCorrelationId();
      let key: string | undefined;
      let append: PendingAppend | undefined;
      let outcome: AppendOutcome;
      try {
        key = uuidToString(correlationId);
        const options = request.getOptions();
        if (options) {
          const streamName = streamNameOf(options.getStreamIdentifier());
          pending.set(key, { streamName, expected: expectedFromBatchOptions(options), events: [] });
        }
        append = pending.get(key);
        if (!append) return;
        append.events.push(...request.getProposedMessagesList().map(toProposedEvent));
        if (!request.getIsFinal()) return;
        pending.delete(key);
        outcome = this.log.append(append.streamName, append.expected, append.events);
      } catch (error) {
        if (key !== undefined) pending.delete(key);
        if (!call.cancelled) call.write(toBadRequestResponse(correlationId, append?.streamName, error));
        return;
      }
      if (!call.cancelled) call.write(toBatchAppendResponse(correlationId, append.streamName, outcome, append.expected));
    });
    call.on('end', () => call.end());
  }
}

/** A wake-up that is kept when it comes before anyone waits for it. */
class Signal {
  private waiter?: () => void;
  private pending = false;

  readonly fire = (): void => {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter();
    else this.pending = true;
  };

  wait(): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.waiter = resolve));
  }
}

function toSubscriptionFilter(options: ReadReq.Options.FilterOptions | undefined): SubscriptionFilter {
  const expression = options?.getStreamIdentifier() ?? options?.getEventType();
  if (!options || !expression) throw new ProtocolError('a filter needs a stream identifier or an event type expression');
  const regex = expression.getRegex();
  const window = options.hasMax() ? options.getMax() : DEFAULT_MAX_SEARCH_WINDOW;
  return {
    filter: {
      on: options.hasStreamIdentifier() ? 'stream_name' : 'event_type',
      prefixes: expression.getPrefixList(),
      regex: regex ? new RegExp(regex) : undefined,
    },
    checkpointInterval: window * Math.max(1, options.getCheckpointintervalmultiplier()),
  };
}

function allStart(all: ReadReq.Options.AllOptions): LogStart {
  const position = all.getPosition();
  if (position) return { commit: BigInt(position.getCommitPosition()), prepare: BigInt(position.getPreparePosition()) };
  return all.hasEnd() ? 'end' : 'start';
}

/** Writes under the call's flow control: resolves once the message is taken or the call is gone. */
function send<Response>(call: WritableCall<Response>, message: Response): Promise<void> {
  if (call.cancelled || call.write(message)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    call.once('drain', done);
    call.once('cancelled', done);
  });
}

function toStatus(error: unknown): Partial<StatusObject> {
  if (error instanceof ProtocolError) return { code: error.code, details: error.message };
  return { code: GrpcStatus.INTERNAL, details: error instanceof Error ? error.message : String(error) };
}

function unimplemented(method: string): Partial<StatusObject> {
  return { code: GrpcStatus.UNIMPLEMENTED, details: `${method} is not implemented by the test double` };
}
