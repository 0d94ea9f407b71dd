import { createHash } from 'node:crypto';
import { Pool } from 'pg';
import {
  CountEventsQuery,
  AppendResult,
  BatchHandler,
  DuplicateEventIds,
  EventStore,
  EventStoreUnavailable,
  ExpectedRevision,
  NewEvent,
  AppendOptions,
  ReadAllOptions,
  ReadStreamOptions,
  StreamRevision,
  RecordedEvent,
  Subscription,
  SubscribeOptions,
  WrongExpectedRevision,
} from '../event-store.port';
import { Position } from '../position';
import { isConnectionError } from './connection-errors';
import { countEvents } from './postgres-event-count';
import { PostgresNotificationListener } from './postgres-notification-listener';
import { LogScan, LogScanner, PostgresSubscription } from './postgres-subscription';
import { InlineProjector } from './inline-projector';
import { appendInline } from './inline-append';
import { inTransaction } from '../../database/transaction';
import { prepareOnce } from '../../database/prepared-statements';
import { STREAM_MOVED } from './migrations/1764500000000-append-conditions';
import { AppendRow, EventRow, REQUIRE_REVISION, SELECT_COLUMNS, appendQuery, requireRevision, toRecordedEvent } from './postgres-event-store.sql';

const EVENTS_CHANNEL = 'es_events';
const UNIQUE_VIOLATION = '23505';

/** The least time between two NOTIFYs: what a subscriber in another process may wait more under load. */
const NOTIFY_EVERY_MS = 2;
/**
 * One statement, one transaction that skips waiting for the WAL flush (a notification lost in a crash
 * is made good by the subscribers' idle poll). Listeners receive it once it commits, as ever.
 */
const NOTIFY_SQL = `SELECT set_config('synchronous_commit', 'off', true), pg_notify('${EVENTS_CHANNEL}', '')`;

export class PostgresEventStore implements EventStore {
  private readonly listener: PostgresNotificationListener;
  private readonly subscriptions = new Set<PostgresSubscription>();
  /** The NOTIFY in flight, if any, and whether another append committed since it was sent. */
  private notifying?: Promise<void>;
  private notifyAgain = false;
  /** When the last NOTIFY was sent (`performance.now()`). */
  private notifiedAt = -Infinity;
  /** What subscriptions read the log through: this store's reads, on `options.subscriptionPool`. */
  private readonly subscriptionReader: LogScanner;

  constructor(
    private readonly pool: Pool,
    private readonly options: {
      ownsPool?: boolean;
      idlePollMs?: number;
      /**
       * Where subscriptions read the log (default: `pool`). Given a pool of their own, consumers'
       * reads do not queue behind whatever else fills `pool` (requests, appends), while their wake-up
       * stays in-process. Not ended by `close()`: its owner ends it.
       */
      subscriptionPool?: Pool;
      /** Read models written in each append's transaction (see `InlineProjector`). */
      inline?: InlineProjector;
      /**
       * Record keyed requests in `idempotency_keys` within each append's statement (the table is the
       * application's: libs/application/idempotency-index.ts, created with the other declared tables).
       */
      recordIdempotencyKeys?: boolean;
    } = {},
  ) {
    this.listener = new PostgresNotificationListener(pool, EVENTS_CHANNEL);
    const readPool = options.subscriptionPool ?? pool;
    this.subscriptionReader = { scan: (o) => this.scanOn(readPool, o) };
    this.inlineProjections = options.inline?.names ?? [];
    this.recordsIdempotencyKeys = options.recordIdempotencyKeys ?? false;
  }

  readonly inlineProjections: readonly string[];
  readonly recordsIdempotencyKeys: boolean;

