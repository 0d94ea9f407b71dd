/**
 * `npm run bench` (full) or `BENCH_QUICK=1 npm run bench` (all benchmarks in under a minute).
 *
 * Creates a fresh database on DATABASE_URL's server (or on an embedded PostgreSQL server started for
 * the run when DATABASE_URL is unset), runs each benchmark against a baseline measured in the same
 * run on the same server, prints one JSON object per benchmark on stdout, writes
 * bench/results/latest.json and latest.md, and drops the database.
 */
import { randomBytes } from 'node:crypto';
import { admin, withDatabase } from './admin-sql';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createPool, migrate } from '../libs/database/database';
import { startOrAttachEmbeddedPostgres } from '../libs/database/embedded-postgres';
import { benchAppend, benchAppendEventStoreDb, createRawTable } from './append';
import { benchAppendPeer } from './append-peer';
import { benchCommands } from './command-http';
import { benchQueries, startApi } from './http';
import { EventStoreDbServer, describeEventStoreDbServer } from './eventstoredb-server';
import { benchRebuild, benchRebuildEventStoreDb } from './rebuild';
import { benchHistory } from './history';
import { BenchResult, RssSampler } from './stats';

const QUICK = process.env.BENCH_QUICK === '1';
/** `BENCH_ONLY=append,command,query,rebuild,history` runs only those groups (default: all); `command_http` is `command`. */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'append,command,query,rebuild,history').split(',').map((s) => (s.trim() === 'command_http' ? 'command' : s.trim())));
/**
 * Seconds of the measured command_http run (ours): 300 in full mode, so a full run is the 5-minute
 * run the memory target (RSS flat) asks for; 4 in quick mode.
 */
const COMMAND_SECONDS = positiveInt('BENCH_COMMAND_SECONDS', QUICK ? 4 : 300);
/** Events in the rebuilt history: 100,000 quick, 1,000,000 full (BENCH_REBUILD_EVENTS overrides). */
const REBUILD_EVENTS = positiveInt('BENCH_REBUILD_EVENTS', QUICK ? 100_000 : 1_000_000);
/** Timed commands per stream length and installs per version count in the history group: 100 quick, 200 full. */
const HISTORY_REQUESTS = positiveInt('BENCH_HISTORY_REQUESTS', QUICK ? 100 : 200);
/** With EVENTSTORE_URL set, append and rebuild also run on that EventStoreDB, reported as `…_eventstoredb` lines. */
const EVENTSTORE_URL = process.env.EVENTSTORE_URL || undefined;
/** `BENCH_RESULTS_DIR` (tests point it at a scratch folder, so `npm test` leaves the committed results alone). */
const RESULTS_DIR = process.env.BENCH_RESULTS_DIR ? resolve(process.env.BENCH_RESULTS_DIR) : resolve(__dirname, '..', '..', 'bench', 'results');



