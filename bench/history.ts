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

/** The `copy`-th provider whose installation holds `events` events (each installation needs a provider of its own). */
const lengthProvider = (events: number, copy: number) => ({ prefix: STREAM_PREFIX, name: `len${events}-${copy}` });

/**
 * Every command appends one event, so a stream grows as it is measured: the commands on one length
 * rotate over enough installations that each grows by at most its seeded length (a 10-event stream
 * ends below 2 × 10 + 2 events, the warm-up pair included), where the longest barely move.
 */
const copiesOf = (events: number, commands: number) => Math.max(1, Math.ceil(commands / events));
const versionsProvider = (count: number) => ({ prefix: STREAM_PREFIX, name: `versions${count}` });

/** Seeds both benchmarks' histories into `url`'s fresh database, then runs them against the API started on it. */
export async function benchHistory(url: string, rss: RssSampler, o: HistoryOptions): Promise<BenchResult[]> {
  await migrate(url);
  const tenant = `hist${randomBytes(4).toString('hex')}`;
  const copies = o.streamLengths.flatMap((n) => Array.from({ length: copiesOf(n, commandsPerLength(o)) }, (_, copy) => lengthProvider(n, copy)));
  const providers: Array<SeededStream<ProviderCommand>> = [
    ...copies.map((provider) => providerHistory(provider, 2)),
    ...o.versionCounts.map((n) => providerHistory(versionsProvider(n), n)),
  ];
  const installations: Array<SeededStream<InstallationCommand>> = o.streamLengths.flatMap((n) =>
    Array.from({ length: copiesOf(n, commandsPerLength(o)) }, (_, copy) => installationHistory(tenant, lengthProvider(n, copy), n, LOW, HIGH)),
  );
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

/** Timed commands per stream length: whole downgrade/upgrade pairs. */
const commandsPerLength = (o: HistoryOptions) => 2 * Math.ceil(o.requests / 2);

/**
 * Downgrade then upgrade, alternating per installation, over the installations of each stream length;
 * the lengths take turns request by request (their order rotated each turn). One pair per installation
 * first, untimed: the first command after COPY may have to fold the whole stream (no snapshot yet),
 * which is a one-off.
 */
async function commandByStreamLength(api: RunningApi, key: string, rss: RssSampler, o: HistoryOptions, seeding: string): Promise<BenchResult> {
  const lengths = o.streamLengths;
  if (lengths.some((n) => installedVersionAfter(n, LOW, HIGH) !== HIGH)) throw new Error('stream lengths must be even: each seeded installation must end at the upper version');
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const change = (events: number, copy: number, down: boolean): Request => ({
    path: `/providers/installed/${STREAM_PREFIX}/${lengthProvider(events, copy).name}/${down ? 'downgrade' : 'upgrade'}`,
    body: JSON.stringify(down ? { target_version: LOW } : { version: HIGH }),
  });
  const commands = commandsPerLength(o);
  // The c-th command on a length goes to its installation c mod copies, which it finds at HIGH on
  // even visits (down) and at LOW on odd ones (up); the lengths' order rotates by turn.
  const plan: Array<{ length: number; request: Request }> = [];
  for (let c = 0; c < commands; c++) {
    for (let j = 0; j < lengths.length; j++) {
      const length = lengths[(j + c) % lengths.length];
      const copies = copiesOf(length, commands);
      plan.push({ length, request: change(length, c % copies, Math.floor(c / copies) % 2 === 0) });
    }
  }
  const warmUp = lengths.flatMap((n) => Array.from({ length: copiesOf(n, commands) }, (_, copy) => [change(n, copy, true), change(n, copy, false)]).flat());
  o.log(`command_by_stream_length: warm-up (one downgrade and upgrade per installation, ${warmUp.length} commands, untimed)`);
  await sequential(api, warmUp, headers, 'command_by_stream_length warm-up');
  o.log(`command_by_stream_length: ${plan.length} commands over streams of ${lengths.join(', ')} events`);
  rss.reset();
  const latencies = await sequential(api, plan.map((p) => p.request), headers, 'command_by_stream_length');
  const figures = lengths.map((n) => measured(latencies.filter((_, i) => plan[i].length === n)));
  return result(
    'command_by_stream_length',
    {
      stream_lengths: lengths,
      by_stream_length: bySize(lengths, figures),
      installations_per_length: lengths.map((n) => copiesOf(n, commands)),
      events_during_run: lengths.map((n) => `${n + 2}–${n + 2 + Math.ceil(commands / copiesOf(n, commands))}`),
      ours: `the ${lengths[lengths.length - 1]}-event stream`,
      baseline: `the ${lengths[0]}-event stream, same run, same API, interleaved request by request`,
      commands_per_length: commands,
      endpoint: `POST /providers/installed/${STREAM_PREFIX}/len{n}-{i}/downgrade (to ${LOW}) then …/upgrade (to ${HIGH}), 1 connection, one request at a time`,
      history: `InstallRequested, then UpgradeRequested up and down alternating (installer not running: no deploy events); each command appends one event, so short lengths rotate over several installations`,
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
