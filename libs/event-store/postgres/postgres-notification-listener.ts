import { Client, Pool } from 'pg';
import { sessionBesidePool } from '../../database/session-beside-pool';

/**
 * One LISTEN connection per store, shared by every subscription in the process. A waiter resolves on
 * the next notification or when its timeout passes; the timeout is a safety net (a lost connection,
 * a reader held back by an unrelated transaction), not the way new events are found.
 *
 * The session is opened with the pool's settings but outside the pool, so a process-long LISTEN
 * never takes a connection the readers and writers need.
 */
export class PostgresNotificationListener {
  private client?: Client;
  private connecting?: Promise<void>;
  private waiters = new Set<() => void>();
  private closed = false;
  /** Bumped on every notification, so a reader can tell whether one arrived while it was reading. */
  sequence = 0;

  constructor(
    private readonly pool: Pool,
    private readonly channel: string,
  ) {}

  /** Resolves true when woken by a notification, false on timeout. */
  async wait(timeoutMs: number): Promise<boolean> {
    await this.ensureListening().catch(() => undefined);
    return new Promise<boolean>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(wake);
    });
  }

  /** Wakes every waiter now, e.g. when a subscription is stopped. */
  wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }

  ensureListening(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = sessionBesidePool(this.pool);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      void client.end().catch(() => undefined);
    };
    const drop = () => {
      if (this.client === client) {
        this.client = undefined;
        // Readers fall back to their timeout until the next wait() reconnects.
        this.wakeAll();
      }
      end();
    };
    client.on('notification', () => {
      this.sequence++;
      this.wakeAll();
    });
    client.on('error', drop);
    client.on('end', drop);
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (error) {
      // A server going down between connect and LISTEN: end the session rather than leave it open.
      end();
      throw error;
    }
    if (this.closed) {
      end();
      return;
    }
    this.client = client;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeAll();
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => undefined);
  }
}