function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}="${raw}" must be a positive integer`);
  return value;
}

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** What every group of one run shares: the server, the run's database, the RSS sampler and the output. */
interface BenchRun {
  adminUrl: string;
  dbName: string;
  url: string;
  rss: RssSampler;
  esdb?: EventStoreDbServer;
  emit: (result: BenchResult) => void;
}

/** A database of its own beside the run's (`<run>_<suffix>`), migrated, dropped afterwards whatever happens. */
async function withScratchDatabase<T>(run: BenchRun, suffix: string, work: (url: string) => Promise<T>): Promise<T> {
  const name = `${run.dbName}_${suffix}`;
  await admin(run.adminUrl, `CREATE DATABASE ${name}`);
  try {
    const url = withDatabase(run.adminUrl, name);
    await migrate(url);
    return await work(url);
  } finally {
    await admin(run.adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((e) => log(`could not drop ${name}: ${String(e)}`));
  }
}

async function appendGroup(run: BenchRun): Promise<void> {
  const pool = createPool(run.url, 20, 'bench');
  try {
    await createRawTable(pool);
    const appendMs = QUICK ? 2_000 : 15_000;
    for (const batch of [1, 100]) {
      log(`append_${batch}`);
      const postgres = await benchAppend(pool, run.rss, batch, appendMs);
      run.emit(postgres);
      const peer = batch === 1 ? await benchAppendPeer(pool, run.url, run.rss, appendMs, postgres, log) : undefined;
      if (peer) run.emit(peer);
      if (EVENTSTORE_URL && run.esdb) {
        log(`append_${batch}_eventstoredb`);
        run.emit(await benchAppendEventStoreDb(EVENTSTORE_URL, run.esdb, run.rss, batch, appendMs, postgres));
      }
    }
  } finally {
    await pool.end();
  }
}

/** command_http (+ projection_lag) and the queries, on one API over the run's database. */
async function apiGroups(run: BenchRun): Promise<void> {
  log('starting API');
  const api = await startApi(run.url);
  try {
    if (ONLY.has('command')) {
      // The same API with INLINE_PROJECTIONS=false, on a database of its own: command_http's
      // figure without inline read models, measured in rounds interleaved with ours.
      await withScratchDatabase(run, 'off', async (offUrl) => {
        // Its projections run in a process of their own, as a deployment runs them (projection_lag).
        const apiOff = await startApi(offUrl, { INLINE_PROJECTIONS: 'false' }, { projections: 'own-process' });
        try {
          log('command_http + projection_lag: preparing providers and installations');
          const options = { providers: QUICK ? 200 : 1_000, durationSec: COMMAND_SECONDS, baselineDurationSec: Math.min(COMMAND_SECONDS, QUICK ? 4 : 30), connections: 32, log };
          (await benchCommands(api, apiOff, run.url, run.rss, options)).forEach(run.emit);
        } finally {
          await apiOff.close();
        }
      });
    }
    if (ONLY.has('query')) {
      log('query_installed: seeding');
      const options = { perTenant: QUICK ? 2_000 : 10_000, total: QUICK ? 20_000 : 100_000, durationSec: QUICK ? 4 : 15, connections: 16 };
      (await benchQueries(api, run.url, run.rss, options)).forEach(run.emit);
    }
  } finally {
    await api.close();
  }
}

/** Its own database, so the other benchmarks' events and rows do not change what it measures. */
async function rebuildGroup(run: BenchRun): Promise<void> {
  await withScratchDatabase(run, 'rb', async (rebuildUrl) => {
    const pool = createPool(rebuildUrl, 4, 'bench');
    try {
      log(`rebuild: seeding ${REBUILD_EVENTS.toLocaleString('en')} events`);
      const postgres = await benchRebuild(rebuildUrl, pool, REBUILD_EVENTS, log);
      run.emit(postgres);
      const { esdb } = run;
      if (!EVENTSTORE_URL || !esdb) return;
      // The read model and checkpoints stay in PostgreSQL, in a database of their own again.
      await withScratchDatabase(run, 'rbe', async (esdbUrl) => {
        log(`rebuild_eventstoredb: appending ${REBUILD_EVENTS.toLocaleString('en')} events to EventStoreDB`);
        run.emit(await benchRebuildEventStoreDb(esdbUrl, EVENTSTORE_URL, esdb, REBUILD_EVENTS, postgres, log));
      });
    } finally {
      await pool.end();
    }
  });
}

async function historyGroup(run: BenchRun): Promise<void> {
  await withScratchDatabase(run, 'hist', async (historyUrl) => {
    const streamLengths = QUICK ? [10, 100, 1_000, 10_000] : [10, 100, 1_000, 10_000, 100_000];
    (await benchHistory(historyUrl, run.rss, { streamLengths, versionCounts: [2, 100, 1_000], requests: HISTORY_REQUESTS, log })).forEach(run.emit);
  });
}

async function describeEventStoreDb(): Promise<EventStoreDbServer | undefined> {
  if (!ONLY.has('append') && !ONLY.has('rebuild')) return undefined;
  if (!EVENTSTORE_URL) {
    log('EVENTSTORE_URL is unset: append and rebuild run on PostgreSQL only (no …_eventstoredb lines)');
    return undefined;
  }
  const esdb = await describeEventStoreDbServer(EVENTSTORE_URL);
  log(`EventStoreDB at EVENTSTORE_URL reports version ${esdb.version}${esdb.isTestDouble ? ' (the gRPC TEST DOUBLE: its figures are not EventStoreDB figures)' : ''}`);
  return esdb;
}

async function main(): Promise<void> {
  let stopServer: () => Promise<void> = async () => undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const pg = await startOrAttachEmbeddedPostgres('pg-bench');
    adminUrl = pg.url;
    stopServer = pg.stop;
    log(`embedded PostgreSQL ${pg.owned ? 'started' : 'attached'} (pg-bench)`);
  }
  const dbName = `bench_${randomBytes(6).toString('hex')}`;
  const results: BenchResult[] = [];
  const run: BenchRun = {
    adminUrl,
    dbName,
    url: withDatabase(adminUrl, dbName),
    rss: new RssSampler(),
    esdb: await describeEventStoreDb(),
    emit: (r) => {
      results.push(r);
      process.stdout.write(JSON.stringify(r) + '\n');
    },
  };

  await admin(adminUrl, `CREATE DATABASE ${dbName}`);
  try {
    await migrate(run.url);
    log(`database ${dbName} created and migrated (${QUICK ? 'quick' : 'full'} mode)`);
    if (ONLY.has('append')) await appendGroup(run);
    if (ONLY.has('command') || ONLY.has('query')) await apiGroups(run);
    if (ONLY.has('rebuild')) await rebuildGroup(run);
    if (ONLY.has('history')) await historyGroup(run);
  } finally {
    run.rss.stop();
    await admin(adminUrl, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((e) => log(`could not drop ${dbName}: ${String(e)}`));
    await stopServer();
  }

  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(RESULTS_DIR, 'latest.md'), markdown(results));
  log(`wrote ${join(RESULTS_DIR, 'latest.json')} and latest.md`);
}

function markdown(results: BenchResult[]): string {
  const lines = [
    `# Benchmark results (${QUICK ? 'quick' : 'full'} mode, ${new Date().toISOString()})`,
    '',
    '| benchmark | ops | ops/s | p50 ms | p95 ms | p99 ms | baseline ops/s | baseline p50 / p99 ms | ratio | peak RSS MB | target | met |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|',
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.ops} | ${r.ops_per_sec} | ${r.p50_ms} | ${r.p95_ms} | ${r.p99_ms} | ${r.baseline.ops_per_sec} | ${r.baseline.p50_ms} / ${r.baseline.p99_ms} | ${r.ratio} | ${r.peak_rss_mb} | ${r.target} | ${r.met ? 'yes' : 'no'} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
