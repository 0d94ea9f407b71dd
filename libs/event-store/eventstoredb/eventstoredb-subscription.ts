import type { AllStreamResolvedEvent, AllStreamSubscription } from '@kurrent/kurrentdb-client';
import { BatchHandler, EventFilter, EventStoreUnavailable, matchesFilter, RecordedEvent, Subscription } from '../event-store.port';
import { comparePositions, Position } from '../position';
import { isSystemEvent, toRecordedEvent, toStoreError } from './eventstoredb-mapping';

/**
 * Drives one catch-up subscription to `$all` with the handler's pace. Events are pulled from the
 * client's stream only between handler calls, so while a batch is being handled the stream's buffer
 * fills, gRPC flow control stops the server, and nothing is read ahead unboundedly. Whatever is
 * buffered when the handler returns becomes the next batch.
 */
export class EventStoreDbSubscription implements Subscription {
  readonly finished: Promise<void>;
  private stopping = false;
  private ended = false;
  private failure?: { error: unknown };
  private cursor?: Position;
  private wake?: () => void;
  private signalled = false;

  constructor(
    private readonly source: AllStreamSubscription,
    private readonly options: { fromPosition?: Position; filter?: EventFilter; batchSize: number },
    private readonly handler: BatchHandler,
  ) {
    this.cursor = options.fromPosition;
    source.on('readable', this.signal);
    source.on('end', () => {
      this.ended = true;
      this.signal();
    });
    source.on('error', (error: Error) => {
      this.failure ??= { error };
      this.signal();
    });
    this.finished = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.signal();
    await this.finished.catch(() => undefined);
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopping) {
        const batch = this.takeBuffered();
        if (batch.length > 0) {
          await this.handler(batch);
          continue;
        }
        if (this.failure) throw toStoreError(this.failure.error);
        if (this.ended) throw new EventStoreUnavailable(new Error('EventStoreDB ended the subscription'));
        await this.nextSignal();
      }
    } finally {
      await this.source.unsubscribe().catch(() => undefined);
    }
  }

  private takeBuffered(): RecordedEvent[] {
    const batch: RecordedEvent[] = [];
    while (batch.length < this.options.batchSize) {
      const resolved = this.source.read() as AllStreamResolvedEvent | null;
      if (resolved === null) break;
      const event = resolved.event;
      if (!event || resolved.link || isSystemEvent(event)) continue;
      // The server starts strictly after the requested position; this keeps delivery exactly-once
      // even if a server ever re-sent the event at the position the subscription started from.
      if (this.cursor && comparePositions(event.position, this.cursor) <= 0) continue;
      this.cursor = event.position;
      if (!matchesFilter({ type: event.type, streamName: event.streamId }, this.options.filter)) continue;
      batch.push(toRecordedEvent(event));
    }
    return batch;
  }

  private readonly signal = (): void => {
    const wake = this.wake;
    this.wake = undefined;
    if (wake) wake();
    else this.signalled = true;
  };

  private nextSignal(): Promise<void> {
    if (this.signalled) {
      this.signalled = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.wake = resolve));
  }
}
