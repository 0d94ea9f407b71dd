/**
 * append_1_peer: append_1's workload (16 writers, each on its own stream, one event per append at the
 * exact expected version) on Emmett's PostgreSQL event store, against ours in interleaved rounds.
 *
 * Emmett lives in a package of its own, bench/peer: its peer dependency commander@^12 conflicts with
 * the root's commander@14. It is installed there on first use (`npm ci --prefix bench/peer`) and
 * loaded from there at run time, so the root project neither depends on it nor needs its types.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { Client, Pool } from 'pg';
import { NewEvent } from '../libs/event-store/event-store.port';
import { PostgresEventStore } from '../libs/event-store/postgres/postgres-event-store';
import { WRITERS, events } from './append';
import { BenchResult, RssSampler, TimedSamples, round, summariseRounds, timedSamples } from './stats';

/** The source folder (not dist/): its package.json and lock file are committed, node_modules is not. */
const PEER_DIR = resolve(__dirname, '..', '..', 'bench', 'peer');
const PEER_PACKAGE = '@event-driven-io/emmett-postgresql';
const ROUNDS = 3;

/** What the bench calls of Emmett's PostgreSQL event store (0.42). */
interface EmmettEvent {
  type: string;
  data: unknown;
  metadata: object;
}
/** Emmett's stream versions count events from 1; an absent stream is this constant. */
type EmmettExpectedVersion = bigint | 'STREAM_DOES_NOT_EXIST';
interface EmmettEventStore {
  appendToStream(streamName: string, events: EmmettEvent[], options: { expectedStreamVersion: EmmettExpectedVersion }): Promise<{ nextExpectedStreamVersion: bigint }>;
  close(): Promise<void>;
}
interface EmmettPostgres {
  getPostgreSQLEventStore(connectionString: string, options: { connectionOptions: { connectionString: string; pool: PeerPool } }): EmmettEventStore;
}
/** The peer package's own node-postgres: Emmett sets its type parsers (int8 as bigint), not ours. */
interface PeerPg {
  Pool: new (config: { connectionString: string; max: number; application_name: string }) => PeerPool;
}
interface PeerPool {
  end(): Promise<void>;
}

type LoadedPeer = { emmett: EmmettPostgres; pg: PeerPg; version: string } | { skipped: string };

function isEmmettPostgres(module: unknown): module is EmmettPostgres {
  return typeof module === 'object' && module !== null && 'getPostgreSQLEventStore' in module && typeof module.getPostgreSQLEventStore === 'function';
}

function isPeerPg(module: unknown): module is PeerPg {
  return typeof module === 'object' && module !== null && 'Pool' in module && typeof module.Pool === 'function';
}

function versionOf(packageJson: unknown): string {
  return typeof packageJson === 'object' && packageJson !== null && 'version' in packageJson && typeof packageJson.version === 'string' ? packageJson.version : 'unknown';
}

/**
 * Installs bench/peer when its node_modules is absent (unless BENCH_PEER_INSTALL=0, as in the smoke
 * test, which must not need the network), then loads Emmett and its node-postgres from there. npm's
 * output goes to stderr: stdout carries only result lines.
 */
