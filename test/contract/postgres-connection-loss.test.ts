import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import pino from 'pino';
import { RecordedEvent } from '../../libs/event-store/event-store.port';
import { CheckpointStore } from '../../libs/event-store/consumers/checkpoint-store';
import { ConsumerRunner } from '../../libs/event-store/consumers/consumer-runner';
import { LogConsumer } from '../../libs/event-store/consumers/log-consumer';
import { Position } from '../../libs/event-store/position';
import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { PostgresNotificationListener } from '../../libs/event-store/postgres/postgres-notification-listener';
import { createPool } from '../../libs/database/database';
import { TestDatabase, createTestDatabase } from '../support/test-database';

/*
 * What a PostgreSQL restart does to a consumer, without restarting the shared server: every session
 * of the database is terminated at once (as a restart does), and the consumers must come back by
 * themselves, on a pool small enough that one leaked or hoarded connection would stall them.
 */

jest.setTimeout(60_000);

const logger = pino({ level: 'silent' });

/** Records what it is given and checkpoints in the same database, as a projection does. */
class RecordingConsumer implements LogConsumer {
  readonly seen: string[] = [];
  readonly batchSize = 50;
  readonly filter = { eventTypes: ['Tick'] };

  constructor(
    readonly name: string,
    private readonly checkpoints: CheckpointStore,
  ) {}

  loadCheckpoint(): Promise<Position | undefined> {
    return this.checkpoints.load(this.name);
  }

  async handle(events: RecordedEvent[]): Promise<void> {
    await this.checkpoints.save(this.name, events[events.length - 1].position);
    for (const e of events) this.seen.push(e.id);
  }
}

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('PostgreSQL consumers across lost connections', () => {
  let db: TestDatabase;
  let pool: Pool;
  let store: PostgresEventStore;
  const runners: ConsumerRunner[] = [];

  beforeEach(async () => {
    db = await createTestDatabase('connloss');
    // Three connections for everything the consumers do: reads, checkpoints, LISTEN.
    pool = new Pool({ connectionString: db.url, max: 3, connectionTimeoutMillis: 2000 });
    pool.on('error', () => undefined);
    store = new PostgresEventStore(pool, { idlePollMs: 300 });
  });

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop()));
    await store.close();
    await pool.end();
    await db.drop();
  });

  /** One runner per consumer, started, and every one of them holding its lock. */
  const startRunners = async (consumers: RecordingConsumer[]): Promise<void> => {
    for (const consumer of consumers) {
      const runner = new ConsumerRunner(pool, store, consumer, logger, { lockRetryMs: 100, retryDelayMs: 50 });
      runners.push(runner);
      runner.start();
    }
    await waitUntil('every runner active', () => runners.every((r) => r.isActive));
  };

  const appendTicks = async (n: number): Promise<string[]> => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      ids.push(id);
      const stream = `tick-${randomUUID()}`;
      // Right after the sessions are terminated the pool may still hand out a dead idle connection
      // once: the append is retried, and 'any' keeps a retry of a committed append harmless to check.
      for (let attempt = 0; ; attempt++) {
        try {
          await store.append(stream, [{ id, type: 'Tick', data: { i }, metadata: {} as never }], 'any');
          break;
        } catch (error) {
          if (attempt >= 5) throw error;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
    return ids;
  };

  it('a LISTEN that fails leaves no session behind and takes nothing from the pool', async () => {
    const sessions = async () =>
      (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)).rows[0].n;
    const tiny = new Pool({ connectionString: db.url, max: 1, connectionTimeoutMillis: 1000 });
    tiny.on('error', () => undefined);
    const listener = new PostgresNotificationListener(tiny, '"no such"channel');
    try {
      const baseline = await sessions();
      // An invalid channel makes LISTEN itself fail once the session is open: as a server going
      // down between connecting and LISTEN does.
      for (let i = 0; i < 5; i++) await expect(listener.ensureListening()).rejects.toThrow();
      await waitUntil('the failed sessions to end', async () => (await sessions()) <= baseline, 5000);
      expect(tiny.totalCount).toBe(0);
      await expect(tiny.query('SELECT 1 AS ok')).resolves.toMatchObject({ rows: [{ ok: 1 }] });
    } finally {
      await listener.close();
      await tiny.end();
    }
  });

  it('a checked-out client whose session is terminated between two queries does not end the process', async () => {
    const appPool = createPool(db.url, 2, 'connloss-app');
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const client = await appPool.connect();
      await client.query('BEGIN');
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      // The server's error message reaches the client while it runs no query, as a shutdown's does.
      await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
      await new Promise((r) => setTimeout(r, 300));
      await expect(client.query('SELECT 1')).rejects.toThrow();
      client.release();
      await expect(appPool.query('SELECT 1 AS ok')).resolves.toMatchObject({ rows: [{ ok: 1 }] });
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await appPool.end();
    }
  });

  it('advisory locks and LISTEN do not take connections from the pool the consumers work with', async () => {
    const consumers = [1, 2, 3, 4, 5].map((i) => new RecordingConsumer(`locks-${i}`, new CheckpointStore(pool)));
    await startRunners(consumers);
    const ids = await appendTicks(5);
    // Five lock sessions and a LISTEN on a pool of three would leave the consumers nothing to read with.
    await waitUntil('every consumer to see every event', () => consumers.every((c) => ids.every((id) => c.seen.includes(id))));
  });

  it('when every session of the database is terminated, the consumers resume from their checkpoints by themselves', async () => {
    const consumers = [1, 2, 3].map((i) => new RecordingConsumer(`restart-${i}`, new CheckpointStore(pool)));
    await startRunners(consumers);
    const before = await appendTicks(3);
    await waitUntil('the first events', () => consumers.every((c) => before.every((id) => c.seen.includes(id))));

    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    // The lock sessions, the LISTEN and whatever the pools held: all gone at once.
    expect(rows[0].n).toBeGreaterThanOrEqual(consumers.length + 1);

    const after = await appendTicks(3);
    await waitUntil('the events appended after the loss', () => consumers.every((c) => after.every((id) => c.seen.includes(id))));
    await waitUntil('every runner active again', () => runners.every((r) => r.isActive));
    // Redelivery from the checkpoint may repeat a batch, but no event is skipped and none is missing.
    for (const c of consumers) expect(new Set(c.seen)).toEqual(new Set([...before, ...after]));
  });

  it('a standby takes over when the active replica loses its lock session', async () => {
    const checkpoints = new CheckpointStore(pool);
    const first = new RecordingConsumer('failover', checkpoints);
    const second = new RecordingConsumer('failover', checkpoints);
    const active = new ConsumerRunner(pool, store, first, logger, { lockRetryMs: 100 });
    runners.push(active);
    active.start();
    await waitUntil('the first replica active', () => active.isActive);
    const standby = new ConsumerRunner(pool, store, second, logger, { lockRetryMs: 100 });
    runners.push(standby);
    standby.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(standby.isActive).toBe(false);

    await active.stop();
    await waitUntil('the standby active', () => standby.isActive);
    const ids = await appendTicks(2);
    await waitUntil('the standby to consume', () => ids.every((id) => second.seen.includes(id)));
    expect(first.seen.filter((id) => ids.includes(id))).toEqual([]);
  });
});
