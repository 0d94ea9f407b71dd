import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { NewEvent } from '../libs/event-store/event-store.port';
import { PostgresEventStore } from '../libs/event-store/postgres/postgres-event-store';
import { BenchResult, Measured, RssSampler, round, timedLoop } from './stats';

const WRITERS = 16;

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

/** One run of ours (PostgresEventStore.append) and of the baseline (raw INSERT), `batch` events per call. */
export async function benchAppend(pool: Pool, rss: RssSampler, batch: number, durationMs: number): Promise<BenchResult> {
  const name = batch === 1 ? 'append_1' : `append_${batch}`;
  const store = new PostgresEventStore(pool);
  const runId = randomUUID().slice(0, 8);
  const revisions = new Array<number>(WRITERS).fill(-1);
  const rawRevisions = new Array<number>(WRITERS).fill(-1);
  // Both sides build and serialise their events inside the timed operation, alike.
  const events = (n: number) => Array.from({ length: n }, (_, i) => newEvent(i));

  const rawSql = buildInsert(batch);
  const baseline = async (): Promise<Measured> =>
    timedLoop(durationMs, WRITERS, async (worker) => {
      const stream = `bench-raw-${runId}-${batch}-${worker}`;
      const batchEvents = events(batch);
      const params: unknown[] = [];
      for (const e of batchEvents) {
        rawRevisions[worker] += 1;
        params.push(stream, rawRevisions[worker], e.id, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata));
      }
      await pool.query(rawSql, params);
    });
  const ours = async (): Promise<Measured> =>
    timedLoop(durationMs, WRITERS, async (worker) => {
      const stream = `bench-${runId}-${batch}-${worker}`;
      const expected = revisions[worker] === -1 ? 'no_stream' : revisions[worker];
      const result = await store.append(stream, events(batch), expected);
      revisions[worker] = result.nextExpectedRevision;
    });

  // A short warm-up of each side (connections, plans, caches), then the measured runs: baseline first.
  const warm = Math.min(500, durationMs / 4);
  await timedLoop(warm, WRITERS, async () => void (await pool.query('SELECT 1')));
  rss.reset();
  const base = await baseline();
  const measured = await ours();
  await store.close();

  const ratio = round(measured.ops_per_sec / base.ops_per_sec, 3);
  return {
    name,
    parameters: { events_per_append: batch, writers: WRITERS, distinct_streams: true, duration_s: durationMs / 1000, expected_revision: 'exact', baseline: `INSERT of ${batch} row(s) into bench_raw_events` },
    ...measured,
    peak_rss_mb: rss.peakMb(),
    baseline: base,
    ratio,
    target: 'ratio >= 0.8',
    met: ratio >= 0.8,
  };
}

function buildInsert(rows: number): string {
  const values: string[] = [];
  for (let r = 0; r < rows; r++) {
    const b = r * 6;
    values.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}::jsonb, $${b + 6}::jsonb)`);
  }
  return `INSERT INTO bench_raw_events (stream_name, stream_revision, event_id, event_type, data, metadata) VALUES ${values.join(', ')}`;
}
