import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client, Pool } from 'pg';
import { INSTALLATION_EVENT_TYPES } from '../libs/installations/installation.events';
import { installationStream } from '../libs/installations/installation-identity';
import { EventStore } from '../libs/event-store/event-store.port';
import { EventStoreDbEventStore } from '../libs/event-store/eventstoredb/eventstoredb-event-store';
import { copyField, copyIn } from '../libs/projection-engine/copy-in';
import { createTableStatements } from '../libs/database/table-ddl';
import { installedProvidersProjection } from '../projections/installed-providers.projection';
import { EventStoreDbServer } from './eventstoredb-server';
import { BenchResult, Measured, round, summarise } from './stats';

/** Events per installation in the seeded history, and installations whose events interleave. */
const EVENTS_PER_INSTALLATION = 10;
const GROUP = 1000;
/** Events per COPY (each its own transaction, so the log has many transaction ids). */
const EVENTS_PER_COPY = 100_000;

/** Installation `k`'s tenant; `run` keeps one run's streams apart from another's on a server that keeps them. */
const tenantOf = (k: number, run = '') => `${run}t${k % 50}`;

function eventsOf(k: number, at: (i: number) => string, run = ''): Array<{ type: string; data: Record<string, unknown> }> {
  const tenant = tenantOf(k, run);
  const prefix = `p${k % 97}`;
  const name = `n${k}`;
  const token = 'ab'.repeat(32);
  return [
    { type: 'InstallRequested', data: { installation_id: randomUUID(), tenant, prefix, name, version: '1.0.0', resource_tier: 'standard', upgrade_policy: 'manual', config: { replicas: '2', region: 'eu-west-1' }, generation: 1, at: at(0) } },
    { type: 'DeployStarted', data: { generation: 1, version: '1.0.0', token_hash: token, at: at(1) } },
    { type: 'RegistrationReceived', data: { generation: 1, version: '1.0.0', endpoint: null, at: at(2) } },
    { type: 'HealthChanged', data: { health: 'degraded', message: 'probe failed', at: at(3) } },
    { type: 'HealthChanged', data: { health: 'healthy', message: null, at: at(4) } },
    { type: 'UpgradeRequested', data: { from_version: '1.0.0', to_version: '2.0.0', direction: 'up', generation: 2, reason: 'manual', at: at(5) } },
    { type: 'DeployStarted', data: { generation: 2, version: '2.0.0', token_hash: token, at: at(6) } },
    { type: 'RegistrationReceived', data: { generation: 2, version: '2.0.0', endpoint: null, at: at(7) } },
    { type: 'UpgradeRequested', data: { from_version: '2.0.0', to_version: '1.0.0', direction: 'down', generation: 3, reason: 'manual', at: at(8) } },
    { type: 'DeployStarted', data: { generation: 3, version: '1.0.0', token_hash: token, at: at(9) } },
  ];
}

/**
 * Seeds `total` installation events with COPY: installations in groups of 1,000 whose ten events
 * each interleave round by round (so one installation's events are ~10,000 log positions apart, as
 * under real traffic), 100,000 events per COPY transaction. Returns the number of installations.
 */
export async function seedHistory(url: string, total: number): Promise<number> {
  const installations = Math.ceil(total / EVENTS_PER_INSTALLATION);
  const client = new Client({ connectionString: url });
  await client.connect();
  const base = Date.parse('2026-01-01T00:00:00Z');
  try {
    for (let first = 0; first < installations; first += EVENTS_PER_COPY / EVENTS_PER_INSTALLATION) {
      const last = Math.min(installations, first + EVENTS_PER_COPY / EVENTS_PER_INSTALLATION);
      function* chunks(): Generator<string> {
        for (let g = first; g < last; g += GROUP) {
          const members = Array.from({ length: Math.min(GROUP, last - g) }, (_, i) => g + i);
          const histories = members.map((k) => eventsOf(k, (i) => new Date(base + k * 1000 + i * 60_000).toISOString()));
          for (let round = 0; round < EVENTS_PER_INSTALLATION; round++) {
            const lines: string[] = [];
            members.forEach((k, m) => {
              const e = histories[m][round];
              const stream = installationStream(`t${k % 50}`, { prefix: `p${k % 97}`, name: `n${k}` });
              const metadata = { schema_version: 1, correlation_id: randomUUID(), causation_id: null, actor: 'bench', occurred_at: e.data.at };
              lines.push([stream, round, randomUUID(), e.type, JSON.stringify(e.data), JSON.stringify(metadata)].map(copyField).join('\t') + '\n');
            });
            yield lines.join('');
          }
        }
      }
      await copyIn(client, 'es_events', ['stream_name', 'stream_revision', 'event_id', 'event_type', 'data', 'metadata'], chunks());
    }
    await client.query('ANALYZE es_events');
  } finally {
    await client.end();
  }
  return installations;
}

