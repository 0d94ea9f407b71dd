import { ThrottlerStorage } from '@nestjs/throttler';
import type { Pool } from 'pg';
import { isConnectionError } from '../../../libs/event-store/postgres/connection-errors';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

const TABLE = 'rate_limit_windows';
const SWEEP_EVERY_MS = 60_000;
/**
 * A replica takes this share of a bucket's limit from the shared counter at once and spends it
 * locally, so a busy principal costs one round trip per lease rather than per request. What a
 * replica leased but did not spend is lost to the window: at most 1% of the limit per replica.
 * Limits under 100 lease one hit at a time, exactly as if every request were counted.
 */
const LEASE_SHARE = 0.01;

/** Hits a replica took from the shared counter and has not spent yet, valid until its window ends. */
interface Lease {
  /** The shared count when the lease was taken, including the lease. */
  sharedHits: number;
  left: number;
  endsAt: number;
}

/**
 * Rate-limit counters kept in PostgreSQL, so every API replica charges the same budget (N replicas
 * must not allow N times the limit) with no infrastructure beyond the database the API already has.
 *
 * A fixed window per bucket: one UPSERT both counts hits and, when the bucket's window has ended,
 * starts a new one; the database clock decides, so replicas need not agree on the time. A replica
 * counts a busy bucket's hits a lease at a time (LEASE_SHARE), never more than the limit in all.
 * The table is UNLOGGED (no WAL, nothing to replicate): losing counters in a crash only resets
 * budgets. It is created at first use, under an advisory lock, because migrations are not ours to
 * add; expired rows are swept at most once a minute by whichever replica notices first.
 *
 * While the database cannot be reached the limiter lets requests through uncounted: every route that
 * needs the database answers 503 on its own, and the liveness probe must keep answering 200 rather
 * than have every replica restarted for an outage that is not theirs.
 */
export class PgThrottlerStorage implements ThrottlerStorage {
  private ready?: Promise<void>;
  private nextSweep = 0;
  private readonly leases = new Map<string, Lease>();
  /** One lease request per bucket at a time: concurrent requests wait for it rather than lease again. */
  private readonly leasing = new Map<string, Promise<void>>();

  constructor(private readonly pool: Pool) {}

  async increment(key: string, ttl: number, limit: number): Promise<ThrottlerStorageRecord> {
    try {
      for (;;) {
        const spent = this.spendLeased(key);
        if (spent) return spent;
        const pending = this.leasing.get(key);
        if (pending) {
          await pending;
          continue;
        }
        const lease = this.lease(key, ttl, limit);
        this.leasing.set(key, lease.then(() => undefined, () => undefined));
        try {
          const refused = await lease;
          if (refused) return refused;
        } finally {
          this.leasing.delete(key);
        }
      }
    } catch (error) {
      if (!isConnectionError(error)) throw error;
      return { totalHits: 0, timeToExpire: Math.ceil(ttl / 1000), isBlocked: false, timeToBlockExpire: 0 };
    }
  }

  /** One hit from this replica's lease, while it lasts and its window has not ended. */
  private spendLeased(key: string): ThrottlerStorageRecord | undefined {
    const lease = this.leases.get(key);
    if (!lease || lease.left <= 0 || lease.endsAt <= Date.now()) return undefined;
    lease.left--;
    return { totalHits: lease.sharedHits - lease.left, timeToExpire: Math.max(1, Math.ceil((lease.endsAt - Date.now()) / 1000)), isBlocked: false, timeToBlockExpire: 0 };
  }

  /**
   * Adds a lease's worth of hits to the shared counter (one UPSERT, which also starts a new window
   * when the bucket's has ended; the database clock decides). Keeps what is left of the limit as
   * this replica's lease, or answers the refusal when nothing is.
   */
  private async lease(key: string, ttl: number, limit: number): Promise<ThrottlerStorageRecord | undefined> {
    await this.ensureTable();
    this.sweepNow();
    const size = Math.max(1, Math.floor(limit * LEASE_SHARE));
    const { rows } = await this.pool.query<{ hits: number; ms_left: number }>(
      `INSERT INTO ${TABLE} AS w (bucket, window_ends_at, hits)
       VALUES ($1, now() + $2 * interval '1 millisecond', $3)
       ON CONFLICT (bucket) DO UPDATE SET
         hits = CASE WHEN w.window_ends_at <= now() THEN $3 ELSE w.hits + $3 END,
         window_ends_at = CASE WHEN w.window_ends_at <= now() THEN EXCLUDED.window_ends_at ELSE w.window_ends_at END
       RETURNING hits, greatest(0, floor(extract(epoch FROM window_ends_at - now()) * 1000))::int AS ms_left`,
      [key, ttl, size],
    );
    const { hits, ms_left: msLeft } = rows[0];
    const granted = Math.min(size, limit - (hits - size));
    if (granted <= 0) {
      this.leases.delete(key);
      const secondsLeft = Math.max(1, Math.ceil(msLeft / 1000));
      return { totalHits: hits, timeToExpire: secondsLeft, isBlocked: true, timeToBlockExpire: secondsLeft };
    }
    this.leases.set(key, { sharedHits: hits - size + granted, left: granted, endsAt: Date.now() + msLeft });
    return undefined;
  }

  private ensureTable(): Promise<void> {
    this.ready ??= this.createTable().catch((error: unknown) => {
      this.ready = undefined; // the database may be back on the next request
      throw error;
    });
    return this.ready;
  }

  private async createTable(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Two replicas starting at once would otherwise race on the catalog (duplicate type error).
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('${TABLE}'))`);
      await client.query(
        `CREATE UNLOGGED TABLE IF NOT EXISTS ${TABLE} (bucket text PRIMARY KEY, window_ends_at timestamptz NOT NULL, hits integer NOT NULL)`,
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private sweepNow(): void {
    const now = Date.now();
    if (now < this.nextSweep) return;
    this.nextSweep = now + SWEEP_EVERY_MS;
    // Best effort and off the request's path: a failed sweep only leaves dead rows for the next one.
    this.pool.query(`DELETE FROM ${TABLE} WHERE window_ends_at < now() - interval '1 minute'`).catch(() => undefined);
    for (const [key, lease] of this.leases) if (lease.endsAt <= now) this.leases.delete(key);
  }
}
