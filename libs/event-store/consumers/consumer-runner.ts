import { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import { EventStore, Subscription } from '../event-store.port';
import { LogConsumer } from './log-consumer';

export interface ConsumerRunnerOptions {
  /** How often a standby replica asks for the consumer's lock. */
  lockRetryMs?: number;
  /** First delay before redelivering after a failed batch; doubles up to 5 s. */
  retryDelayMs?: number;
}

/**
 * Backoff ceiling between redeliveries. Kept low: after a database outage every consumer should be
 * back within seconds of the database, not half a minute later.
 */
const MAX_RETRY_DELAY_MS = 5_000;

export type ConsumerState = 'standby' | 'active' | 'stopped';

/**
 * Runs one log consumer in at most one replica at a time. Each runner holds a session advisory lock
 * named after its consumer; the replica that holds it subscribes from the consumer's checkpoint, the
 * others wait and take over when the holder's connection dies. After a failed batch the subscription
 * restarts from the saved checkpoint, so a failure costs a redelivery, never a skipped event.
 */
export class ConsumerRunner {
  private stopped = false;
  private lockClient?: PoolClient;
  private subscription?: Subscription;
  private loop?: Promise<void>;
  private wake?: () => void;
  state: ConsumerState = 'standby';
  lastError?: string;

  constructor(
    private readonly pool: Pool,
    private readonly store: EventStore,
    readonly consumer: LogConsumer,
    private readonly logger: Logger,
    private readonly options: ConsumerRunnerOptions = {},
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    let retryDelay = this.options.retryDelayMs ?? 200;
    while (!this.stopped) {
      if (!this.lockClient && !(await this.acquireLock())) {
        await this.pause(this.options.lockRetryMs ?? 2000);
        continue;
      }
      this.state = 'active';
      try {
        const from = await this.consumer.loadCheckpoint();
        // stop() may have come while the checkpoint was loading: subscribing now would outlive it.
        if (this.stopped) break;
        this.subscription = this.store.subscribeToAll(
          { fromPosition: from, filter: this.consumer.filter, batchSize: this.consumer.batchSize },
          async (events) => {
            await this.consumer.handle(events);
            retryDelay = this.options.retryDelayMs ?? 200;
          },
        );
        await this.subscription.finished;
      } catch (error) {
        this.lastError = error instanceof Error ? error.message : String(error);
        if (this.stopped) break;
        this.logger.warn({ consumer: this.consumer.name, err: this.lastError, retryInMs: retryDelay }, 'consumer failed; redelivering from checkpoint');
        await this.pause(retryDelay);
        retryDelay = Math.min(retryDelay * 2, MAX_RETRY_DELAY_MS);
      } finally {
        this.subscription = undefined;
      }
    }
    this.state = 'stopped';
  }

  private async acquireLock(): Promise<boolean> {
    let client: PoolClient | undefined;
    try {
      client = await this.pool.connect();
      const { rows } = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked',
        [`consumer:${this.consumer.name}`],
      );
      if (!rows[0].locked) {
        client.release();
        return false;
      }
      const held = client;
      // Losing the lock's connection means another replica may now be active: stop at once.
      held.on('error', () => void this.loseLock(held));
      this.lockClient = held;
      this.logger.info({ consumer: this.consumer.name }, 'consumer active');
      return true;
    } catch (error) {
      client?.release(true);
      this.lastError = error instanceof Error ? error.message : String(error);
      return false;
    }
  }

  private async loseLock(client: PoolClient): Promise<void> {
    if (this.lockClient !== client) return;
    this.lockClient = undefined;
    this.state = 'standby';
    client.release(true);
    this.logger.warn({ consumer: this.consumer.name }, 'consumer lock lost; standing by');
    await this.subscription?.stop();
    await this.consumer.deactivate?.();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  get isActive(): boolean {
    return this.state === 'active';
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.subscription?.stop();
    await this.loop?.catch(() => undefined);
    await this.consumer.deactivate?.();
    const client = this.lockClient;
    this.lockClient = undefined;
    if (client) {
      await client.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
      client.release();
    }
    this.state = 'stopped';
  }
}