interface WorkerOutput {
  events: number;
  seconds: number;
  events_per_second: number;
  page_ms: number[];
  peak_rss_mb: number;
  rows: number;
}

function runWorker(url: string, eventStoreUrl?: string): Promise<WorkerOutput> {
  return new Promise((resolve, reject) => {
    // BENCH_PROFILE_DIR=<dir> writes the rebuild's CPU profile there (for finding where its time goes).
    const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
    execFile(process.execPath, [...profile, join(__dirname, 'rebuild-worker.js'), url, ...(eventStoreUrl ? [eventStoreUrl] : [])], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`rebuild worker failed: ${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout) as WorkerOutput);
    });
  });
}

/**
 * The baseline: one `INSERT … SELECT` that reads every installation event from es_events and writes
 * one row per installation (the same rows, same table structure) into a copy of installed_providers.
 * It takes each row's columns from the stream's first and last events rather than folding every
 * event, so it is a lower bound on the work a rebuild has to do.
 */
async function rawRebuild(pool: Pool): Promise<{ ms: number; rows: number }> {
  await pool.query('DROP TABLE IF EXISTS bench_raw_installed');
  for (const statement of createTableStatements(installedProvidersProjection.table, 'bench_raw_installed')) await pool.query(statement);
  const t0 = process.hrtime.bigint();
  const result = await pool.query(
    `INSERT INTO bench_raw_installed (tenant, prefix, name, installation_id, installed_version, current_version, upgrade_policy,
        resource_tier, config, lifecycle_state, health, health_message, generation, last_deploy_message, revision, installed_at, updated_at)
     SELECT f.data->>'tenant', f.data->>'prefix', f.data->>'name', (f.data->>'installation_id')::uuid,
            coalesce(l.data->>'to_version', l.data->>'version', f.data->>'version'), l.data->>'version',
            f.data->>'upgrade_policy', f.data->>'resource_tier', f.data->'config', 'processing', 'healthy', NULL,
            coalesce((l.data->>'generation')::int, 1), NULL, l.stream_revision, (f.data->>'at')::timestamptz, (l.data->>'at')::timestamptz
       FROM (SELECT DISTINCT ON (stream_name) stream_name, stream_revision, data
               FROM es_events WHERE event_type = ANY($1::text[])
              ORDER BY stream_name, stream_revision DESC) l
       JOIN es_events f ON f.stream_name = l.stream_name AND f.stream_revision = 0`,
    [INSTALLATION_EVENT_TYPES],
  );
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, rows: result.rowCount ?? 0 };
}

/** Seeds `events` installation events with COPY, then rebuilds installed-providers (child process) and runs the raw baseline. */
export async function benchRebuild(url: string, pool: Pool, events: number, log: (m: string) => void): Promise<BenchResult> {
  const seedStarted = Date.now();
  const installations = await seedHistory(url, events);
  const seeded = installations * EVENTS_PER_INSTALLATION;
  const seedSeconds = (Date.now() - seedStarted) / 1000;
  log(`rebuild: seeded ${seeded} events (${installations} installations) with COPY in ${seedSeconds.toFixed(1)} s`);
  // The shared buffers and the OS cache hold the log alike for both sides: the baseline runs first.
  const raw = await rawRebuild(pool);
  const baseline: Measured = { ...summarise([raw.ms], raw.ms), ops: seeded, ops_per_sec: round(seeded / (raw.ms / 1000)) };
  const out = await runWorker(url);
  if (out.rows !== installations || raw.rows !== installations) throw new Error(`rebuild wrote ${out.rows} rows, baseline ${raw.rows}; expected ${installations}`);
  return rebuildResult('rebuild', {
    projection: 'installed-providers',
    events: seeded,
    installations,
    seeding: `COPY, ${EVENTS_PER_COPY} events per transaction, ${seedSeconds.toFixed(1)} s`,
    rebuild: 'rebuildProjection (libs/projection-engine/rebuild.ts) in a child process, default batch size',
    latency_unit: 'ms per page of events folded (p50/p95/p99), baseline: the single statement',
    rss_process: 'the rebuild child process',
    baseline: 'one INSERT … SELECT DISTINCT ON (stream_name) from es_events into a copy of installed_providers',
  }, out, baseline);
}

/** Installations appended to EventStoreDB at once while seeding (each one append of its ten events). */
const SEED_WRITERS = 16;

/**
 * Seeds `total` installation events into EventStoreDB through the adapter (COPY has no equivalent
 * there): one append of its ten events per installation, `SEED_WRITERS` appends in flight, so the
 * log holds each installation's events together rather than interleaved as in the PostgreSQL seed.
 * Stream names carry `run`, so repeated runs against one server do not collide.
 */
async function seedEventStoreDb(store: EventStore, total: number, run: string): Promise<number> {
  const installations = Math.ceil(total / EVENTS_PER_INSTALLATION);
  const base = Date.parse('2026-01-01T00:00:00Z');
  let next = 0;
  await Promise.all(
    Array.from({ length: SEED_WRITERS }, async () => {
      while (next < installations) {
        const k = next++;
        const history = eventsOf(k, (i) => new Date(base + k * 1000 + i * 60_000).toISOString(), run);
        const stream = installationStream(tenantOf(k, run), { prefix: `p${k % 97}`, name: `n${k}` });
        await store.append(
          stream,
          history.map((e) => ({
            id: randomUUID(),
            type: e.type,
            data: e.data,
            metadata: { schema_version: 1, correlation_id: randomUUID(), causation_id: null, actor: 'bench', occurred_at: String(e.data.at) },
          })),
          'no_stream',
        );
      }
    }),
  );
  return installations;
}

/**
 * The rebuild with the history read from EventStoreDB (`EventStoreDbEventStore.readAll`), the read
 * model written to `url`'s PostgreSQL database as always, in the same child process, against the
 * raw PostgreSQL `INSERT … SELECT` baseline the PostgreSQL rebuild measured in this run. Events the
 * server held before this run (a server kept between runs) are folded too: `ops` counts every event
 * the rebuild applied, and the table must hold at least this run's installations.
 */
export async function benchRebuildEventStoreDb(
  url: string,
  connectionString: string,
  server: EventStoreDbServer,
  events: number,
  postgres: BenchResult,
  log: (m: string) => void,
): Promise<BenchResult> {
  const run = `r${randomUUID().slice(0, 6)}`;
  const store = new EventStoreDbEventStore(connectionString);
  let installations: number;
  const seedStarted = Date.now();
  try {
    installations = await seedEventStoreDb(store, events, run);
  } finally {
    await store.close();
  }
  const seedSeconds = (Date.now() - seedStarted) / 1000;
  log(`rebuild_eventstoredb: appended ${installations * EVENTS_PER_INSTALLATION} events (${installations} installations) in ${seedSeconds.toFixed(1)} s`);
  const out = await runWorker(url, connectionString);
  if (out.rows < installations) throw new Error(`rebuild from EventStoreDB wrote ${out.rows} rows; expected at least ${installations}`);
  return rebuildResult('rebuild_eventstoredb', {
    target_store: 'eventstoredb',
    eventstoredb_server_version: server.version,
    eventstoredb_test_double: server.isTestDouble,
    note: server.note,
    projection: 'installed-providers',
    events_seeded: installations * EVENTS_PER_INSTALLATION,
    installations,
    rows_written: out.rows,
    seeding: `EventStoreDbEventStore.append, one append of ${EVENTS_PER_INSTALLATION} events per installation, ${SEED_WRITERS} in flight, ${seedSeconds.toFixed(1)} s`,
    rebuild: 'rebuildProjection reading EventStoreDbEventStore.readAll, writing PostgreSQL, in a child process, default batch size',
    latency_unit: 'ms per page of events folded (p50/p95/p99); baseline: the single PostgreSQL statement',
    rss_process: 'the rebuild child process',
    baseline: 'the raw PostgreSQL INSERT … SELECT measured for rebuild in this run',
  }, out, postgres.baseline);
}

/** One rebuild line: pages folded as the latency, events/s against the baseline's, and the target. */
function rebuildResult(name: string, parameters: Record<string, unknown>, out: WorkerOutput, baseline: Measured): BenchResult {
  const pages = summarise(out.page_ms, out.seconds * 1000);
  const ratio = round(out.events_per_second / baseline.ops_per_sec, 3);
  return {
    name,
    parameters,
    ops: out.events,
    ops_per_sec: out.events_per_second,
    p50_ms: pages.p50_ms,
    p95_ms: pages.p95_ms,
    p99_ms: pages.p99_ms,
    peak_rss_mb: out.peak_rss_mb,
    baseline,
    ratio,
    target: 'events_per_sec >= 50000 and ratio >= 0.3 and peak_rss_mb < 300',
    met: out.events_per_second >= 50_000 && ratio >= 0.3 && out.peak_rss_mb < 300,
  };
}
