import { ThrottlerStorage } from '@nestjs/throttler';
import type { Pool } from 'pg';
import { isConnectionError } from '../../../libs/event-store/postgres/connection-errors';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

const TABLE = 'rate_limit_windows';
const SWEEP_EVERY_MS = 60_000;

/**
 * Rate-limit counters kept in PostgreSQL, so every API replica charges the same budget (N replicas
 * must not allow N times the limit) with no infrastructure beyond the database the API already has.
 *
 * A fixed window per bucket: one UPSERT per request both counts the hit and, when the bucket's window
 * has ended, starts a new one; the database clock decides, so replicas need not agree on the time.
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

  constructor(private readonly pool: Pool) {}

  async increment(key: string, ttl: number, limit: number): Promise<ThrottlerStorageRecord> {
    try {
      return await this.count(key, ttl, limit);
    } catch (error) {
      if (!isConnectionError(error)) throw error;
      return { totalHits: 0, timeToExpire: Math.ceil(ttl / 1000), isBlocked: false, timeToBlockExpire: 0 };
    }
  }

  private async count(key: string, ttl: number, limit: number): Promise<ThrottlerStorageRecord> {
    await this.ensureTable();
    this.sweepNow();
    const { rows } = await this.pool.query<{ hits: number; seconds_left: number }>(
      `INSERT INTO ${TABLE} AS w (bucket, window_ends_at, hits)
       VALUES ($1, now() + $2 * interval '1 millisecond', 1)
       ON CONFLICT (bucket) DO UPDATE SET
         hits = CASE WHEN w.window_ends_at <= now() THEN 1 ELSE w.hits + 1 END,
         window_ends_at = CASE WHEN w.window_ends_at <= now() THEN EXCLUDED.window_ends_at ELSE w.window_ends_at END
       RETURNING hits, greatest(1, ceil(extract(epoch FROM window_ends_at - now())))::int AS seconds_left`,
      [key, ttl],
    );
    const { hits, seconds_left: secondsLeft } = rows[0];
    const isBlocked = hits > limit;
    return { totalHits: hits, timeToExpire: secondsLeft, isBlocked, timeToBlockExpire: isBlocked ? secondsLeft : 0 };
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
  }
}
