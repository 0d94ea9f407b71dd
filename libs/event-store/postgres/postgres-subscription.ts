import { BatchHandler, RecordedEvent, Subscription, SubscribeOptions } from '../event-store.port';
import { Position } from '../position';
import { PostgresNotificationListener } from './postgres-notification-listener';

/** What one read of the log found: the events the filter takes, and the last position read (taken or not). */
export interface LogScan {
  events: RecordedEvent[];
  scannedTo?: Position;
  /** Whether the read stopped at its limit: more of the log may be there to read at once. */
  full?: boolean;
}

export interface LogScanner {
  scan(options: { fromPosition?: Position; limit?: number; filter?: SubscribeOptions['filter'] }): Promise<LogScan>;
}

const BLOCKED_RETRY_MIN_MS = 5;
const READ_RETRY_MAX_MS = 2000;

/**
 * Catch-up then live: reads batches after its cursor until the log is drained, then sleeps until a
 * NOTIFY says something was committed. A notification that yields nothing means the new event sits
 * behind an older transaction still in flight; the reader then retries quickly with backoff.
 * Transient read errors (database restarting) are retried; a handler error ends the subscription.
 */
export class PostgresSubscription implements Subscription {
  readonly finished: Promise<void>;
  private stopped = false;
  private cursor?: Position;

  constructor(
    private readonly reader: LogScanner,
    private readonly listener: PostgresNotificationListener,
    private readonly options: SubscribeOptions,
    private readonly handler: BatchHandler,
    private readonly idlePollMs: number,
  ) {
    this.cursor = options.fromPosition;
    this.finished = this.run();
  }

  private async run(): Promise<void> {
    const batchSize = this.options.batchSize ?? 500;
    let blockedDelay = BLOCKED_RETRY_MIN_MS;
    let errorDelay = 50;
    let notified = false;
    let blocked = false;
    while (!this.stopped) {
      const seenSequence = this.listener.sequence;
      let read: LogScan;
      try {
        await this.listener.ensureListening();
        read = await this.reader.scan({ fromPosition: this.cursor, limit: batchSize, filter: this.options.filter });
        errorDelay = 50;
      } catch {
        await this.listener.wait(errorDelay);
        errorDelay = Math.min(errorDelay * 2, READ_RETRY_MAX_MS);
        continue;
      }
      if (this.stopped) break;
      if (read.scannedTo) {
        // Read on until a read finds nothing more: the log is drained for now.
        await this.handler(read.events, read.scannedTo);
        this.cursor = read.scannedTo;
        notified = false;
        blocked = false;
        blockedDelay = BLOCKED_RETRY_MIN_MS;
        // A paced subscriber reads on at once only through a backlog. Under a steady load every read
        // finds a few new commits: reading again at once would read the log once per round trip.
        if (this.options.pace?.readEveryMs && !read.full) await sleep(this.options.pace.readEveryMs);
        continue;
      }
      // Told of a commit, yet nothing visible: an older transaction still in flight holds it back.
      if (notified || this.listener.sequence !== seenSequence) blocked = true;
      notified = false;
      if (blocked && blockedDelay < this.idlePollMs) {
        await sleep(blockedDelay);
        blockedDelay *= 2;
        continue;
      }
      blocked = false;
      blockedDelay = BLOCKED_RETRY_MIN_MS;
      notified = await this.listener.wait(this.idlePollMs);
      // A subscriber that need not follow closely lets the commits of a while make one read.
      if (notified && this.options.pace?.readEveryMs) await sleep(this.options.pace.readEveryMs);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.listener.wakeAll();
    await this.finished.catch(() => undefined);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
