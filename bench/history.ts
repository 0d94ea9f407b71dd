import { randomBytes } from 'node:crypto';
import { createPool, migrate } from '../libs/database/database';
import { InstallationCommand } from '../libs/installations/installation.commands';
import { ProviderCommand } from '../libs/providers/provider.commands';
import { RunningApi, WorkerOutput, runAutocannon, startApi } from './http';
import { SeededStream, installationHistory, installedVersionAfter, providerHistory, rebuildReadModels, seedStreams, versionOf } from './seed-history';
import { BenchResult, Measured, RssSampler, round, summarise } from './stats';

/**
 * The history benchmarks (issue 17): what one command costs as an installation's stream grows
 * (`command_by_stream_length`), and what an install costs as its provider's versions grow
 * (`install_by_version_count`). Each compares the longest history with the shortest, measured in
 * the same run, request by request interleaved, one request at a time.
 */

export interface HistoryOptions {
  /** Events in the seeded installation streams; the first is the baseline, the last is ours. */
  streamLengths: readonly number[];
  /** Published versions of the seeded providers; the first is the baseline, the last is ours. */
  versionCounts: readonly number[];
  /** Timed commands per stream length, and timed installs per version count. */
  requests: number;
  log: (message: string) => void;
}

/** Ours must keep at least this share of the shortest history's rate. */
const TARGET_RATIO = 0.83;
const STREAM_PREFIX = 'histco';
/** The two versions the installations move between (published on every `len…` provider). */
const LOW = versionOf(0);
const HIGH = versionOf(1);
/** Installs done before the timed ones (fresh tenants too), so the first timed one pays no warm-up. */
const WARM_UP_TENANTS = 3;

const lengthProvider = (events: number) => ({ prefix: STREAM_PREFIX, name: `len${events}` });
const versionsProvider = (count: number) => ({ prefix: STREAM_PREFIX, name: `versions${count}` });

/** Seeds both benchmarks' histories into `url`'s fresh database, then runs them against the API started on it. */
export async function benchHistory(url: string, rss: RssSampler, o: HistoryOptions): Promise<BenchResult[]> {
  await migrate(url);
  const tenant = `hist${randomBytes(4).toString('hex')}`;
  const providers: Array<SeededStream<ProviderCommand>> = [
    ...o.streamLengths.map((n) => providerHistory(lengthProvider(n), 2)),
    ...o.versionCounts.map((n) => providerHistory(versionsProvider(n), n)),
  ];
  const installations: Array<SeededStream<InstallationCommand>> = o.streamLengths.map((n) => installationHistory(tenant, lengthProvider(n), n, LOW, HIGH));
  const seedStarted = Date.now();
  await seedStreams(url, providers, installations);
  const pool = createPool(url, 4, 'bench-history');
  try {
    await rebuildReadModels(pool);
  } finally {
    await pool.end();
  }
  const seeding = `COPY into es_events of the deciders' own events, then every read model rebuilt (rebuildProjection), ${((Date.now() - seedStarted) / 1000).toFixed(1)} s`;
  o.log(`history: seeded and rebuilt read models (${seeding})`);

  const api = await startApi(url);
  try {
    const key = await api.createKey(tenant, ['install', 'read']);
    const byLength = await commandByStreamLength(api, key, rss, o, seeding);
    const byVersions = await installByVersionCount(api, rss, o, seeding);
    return [byLength, byVersions];
  } finally {
    await api.close();
  }
}

type Request = { path: string; body: string; headers?: Record<string, string> };

/** Runs `requests` one at a time (1 connection) and returns each one's latency in order; any failure throws. */
async function sequential(api: RunningApi, requests: readonly Request[], headers: Record<string, string>, what: string): Promise<number[]> {
  const out: WorkerOutput = await runAutocannon({ url: api.baseUrl, connections: 1, durationSec: 3600, method: 'POST', headers, paths: ['/'], requests, amount: requests.length });
  if (out.non2xx || out.errors || out.latencies.length !== requests.length) {
    throw new Error(`${what}: ${out.ok} of ${requests.length} answered 2xx (${out.non2xx} non-2xx, ${out.errors} errors)`);
  }
  return out.latencies;
}

/** Sequential requests: the rate is one over the mean latency. */
function measured(latencies: readonly number[]): Measured {
  return summarise([...latencies], latencies.reduce((a, b) => a + b, 0));
}

function result(name: string, parameters: Record<string, unknown>, ours: Measured, baseline: Measured, peakRss: number): BenchResult {
  const ratio = round(ours.ops_per_sec / baseline.ops_per_sec, 3);
  return { name, parameters, ...ours, peak_rss_mb: peakRss, baseline, ratio, target: `ratio >= ${TARGET_RATIO}`, met: ratio >= TARGET_RATIO };
}

/** Each size's figures for `parameters`, with its rate as a share of the first (the baseline's). */
function bySize(sizes: readonly number[], figures: readonly Measured[]): Record<string, unknown> {
  return Object.fromEntries(
    sizes.map((size, i) => [
      String(size),
      { ops: figures[i].ops, ops_per_sec: figures[i].ops_per_sec, p50_ms: figures[i].p50_ms, p95_ms: figures[i].p95_ms, p99_ms: figures[i].p99_ms, ratio_vs_first: round(figures[i].ops_per_sec / figures[0].ops_per_sec, 3) },
    ]),
  );
}