function loadPeer(log: (message: string) => void): LoadedPeer {
  const installed = join(PEER_DIR, 'node_modules', PEER_PACKAGE);
  if (!existsSync(installed)) {
    if (process.env.BENCH_PEER_INSTALL === '0') return { skipped: 'bench/peer/node_modules is absent and BENCH_PEER_INSTALL=0 (nothing installed)' };
    log(`append_1_peer: installing the peer event store: npm ci --prefix ${PEER_DIR}`);
    const npm = spawnSync('npm', ['ci', '--prefix', PEER_DIR, '--no-audit', '--no-fund'], { stdio: ['ignore', 2, 2], timeout: 300_000 });
    if (npm.error || npm.status !== 0) return { skipped: `npm ci --prefix bench/peer failed (${npm.error?.message ?? `exit ${npm.status}`}); is the registry reachable?` };
  }
  try {
    const peerRequire = createRequire(join(PEER_DIR, 'package.json'));
    const emmett: unknown = peerRequire(PEER_PACKAGE);
    const pg: unknown = peerRequire('pg');
    if (!isEmmettPostgres(emmett)) return { skipped: `${PEER_PACKAGE} in bench/peer exports no getPostgreSQLEventStore` };
    if (!isPeerPg(pg)) return { skipped: 'pg in bench/peer exports no Pool' };
    const version = versionOf(JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')));
    return { emmett, pg, version };
  } catch (error) {
    return { skipped: `could not load ${PEER_PACKAGE} from bench/peer: ${error instanceof Error ? error.message : String(error)}` };
  }
}

async function admin(url: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const toEmmett = (batch: NewEvent[]): EmmettEvent[] => batch.map((e) => ({ type: e.type, data: e.data, metadata: { ...e.metadata, messageId: e.id } }));

/**
 * Rounds of the peer and of ours alternating (peer first), `durationMs / ROUNDS` each, every writer
 * continuing its own stream across rounds at the exact expected version.
 */
async function measureInRounds(ours: PostgresEventStore, peer: EmmettEventStore, durationMs: number): Promise<{ ours: TimedSamples[]; peer: TimedSamples[] }> {
  const runId = randomUUID().slice(0, 8);
  const ourRevisions = new Array<number>(WRITERS).fill(-1);
  const peerVersions = new Array<EmmettExpectedVersion>(WRITERS).fill('STREAM_DOES_NOT_EXIST');
  const oursRounds: TimedSamples[] = [];
  const peerRounds: TimedSamples[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    peerRounds.push(
      await timedSamples(durationMs / ROUNDS, WRITERS, async (worker) => {
        const result = await peer.appendToStream(`benchpeer-${runId}-${worker}`, toEmmett(events(1)), { expectedStreamVersion: peerVersions[worker] });
        peerVersions[worker] = result.nextExpectedStreamVersion;
      }),
    );
    oursRounds.push(
      await timedSamples(durationMs / ROUNDS, WRITERS, async (worker) => {
        const expected = ourRevisions[worker] === -1 ? 'no_stream' : ourRevisions[worker];
        ourRevisions[worker] = (await ours.append(`bench-peer-ours-${runId}-${worker}`, events(1), expected)).nextExpectedRevision;
      }),
    );
  }
  return { ours: oursRounds, peer: peerRounds };
}

/**
 * append_1_peer, or undefined (with the reason on stderr) when Emmett cannot be installed or loaded.
 * Ours appends through `pool` (append_1's database); the peer through a pool of the same size, on a
 * database of its own on the same server (`<database>_peer`, dropped afterwards). `append1` is this
 * run's append_1 line: its ratio to the raw INSERT is the second half of the target.
 */
export async function benchAppendPeer(pool: Pool, databaseUrl: string, rss: RssSampler, durationMs: number, append1: BenchResult, log: (message: string) => void): Promise<BenchResult | undefined> {
  const loaded = loadPeer(log);
  if ('skipped' in loaded) {
    log(`append_1_peer skipped: ${loaded.skipped}`);
    return undefined;
  }
  log(`append_1_peer (${PEER_PACKAGE} ${loaded.version})`);
  const peerUrl = new URL(databaseUrl);
  const peerDatabase = `${peerUrl.pathname.slice(1)}_peer`;
  peerUrl.pathname = `/${peerDatabase}`;
  const poolSize = pool.options.max ?? 10;
  await admin(databaseUrl, `CREATE DATABASE ${peerDatabase}`);
  const peerPool = new loaded.pg.Pool({ connectionString: peerUrl.toString(), max: poolSize, application_name: 'bench-peer' });
  const peer = loaded.emmett.getPostgreSQLEventStore(peerUrl.toString(), { connectionOptions: { connectionString: peerUrl.toString(), pool: peerPool } });
  const ours = new PostgresEventStore(pool);
  try {
    // Before the clock: Emmett creates its schema on the first append, and the peer's pool opens its
    // connections (ours are open since append_1).
    const warmId = randomUUID().slice(0, 8);
    await peer.appendToStream(`benchpeer-warm-${warmId}`, toEmmett(events(1)), { expectedStreamVersion: 'STREAM_DOES_NOT_EXIST' });
    await timedSamples(Math.min(500, durationMs / 4), WRITERS, async (worker, i) => {
      await peer.appendToStream(`benchpeer-warm-${warmId}-${worker}`, toEmmett(events(1)), { expectedStreamVersion: i === 0 ? 'STREAM_DOES_NOT_EXIST' : BigInt(i) });
    });
    rss.reset();
    const rounds = await measureInRounds(ours, peer, durationMs);
    const measured = summariseRounds(rounds.ours);
    const baseline = summariseRounds(rounds.peer);
    const ratio = round(measured.ops_per_sec / baseline.ops_per_sec, 3);
    return {
      name: 'append_1_peer',
      parameters: {
        target_store: 'postgresql',
        peer: `${PEER_PACKAGE} ${loaded.version} (getPostgreSQLEventStore, appendToStream), database ${peerDatabase} on the same server`,
        events_per_append: 1,
        writers: WRITERS,
        distinct_streams: true,
        duration_s: durationMs / 1000,
        rounds: `${ROUNDS} × ${round(durationMs / ROUNDS / 1000, 2)} s per side, interleaved (peer first)`,
        expected_revision: 'exact',
        pool_size: `${poolSize} connections each`,
        ratio_vs_peer: ratio,
        ratio_vs_raw_insert: append1.ratio,
        raw_insert_ops_per_sec: append1.baseline.ops_per_sec,
        baseline: `Emmett's appendToStream, 1 event, same writers; ratio_vs_raw_insert is append_1's ratio in this run`,
      },
      ...measured,
      peak_rss_mb: rss.peakMb(),
      baseline,
      ratio,
      target: 'ratio >= 2 (ours ÷ peer) and ratio_vs_raw_insert >= 0.8',
      met: ratio >= 2 && append1.ratio >= 0.8,
    };
  } finally {
    await ours.close();
    await peer.close();
    await peerPool.end();
    await admin(databaseUrl, `DROP DATABASE IF EXISTS ${peerDatabase} WITH (FORCE)`).catch((e) => log(`could not drop ${peerDatabase}: ${String(e)}`));
  }
}
