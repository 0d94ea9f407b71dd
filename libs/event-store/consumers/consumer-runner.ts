import { Client, Pool } from 'pg';
import { advisoryUnlockAllOn, tryAdvisoryLockOn } from '../../database/advisory-lock';
import { sessionBesidePool } from '../../database/session-beside-pool';
import type { Logger } from 'pino';
import { EventStore, Subscription } from '../event-store.port';
import { LogConsumer } from './log-consumer';
import { traceBatch } from '../../observability/tracing';

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
 *
 * The lock lives on a session of its own, opened with the pool's settings but outside the pool: a
 * lock held for hours must not take one of the connections the consumers read and write with (with
 * five consumers and a pool of eight, the locks alone once left two).
 */
export class ConsumerRunner {
  private stopped = false;
  private lockClient?: Client;
  /** The session a standby asks for the lock on, kept between attempts. */
  private session?: Client;
  private subscription?: Subscription;
  private loop?: Promise<void>;
  private wake?: () => void;
  private losing?: Promise<void>;
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
      // A lost lock is wound down (subscription stopped, consumer deactivated) before this replica
      // asks for the lock again: a deactivation arriving after the next activation would undo it.
      if (this.losing) await this.losing;
      const activating = !this.lockClient;
      if (activating && !(await this.acquireLock())) {
        await this.pause(this.options.lockRetryMs ?? 2000);
        continue;
      }
      const held = this.lockClient;
      this.state = 'active';
      try {
        if (activating) await this.consumer.onActivate?.();
        const from = await this.consumer.loadCheckpoint();
        // stop() may have come while the checkpoint was loading: subscribing now would outlive it.
        if (this.stopped) break;
        // So may the loss of the lock: another replica may be active by now.
        if (this.lockClient !== held) continue;
        this.subscription = this.store.subscribeToAll(
          { fromPosition: from, filter: this.consumer.filter, batchSize: this.consumer.batchSize, pace: this.consumer.pace },
          async (events, readTo) => {
            if (events.length > 0) await traceBatch(this.consumer.name, events, () => this.consumer.handle(events));
            else if (readTo) await this.consumer.passOver?.(readTo);
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
    try {
      const session = this.session ?? (await this.openSession());
      if (!(await tryAdvisoryLockOn(session, `consumer:${this.consumer.name}`))) return false;
      this.lockClient = session;
      this.logger.info({ consumer: this.consumer.name }, 'consumer active');
      return true;
    } catch (error) {
      this.dropSession();
      this.lastError = error instanceof Error ? error.message : String(error);
      return false;
    }
  }

  private async openSession(): Promise<Client> {
    const session = sessionBesidePool(this.pool);
    // Losing the lock's connection means another replica may now be active: stop at once.
    const lost = () => {
      if (this.lockClient === session) this.loseLock(session);
      if (this.session === session) this.dropSession();
    };
    session.on('error', lost);
    session.on('end', lost);
    this.session = session;
    try {
      await session.connect();
    } catch (error) {
      this.dropSession();
      throw error;
    }
    return session;
  }

  private dropSession(): void {
    const session = this.session;
    this.session = undefined;
    if (session) void session.end().catch(() => undefined);
  }

  private loseLock(client: Client): void {
    if (this.lockClient !== client) return;
    this.lockClient = undefined;
    this.state = 'standby';
    this.logger.warn({ consumer: this.consumer.name }, 'consumer lock lost; standing by');
    const subscription = this.subscription;
    this.losing = (async () => {
      await subscription?.stop();
      await this.consumer.deactivate?.();
    })()
      .catch((error: unknown) => this.logger.warn({ consumer: this.consumer.name, err: String(error) }, 'winding down after a lost lock failed'))
      .finally(() => {
        this.losing = undefined;
      });
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
    await this.losing;
    await this.consumer.deactivate?.();
    const session = this.session;
    this.lockClient = undefined;
    this.session = undefined;
    if (session) {
      // Ending the session releases its locks; the explicit unlock makes the hand-over immediate
      // even if the disconnect is slow to reach the server.
      await advisoryUnlockAllOn(session).catch(() => undefined);
      await session.end().catch(() => undefined);
    }
    this.state = 'stopped';
  }
}