  async append(streamName: string, events: readonly NewEvent[], expected: ExpectedRevision, options: AppendOptions = {}): Promise<AppendResult> {
    if (events.length === 0) throw new Error('append needs at least one event');
    const unchanged = options.unchanged ?? [];
    for (let attempt = 0; ; attempt++) {
      try {
        const row = await this.tryAppend(streamName, events, expected, unchanged);
        if (row.last_revision !== null && row.commit !== null && row.last_position !== null) {
          this.wakeSubscribers();
          return {
            nextExpectedRevision: Number(row.last_revision),
            position: { commit: BigInt(row.commit), prepare: BigInt(row.last_position) },
          };
        }
        const replay = await this.findPreviousAppend(streamName, events, expected);
        if (replay) return replay;
        const actual = Number(row.current_revision);
        throw new WrongExpectedRevision(streamName, expected, actual === -1 ? 'no_stream' : actual);
      } catch (error) {
        // A read-model row two appends both created, or a deadlock between inline writers: the whole
        // transaction rolled back, so the append is simply tried again.
        if ((isUniqueViolation(error) && errorTable(error) !== 'es_events') || isDeadlock(error)) {
          if (attempt < 10) continue;
        }
        const moved = streamMoved(error, unchanged);
        if (moved) throw moved;
        if (!isUniqueViolation(error)) throw this.translate(error);
        const replay = await this.findPreviousAppend(streamName, events, expected);
        if (replay) return replay;
        if ((error as { constraint?: string }).constraint === 'es_events_event_id_key') {
          throw new DuplicateEventIds(streamName, events.map((e) => e.id));
        }
        // A concurrent writer took the same revision. Only `any` may simply try again.
        if (expected === 'any' && attempt < 10) continue;
        throw new WrongExpectedRevision(streamName, expected, await this.currentRevision(streamName));
      }
    }
  }

  /**
   * Wakes subscribers after a committed append: this process's at once, other processes' through one
   * `pg_notify` in its own transaction. Notifications are coalesced: while one is in flight, any
   * number of further appends cause one more, sent when it completes, so a burst of appends costs
   * one or two NOTIFY transactions rather than one each, and no append waits for one. Under a
   * steady load NOTIFYs are at least `NOTIFY_EVERY_MS` apart: sent back to back they were one
   * transaction for every two or three appends of 16 writers. Should the
   * process stop between a commit and its notification, subscribers elsewhere still find the events
   * on their idle poll (`idlePollMs`), as they do after a lost LISTEN connection.
   *
   * The NOTIFY's transaction commits asynchronously (`NOTIFY_SQL`): it writes nothing anyone reads
   * back, so it need not wait for its commit record to reach disk, and appends do not share their
   * WAL flushes with it.
   */
  private wakeSubscribers(): void {
    this.listener.wakeAll();
    if (this.notifying) {
      this.notifyAgain = true;
      return;
    }
    this.notifying = (async () => {
      do {
        this.notifyAgain = false;
        const early = this.notifiedAt + NOTIFY_EVERY_MS - performance.now();
        if (early > 0) await new Promise((resolve) => setTimeout(resolve, early));
        this.notifiedAt = performance.now();
        await this.pool.query(NOTIFY_SQL).catch(() => undefined);
      } while (this.notifyAgain);
    })().finally(() => {
      this.notifying = undefined;
    });
  }

  private async tryAppend(streamName: string, events: readonly NewEvent[], expected: ExpectedRevision, unchanged: readonly StreamRevision[]): Promise<AppendRow> {
    const plan = this.options.inline?.plan(streamName, events, expected);
    // The statement that records a key costs every append that has none a CTE more: only keyed ones run it.
    const recordKey = this.recordsIdempotencyKeys && typeof events[0].metadata.idempotency_key === 'string';
    if (plan) return appendInline(this.pool, plan, streamName, events, expected, recordKey, unchanged);
    const append = appendQuery(streamName, events, expected, recordKey);
    if (unchanged.length === 0) return (await this.pool.query<AppendRow>(append)).rows[0];
    return inTransaction(this.pool, async (client) => {
      await prepareOnce(client, [REQUIRE_REVISION]);
      await client.query(unchanged.map(requireRevision).join(';\n'));
      return (await client.query<AppendRow>(append)).rows[0];
    });
  }

  /**
   * A retried append carries the ids it was first sent with. When those events already stand in
   * this stream, contiguously and where the expectation put them, the retry succeeds without
   * writing, as EventStoreDB's idempotent append does.
   */
  private async findPreviousAppend(
    streamName: string,
    events: readonly NewEvent[],
    expected: ExpectedRevision,
  ): Promise<AppendResult | undefined> {
    const { rows } = await this.pool.query<{ stream_name: string; stream_revision: string; commit: string; global_position: string }>(
      `SELECT stream_name, stream_revision, transaction_id::text AS commit, global_position
         FROM es_events WHERE event_id = ANY($1::uuid[]) ORDER BY global_position`,
      [events.map((e) => e.id)],
    );
    if (rows.length === 0) return undefined;
    const first = Number(rows[0].stream_revision);
    const sameAppend =
      rows.length === events.length &&
      rows.every((r, i) => r.stream_name === streamName && Number(r.stream_revision) === first + i) &&
      (typeof expected !== 'number' || expected === first - 1) &&
      (expected !== 'no_stream' || first === 0);
    if (!sameAppend) throw new DuplicateEventIds(streamName, events.map((e) => e.id));
    const last = rows[rows.length - 1];
    return {
      nextExpectedRevision: Number(last.stream_revision),
      position: { commit: BigInt(last.commit), prepare: BigInt(last.global_position) },
    };
  }

