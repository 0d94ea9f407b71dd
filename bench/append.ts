import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { EventStore, NewEvent } from '../libs/event-store/event-store.port';
import { EventStoreDbEventStore } from '../libs/event-store/eventstoredb/eventstoredb-event-store';
import { PostgresEventStore } from '../libs/event-store/postgres/postgres-event-store';
import { EventStoreDbServer } from './eventstoredb-server';
import { BenchResult, Measured, RssSampler, TimedSamples, round, summariseRounds, timedLoop, timedSamples } from './stats';

export const WRITERS = 16;

/**
 * The baseline table: es_events' columns, defaults, identity and indexes (primary key, the two
 * unique constraints, the log-order index), but not its append-only trigger (which fires on
 * UPDATE/DELETE only, so it would cost an insert nothing anyway).
 */
export async function createRawTable(pool: Pool): Promise<void> {
  await pool.query('DROP TABLE IF EXISTS bench_raw_events');
  await pool.query('CREATE TABLE bench_raw_events (LIKE es_events INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES)');
}

function newEvent(i: number): NewEvent {
  return {
    id: randomUUID(),
    type: 'BenchEventHappened',
    data: { installation_id: randomUUID(), version: '1.2.3', sequence: i, config: { replicas: 2, region: 'eu-west-1' } },
    metadata: {
      schema_version: 1,
      correlation_id: randomUUID(),
      causation_id: null,
      actor: 'bench',
      occurred_at: new Date().toISOString(),
    },
  };
}

/** Rounds of each side, alternating (baseline first), as append_1_peer's: the machine's drift weighs on both alike. */
const ROUNDS = 3;

/**
 * `WRITERS` concurrent loops, each appending `batch` fresh events per call to its own stream of
 * `store` at the exact expected revision (continued across rounds), events built and serialised
 * inside the timed call.
 */
function appendsTo(store: EventStore, streamPrefix: string, batch: number): (worker: number) => Promise<void> {
  const revisions = new Array<number>(WRITERS).fill(-1);
  return async (worker) => {
    const expected = revisions[worker] === -1 ? 'no_stream' : revisions[worker];
    const result = await store.append(`${streamPrefix}-${worker}`, events(batch), expected);
    revisions[worker] = result.nextExpectedRevision;
  };
}

/** `WRITERS` concurrent loops of `appendsTo` for `durationMs`. */
async function measureAppends(store: EventStore, streamPrefix: string, batch: number, durationMs: number): Promise<Measured> {
  return timedLoop(durationMs, WRITERS, appendsTo(store, streamPrefix, batch));
}

export const events = (n: number) => Array.from({ length: n }, (_, i) => newEvent(i));
const nameOf = (batch: number) => `append_${batch}`;

/**
 * Ours (PostgresEventStore.append) against the baseline (raw INSERT), `batch` events per call, in
 * `ROUNDS` interleaved rounds of `durationMs / ROUNDS` per side.
 */
export async function benchAppend(pool: Pool, rss: RssSampler, batch: number, durationMs: number): Promise<BenchResult> {
  const store = new PostgresEventStore(pool);
  const runId = randomUUID().slice(0, 8);
  const rawRevisions = new Array<number>(WRITERS).fill(-1);

  const rawSql = buildInsert(batch);
  const baseline = async (worker: number): Promise<void> => {
    const stream = `bench-raw-${runId}-${batch}-${worker}`;
    const batchEvents = events(batch);
    const params: unknown[] = [];
    for (const e of batchEvents) {
      rawRevisions[worker] += 1;
      params.push(stream, rawRevisions[worker], e.id, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata));
    }
    await pool.query(rawSql, params);
  };
  const ours = appendsTo(store, `bench-${runId}-${batch}`, batch);

  // A short warm-up (connections, plans, caches), then the measured rounds, baseline first in each.
  const warm = Math.min(500, durationMs / 4);
  await timedLoop(warm, WRITERS, async () => void (await pool.query('SELECT 1')));
  rss.reset();
  const baseRounds: TimedSamples[] = [];
  const ourRounds: TimedSamples[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    baseRounds.push(await timedSamples(durationMs / ROUNDS, WRITERS, baseline));
    ourRounds.push(await timedSamples(durationMs / ROUNDS, WRITERS, ours));
  }
  await store.close();
  const base = summariseRounds(baseRounds);
  const measured = summariseRounds(ourRounds);

  const ratio = round(measured.ops_per_sec / base.ops_per_sec, 3);
  return {
    name: nameOf(batch),
    parameters: { target_store: 'postgresql', events_per_append: batch, writers: WRITERS, distinct_streams: true, duration_s: durationMs / 1000, rounds: `${ROUNDS} × ${round(durationMs / ROUNDS / 1000, 2)} s per side, interleaved (baseline first)`, expected_revision: 'exact', baseline: `INSERT of ${batch} row(s) into bench_raw_events` },
    ...measured,
    peak_rss_mb: rss.peakMb(),
    baseline: base,
    ratio,
    target: 'ratio >= 0.8',
    met: ratio >= 0.8,
  };
}

/**
 * The same appends through the EventStoreDB adapter (`EventStoreDbEventStore`, the real
 * `@kurrent/kurrentdb-client`), reported as `append_<n>_eventstoredb` beside the PostgreSQL line and
 * against the raw PostgreSQL INSERT baseline that line measured in this run. `server` says what
 * answered: figures on the gRPC test double measure the double, not EventStoreDB.
 */
export async function benchAppendEventStoreDb(
  connectionString: string,
  server: EventStoreDbServer,
  rss: RssSampler,
  batch: number,
  durationMs: number,
  postgres: BenchResult,
): Promise<BenchResult> {
  const store = new EventStoreDbEventStore(connectionString);
  try {
    const runId = randomUUID().slice(0, 8);
    // Connects the client (its first append asks for the server's features) before the clock starts.
    await store.append(`bench-esdb-warm-${runId}`, events(1), 'no_stream');
    rss.reset();
    const measured = await measureAppends(store, `bench-esdb-${runId}-${batch}`, batch, durationMs);
    const ratio = round(measured.ops_per_sec / postgres.baseline.ops_per_sec, 3);
    return {
      name: `${nameOf(batch)}_eventstoredb`,
      parameters: {
        target_store: 'eventstoredb',
        eventstoredb_server_version: server.version,
        eventstoredb_test_double: server.isTestDouble,
        note: server.note,
        events_per_append: batch,
        writers: WRITERS,
        distinct_streams: true,
        duration_s: durationMs / 1000,
        expected_revision: 'exact',
        baseline: `the raw PostgreSQL INSERT of ${batch} row(s) measured for ${postgres.name} in this run`,
        rss_process: 'the bench process (the EventStoreDB client; the server is not counted)',
      },
      ...measured,
      peak_rss_mb: rss.peakMb(),
      baseline: postgres.baseline,
      ratio,
      target: 'ratio >= 0.8',
      met: ratio >= 0.8,
    };
  } finally {
    await store.close();
  }
}

function buildInsert(rows: number): string {
  const values: string[] = [];
  for (let r = 0; r < rows; r++) {
    const b = r * 6;
    values.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}::jsonb, $${b + 6}::jsonb)`);
  }
  return `INSERT INTO bench_raw_events (stream_name, stream_revision, event_id, event_type, data, metadata) VALUES ${values.join(', ')}`;
}