/**
 * Downgrade then upgrade, alternating, on one installation per stream length; the lengths take turns
 * request by request (their order rotated each turn). One pair per installation first, untimed: the
 * first command after COPY may have to fold the whole stream (no snapshot yet), which is a one-off.
 */
async function commandByStreamLength(api: RunningApi, key: string, rss: RssSampler, o: HistoryOptions, seeding: string): Promise<BenchResult> {
  const lengths = o.streamLengths;
  if (lengths.some((n) => installedVersionAfter(n, LOW, HIGH) !== HIGH)) throw new Error('stream lengths must be even: each seeded installation must end at the upper version');
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const change = (events: number, down: boolean): Request => ({
    path: `/providers/installed/${STREAM_PREFIX}/${lengthProvider(events).name}/${down ? 'downgrade' : 'upgrade'}`,
    body: JSON.stringify(down ? { target_version: LOW } : { version: HIGH }),
  });
  const pairs = Math.ceil(o.requests / 2);
  // Request i: turn t = floor(i / lengths.length) (even: down, odd: up), length rotated by the pair.
  const plan: Array<{ length: number; request: Request }> = [];
  for (let t = 0; t < 2 * pairs; t++) {
    const pair = Math.floor(t / 2);
    for (let j = 0; j < lengths.length; j++) {
      const length = lengths[(j + pair) % lengths.length];
      plan.push({ length, request: change(length, t % 2 === 0) });
    }
  }
  o.log(`command_by_stream_length: warm-up (one downgrade and upgrade per installation, untimed)`);
  await sequential(api, lengths.flatMap((n) => [change(n, true), change(n, false)]), headers, 'command_by_stream_length warm-up');
  o.log(`command_by_stream_length: ${plan.length} commands over streams of ${lengths.join(', ')} events`);
  rss.reset();
  const latencies = await sequential(api, plan.map((p) => p.request), headers, 'command_by_stream_length');
  const figures = lengths.map((n) => measured(latencies.filter((_, i) => plan[i].length === n)));
  return result(
    'command_by_stream_length',
    {
      stream_lengths: lengths,
      by_stream_length: bySize(lengths, figures),
      ours: `the ${lengths[lengths.length - 1]}-event stream`,
      baseline: `the ${lengths[0]}-event stream, same run, same API, interleaved request by request`,
      commands_per_length: 2 * pairs,
      endpoint: `POST /providers/installed/${STREAM_PREFIX}/len{n}/downgrade (to ${LOW}) then …/upgrade (to ${HIGH}), 1 connection, one request at a time`,
      history: `InstallRequested, then UpgradeRequested up and down alternating (installer not running: no deploy events); each stream grows by one event per command`,
      warm_up: 'one downgrade and one upgrade per installation before the timed run',
      seeding,
      latency_unit: 'ms per command as autocannon reports it; ops_per_sec = 1 / mean latency (sequential)',
    },
    figures[figures.length - 1],
    figures[0],
    rss.peakMb(),
  );
}

/**
 * One install of each provider per fresh tenant (so every install starts from an empty installation
 * stream, and none has to be undone), the providers' order rotated tenant by tenant; the install asks
 * for no version, so the latest installable is chosen.
 */
async function installByVersionCount(api: RunningApi, rss: RssSampler, o: HistoryOptions, seeding: string): Promise<BenchResult> {
  const counts = o.versionCounts;
  const tenants = WARM_UP_TENANTS + o.requests;
  o.log(`install_by_version_count: creating ${tenants} tenants' API keys`);
  const keys: string[] = [];
  for (let i = 0; i < tenants; i += 8) {
    keys.push(...(await Promise.all(Array.from({ length: Math.min(8, tenants - i) }, (_, j) => api.createKey(`inst${randomBytes(4).toString('hex')}${i + j}`, ['install'])))));
  }
  const plan = keys.flatMap((key, i) =>
    counts.map((_, j) => {
      const count = counts[(i + j) % counts.length];
      return { count, request: { path: '/providers/install', body: JSON.stringify({ provider_name: `${STREAM_PREFIX}/${versionsProvider(count).name}` }), headers: { authorization: `Bearer ${key}` } } };
    }),
  );
  const headers = { 'content-type': 'application/json' };
  const warmUp = WARM_UP_TENANTS * counts.length;
  await sequential(api, plan.slice(0, warmUp).map((p) => p.request), headers, 'install_by_version_count warm-up');
  const timed = plan.slice(warmUp);
  o.log(`install_by_version_count: ${timed.length} installs on providers of ${counts.join(', ')} versions`);
  rss.reset();
  const latencies = await sequential(api, timed.map((p) => p.request), headers, 'install_by_version_count');
  const figures = counts.map((n) => measured(latencies.filter((_, i) => timed[i].count === n)));
  return result(
    'install_by_version_count',
    {
      version_counts: counts,
      by_version_count: bySize(counts, figures),
      ours: `the provider with ${counts[counts.length - 1]} versions`,
      baseline: `the provider with ${counts[0]} versions, same run, same API, interleaved request by request`,
      installs_per_count: o.requests,
      endpoint: `POST /providers/install (no version: the latest installable), 1 connection, one request at a time, each tenant installing each provider once`,
      warm_up: `${WARM_UP_TENANTS} tenants installing each provider before the timed run`,
      seeding,
      latency_unit: 'ms per install as autocannon reports it; ops_per_sec = 1 / mean latency (sequential)',
    },
    figures[figures.length - 1],
    figures[0],
    rss.peakMb(),
  );
}