  private async currentRevision(streamName: string): Promise<number | 'no_stream'> {
    const { rows } = await this.pool.query<{ rev: string | null }>(
      'SELECT max(stream_revision)::text AS rev FROM es_events WHERE stream_name = $1',
      [streamName],
    );
    return rows[0].rev === null ? 'no_stream' : Number(rows[0].rev);
  }

  async readStream(streamName: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const params: unknown[] = [streamName];
    let where = 'stream_name = $1';
    if (options.fromRevision !== undefined) {
      params.push(options.fromRevision);
      where += backwards ? ` AND stream_revision <= $${params.length}` : ` AND stream_revision >= $${params.length}`;
    }
    let limit = '';
    if (options.maxCount !== undefined) {
      params.push(options.maxCount);
      limit = ` LIMIT $${params.length}`;
    }
    const rows = await this.query<EventRow>(
      `SELECT ${SELECT_COLUMNS} FROM es_events WHERE ${where}
       ORDER BY stream_revision ${backwards ? 'DESC' : 'ASC'}${limit}`,
      params,
    );
    return rows.map(toRecordedEvent);
  }

  async readStreams(streamNames: readonly string[]): Promise<RecordedEvent[][]> {
    const rows = await this.query<EventRow>(
      `SELECT ${SELECT_COLUMNS} FROM es_events WHERE stream_name = ANY($1::text[])
       ORDER BY stream_name, stream_revision`,
      [streamNames],
    );
    const byStream = new Map<string, RecordedEvent[]>(streamNames.map((name) => [name, []]));
    for (const row of rows) byStream.get(row.stream_name)?.push(toRecordedEvent(row));
    return streamNames.map((name) => byStream.get(name) ?? []);
  }

