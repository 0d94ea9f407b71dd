/**
 * `node dist/bench/http-builds.js <rounds> <seconds> <label>=<dist>[:<adapter>] …`: the real API of
 * several builds (a `dist` directory each, e.g. one kept from an earlier commit), each in a process
 * of its own (bench/api-process.ts), all on one fresh database (embedded server `pg-bench` unless
 * DATABASE_URL is set), loaded in interleaved rounds with the same requests:
 * - `get`: GET /providers/installed/{prefix}/{name} (as query_installed_get), 16 connections;
 * - `command`: POST upgrade/downgrade rotations over 200 installations (as command_http), 32
 *   connections, whole rotations per round, so every stream grows alike on every build.
 * Prints one JSON line per build and route with ops/s, p50 and p99 over all rounds. LOG_LEVEL
 * passes to the builds (their log lines go nowhere), so that the cost of logging can be measured.
 */
import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { scratchBenchDatabase } from './admin-sql';
import { PREFIX, VERSIONS, publishProviders } from './command-http';
import { RunningApi, WorkerOutput, runAutocannon, seedInstalled, startApi } from './http';

interface Build {
  label: string;
  dist: string;
  adapter: string;
}

function buildsOf(args: readonly string[]): Build[] {
  return args.map((arg) => {
    const match = /^([^=]+)=([^:]+)(?::(\w+))?$/.exec(arg);
    if (!match) throw new Error(`"${arg}" is not <label>=<dist>[:<adapter>]`);
    return { label: match[1], dist: match[2], adapter: match[3] ?? '' };
  });
}

function isListening(message: unknown): message is { baseUrl: string } {
  return typeof message === 'object' && message !== null && 'baseUrl' in message && typeof message.baseUrl === 'string';
}

/** Forks the build's API; `host` lends it the database handle and key issuing for seeding. */
async function startBuild(build: Build, databaseUrl: string, host: RunningApi): Promise<RunningApi> {
  const child: ChildProcess = fork(join(__dirname, 'api-process.js'), [build.dist, build.adapter], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, DATABASE_URL: databaseUrl },
  });
  const baseUrl = await new Promise<string>((resolve, reject) => {
    child.once('message', (message) => (isListening(message) ? resolve(message.baseUrl) : reject(new Error(`${build.label}: unexpected ${JSON.stringify(message)}`))));
    child.once('exit', (code) => reject(new Error(`${build.label}: the API process exited (${code})`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    ...host,
    baseUrl,
    async close() {
      child.send('stop');
      await exited;
    },
  };
}

const INSTALLATIONS = 200;

function apiOf(apis: Map<string, RunningApi>, label: string): RunningApi {
  const api = apis.get(label);
  if (!api) throw new Error(`no API started for ${label}`);
  return api;
}

interface Load {
  get(api: RunningApi): Promise<WorkerOutput>;
  command(api: RunningApi): Promise<WorkerOutput>;
}

/** Seeds the read rows and one command tenant per build; returns the two loads. */
async function prepare(apis: Map<string, RunningApi>, first: RunningApi, seconds: number): Promise<Load> {
  await seedInstalled(first.infrastructure.pool, 'reader', 2000, 20000);
  const readKey = await first.createKey('reader', ['read']);
  const getPaths = Array.from({ length: 500 }, (_, i) => {
    const g = 1 + ((i * 7919) % 2000);
    return `/providers/installed/p${g % 100}/n${g}`;
  });
  const names = await publishProviders(first, INSTALLATIONS);
  const commandHeaders = new Map<RunningApi, Record<string, string>>();
  for (const [label, api] of apis) {
    const key = await api.createKey(`cmd${label.replace(/\W/g, '')}`, ['install', 'read']);
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    commandHeaders.set(api, headers);
    const installs = names.map((n) => ({ path: '/providers/install', body: JSON.stringify({ provider_name: `${PREFIX}/${n}`, version: VERSIONS[0] }) }));
    const out = await runAutocannon({ url: api.baseUrl, connections: 8, durationSec: 60, method: 'POST', headers, paths: ['/'], requests: installs, amount: installs.length });
    if (out.ok !== installs.length) throw new Error(`${label}: ${out.ok} of ${installs.length} installs answered 2xx`);
  }
  const changes = [
    ...names.map((n) => ({ path: `/providers/installed/${PREFIX}/${n}/upgrade`, body: JSON.stringify({ version: VERSIONS[1] }) })),
    ...names.map((n) => ({ path: `/providers/installed/${PREFIX}/${n}/downgrade`, body: JSON.stringify({ target_version: VERSIONS[0] }) })),
  ];
  return {
    get: (api) => runAutocannon({ url: api.baseUrl, connections: 16, durationSec: seconds, method: 'GET', headers: { authorization: `Bearer ${readKey}` }, paths: getPaths }),
    command: (api) =>
      runAutocannon({ url: api.baseUrl, connections: 32, durationSec: 60, method: 'POST', headers: commandHeaders.get(api), paths: ['/'], requests: changes, amount: changes.length * 2 }),
  };
}

function summary(build: string, route: string, outs: readonly WorkerOutput[]): Record<string, unknown> {
  const latencies = outs.flatMap((o) => o.latencies).sort((a, b) => a - b);
  const ok = outs.reduce((n, o) => n + o.ok, 0);
  const seconds = outs.reduce((n, o) => n + o.elapsedMs, 0) / 1000;
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))];
  const failed = outs.reduce((n, o) => n + o.non2xx + o.errors, 0);
  const perRound = outs.map((o) => Math.round(o.ok / (o.elapsedMs / 1000)));
  return { build, route, ops_per_sec: Math.round(ok / seconds), per_round: perRound, p50_ms: at(0.5), p99_ms: at(0.99), failed };
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 4);
  const seconds = Number(process.argv[3] ?? 5);
  const builds = buildsOf(process.argv.slice(4));
  if (builds.length === 0) throw new Error('usage: http-builds.js <rounds> <seconds> <label>=<dist>[:<adapter>] …');
  const { url, drop } = await scratchBenchDatabase('bench_builds');
  const apis = new Map<string, RunningApi>();
  let host: RunningApi | undefined;
  try {
    host = await startApi(url);
    for (const build of builds) apis.set(build.label, await startBuild(build, url, host));
    const load = await prepare(apis, host, seconds);
    const labels = builds.map((b) => b.label);
    const outs = new Map<string, WorkerOutput[]>();
    const record = (key: string, out: WorkerOutput) => outs.set(key, [...(outs.get(key) ?? []), out]);
    for (let round = 0; round < rounds; round++) {
      // Rotate which build goes first, so none always runs on the warmer (or fuller) server.
      const order = labels.map((_, i) => labels[(i + round) % labels.length]);
      for (const label of order) record(`${label} get`, await load.get(apiOf(apis, label)));
      for (const label of order) record(`${label} command`, await load.command(apiOf(apis, label)));
    }
    for (const label of labels) {
      for (const route of ['get', 'command']) process.stdout.write(`${JSON.stringify(summary(label, route, outs.get(`${label} ${route}`) ?? []))}\n`);
    }
  } finally {
    for (const api of apis.values()) await api.close();
    await host?.close();
    await drop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