  /**
   * Reads in (transaction id, sequence) order and only below the oldest transaction still in flight,
   * so an event whose transaction commits late is never passed over: anything not yet visible
   * belongs to a transaction that every later read will still find ahead of the reader.
   */
  readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    return this.readAllOn(this.pool, options);
  }

  private async readAllOn(pool: Pool, options: ReadAllOptions): Promise<RecordedEvent[]> {
    const params: unknown[] = [];
    const conditions = [...logWindow(options, params), ...filterConditions(options.filter, params)];
    params.push(options.limit ?? 1000);
    const rows = await this.query<EventRow>(
      `SELECT ${SELECT_COLUMNS} FROM es_events WHERE ${conditions.join(' AND ')}
       ORDER BY transaction_id, global_position LIMIT $${params.length}`,
      params,
      pool,
    );
    return rows.map(toRecordedEvent);
  }

  /**
   * A subscription's read: the next `limit` events of the log after `fromPosition`, of which those the
   * filter takes are returned whole, and the position of the last one read. A consumer that follows
   * few event types thus moves past the others as it reads them, instead of reading them again on
   * every wake-up from its last own event on, at a cost that would grow with the log.
   */
  scanAll(options: ReadAllOptions): Promise<LogScan> {
    return this.scanOn(this.pool, options);
  }

  private async scanOn(pool: Pool, options: ReadAllOptions): Promise<LogScan> {
    const params: unknown[] = [];
    const window = logWindow(options, params);
    params.push(options.limit ?? 1000);
    const limit = params.length;
    const taken = filterConditions(options.filter, params);
    if (taken.length === 0) {
      const events = await this.readAllOn(pool, options);
      return { events, scannedTo: events.at(-1)?.position, full: events.length >= (options.limit ?? 1000) };
    }
    // The window's last row comes back whether taken or not: it is where the next read starts.
    const rows = await this.query<EventRow & { taken: boolean; read_count: string }>(
      `SELECT * FROM (
         SELECT ${SELECT_COLUMNS}, transaction_id AS log_order, ${taken.join(' AND ')} AS taken,
                lead(global_position) OVER (ORDER BY transaction_id, global_position) IS NULL AS last_read,
                count(*) OVER () AS read_count
           FROM (SELECT * FROM es_events WHERE ${window.join(' AND ')} ORDER BY transaction_id, global_position LIMIT $${limit}) read) rows
        WHERE taken OR last_read
        ORDER BY log_order, global_position`,
      params,
      pool,
    );
    const last = rows[rows.length - 1];
    return {
      events: rows.filter((r) => r.taken).map(toRecordedEvent),
      scannedTo: last ? { commit: BigInt(last.commit), prepare: BigInt(last.global_position) } : undefined,
      full: last ? Number(last.read_count) >= Number(params[limit - 1]) : false,
    };
  }

  subscribeToAll(options: SubscribeOptions, handler: BatchHandler): Subscription {
    const subscription = new PostgresSubscription(this.subscriptionReader, this.listener, options, handler, this.options.idlePollMs ?? 1000);
    this.subscriptions.add(subscription);
    void subscription.finished.catch(() => undefined).finally(() => this.subscriptions.delete(subscription));
    return subscription;
  }

  async headPosition(): Promise<Position | undefined> {
    const rows = await this.query<{ commit: string; global_position: string }>(
      `SELECT transaction_id::text AS commit, global_position FROM es_events
        WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY transaction_id DESC, global_position DESC LIMIT 1`,
      [],
    );
    return rows[0] ? { commit: BigInt(rows[0].commit), prepare: BigInt(rows[0].global_position) } : undefined;
  }

  countEvents(query: CountEventsQuery): Promise<number> {
    return countEvents(this.pool, query);
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    await this.notifying;
    await this.listener.close();
    if (this.options.ownsPool) await this.pool.end();
  }

  private async query<Row extends object>(sql: string, params: unknown[], pool: Pool = this.pool): Promise<Row[]> {
    try {
      // Named: each connection parses and plans each of the store's few query shapes once.
      return (await pool.query<Row>({ name: statementName(sql), text: sql, values: params })).rows;
    } catch (error) {
      throw this.translate(error);
    }
  }

  private translate(error: unknown): unknown {
    return isConnectionError(error) ? new EventStoreUnavailable(error) : error;
  }
}

/** The WrongExpectedRevision of an append refused by `es_require_revision` (one of `unchanged` had moved on). */
function streamMoved(error: unknown, unchanged: readonly StreamRevision[]): WrongExpectedRevision | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error) || error.code !== STREAM_MOVED) return undefined;
  const actual = 'detail' in error ? Number(error.detail) : NaN;
  const moved = unchanged.find((s) => s.revision !== actual) ?? unchanged[0];
  if (!moved) return undefined;
  return new WrongExpectedRevision(moved.streamName, moved.revision === -1 ? 'no_stream' : moved.revision, Number.isInteger(actual) ? (actual === -1 ? 'no_stream' : actual) : 'unknown');
}

function errorTable(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as { table?: string }).table : undefined;
}

function isDeadlock(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === '40P01';
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === UNIQUE_VIOLATION;
}

const statementNames = new Map<string, string>();

/** One name per query text, so that no connection is asked to prepare two texts under one name. */
function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (!name) statementNames.set(sql, (name = `es_read_${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`));
  return name;
}

/** The log after `fromPosition` that a reader may see: below the oldest transaction in flight, unless told otherwise. */
function logWindow(options: ReadAllOptions, params: unknown[]): string[] {
  const conditions = options.beyondOpenTransactions ? ['true'] : ['transaction_id < pg_snapshot_xmin(pg_current_snapshot())'];
  if (options.fromPosition) {
    params.push(options.fromPosition.commit.toString(), options.fromPosition.prepare.toString());
    conditions.push(`(transaction_id, global_position) > ($${params.length - 1}::xid8, $${params.length}::bigint)`);
  }
  return conditions;
}

function filterConditions(filter: ReadAllOptions['filter'], params: unknown[]): string[] {
  const conditions: string[] = [];
  if (filter?.eventTypes) {
    params.push(filter.eventTypes);
    conditions.push(`event_type = ANY($${params.length}::text[])`);
  }
  if (filter?.streamPrefixes) {
    params.push(filter.streamPrefixes.map((p) => `${p.replace(/[\\%_]/g, (c) => `\\${c}`)}%`));
    conditions.push(`stream_name LIKE ANY($${params.length}::text[])`);
  }
  return conditions;
}
