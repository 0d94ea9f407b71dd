/**
 * `node dist/bench/http-adapters.js [rounds] [seconds]`: the real API on Express and on Fastify
 * (HTTP_ADAPTER), both in this process on one fresh database (embedded server `pg-bench` unless
 * DATABASE_URL is set), loaded in interleaved rounds with the same requests:
 * - `get`: GET /providers/installed/{prefix}/{name} (as query_installed_get), 16 connections;
 * - `command`: POST upgrade/downgrade rotations over 200 installations (as command_http), 32
 *   connections, whole rotations per round, so every stream grows alike on both adapters.
 * Prints one JSON line per adapter and route with ops/s, p50 and p99 over all rounds.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { migrate } from '../libs/database/database';
import { startOrAttachEmbeddedPostgres } from '../libs/database/embedded-postgres';
import { HttpAdapterName } from '../apps/api/platform/http-adapter-setting';
import { PREFIX, VERSIONS, publishProviders } from './command-http';
import { RunningApi, WorkerOutput, runAutocannon, seedInstalled, startApi } from './http';

const ADAPTERS: readonly HttpAdapterName[] = ['express', 'fastify'];
const INSTALLATIONS = 200;

async function admin(url: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.query(sql).finally(() => client.end());
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

function apiOf(apis: Map<HttpAdapterName, RunningApi>, adapter: HttpAdapterName): RunningApi {
  const api = apis.get(adapter);
  if (!api) throw new Error(`no API started on ${adapter}`);
  return api;
}

interface Load {
  get(api: RunningApi): Promise<WorkerOutput>;
  command(api: RunningApi): Promise<WorkerOutput>;
}

/** Seeds the read rows and one command tenant per adapter; returns the two loads. */
async function prepare(apis: Map<HttpAdapterName, RunningApi>, seconds: number): Promise<Load> {
  const first = [...apis.values()][0];
  await seedInstalled(first.infrastructure.pool, 'reader', 2000, 20000);
  const readKey = await first.createKey('reader', ['read']);
  const getPaths = Array.from({ length: 500 }, (_, i) => {
    const g = 1 + ((i * 7919) % 2000);
    return `/providers/installed/p${g % 100}/n${g}`;
  });
  const names = await publishProviders(first, INSTALLATIONS);
  const commandHeaders = new Map<RunningApi, Record<string, string>>();
  for (const [adapter, api] of apis) {
    const key = await api.createKey(`cmd${adapter}`, ['install', 'read']);
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    commandHeaders.set(api, headers);
    const installs = names.map((n) => ({ path: '/providers/install', body: JSON.stringify({ provider_name: `${PREFIX}/${n}`, version: VERSIONS[0] }) }));
    const out = await runAutocannon({ url: api.baseUrl, connections: 8, durationSec: 60, method: 'POST', headers, paths: ['/'], requests: installs, amount: installs.length });
    if (out.ok !== installs.length) throw new Error(`${adapter}: ${out.ok} of ${installs.length} installs answered 2xx`);
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

function summary(adapter: HttpAdapterName, route: string, outs: readonly WorkerOutput[]): Record<string, unknown> {
  const latencies = outs.flatMap((o) => o.latencies).sort((a, b) => a - b);
  const ok = outs.reduce((n, o) => n + o.ok, 0);
  const seconds = outs.reduce((n, o) => n + o.elapsedMs, 0) / 1000;
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))];
  const failed = outs.reduce((n, o) => n + o.non2xx + o.errors, 0);
  const perRound = outs.map((o) => Math.round(o.ok / (o.elapsedMs / 1000)));
  return { adapter, route, ops_per_sec: Math.round(ok / seconds), per_round: perRound, p50_ms: at(0.5), p99_ms: at(0.99), failed };
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 4);
  const seconds = Number(process.argv[3] ?? 5);
  let adminUrl = process.env.DATABASE_URL;
  let stop: () => Promise<void> = async () => undefined;
  if (!adminUrl) {
    const pg = await startOrAttachEmbeddedPostgres('pg-bench');
    adminUrl = pg.url;
    stop = pg.stop;
  }
  const db = `bench_adapters_${randomBytes(4).toString('hex')}`;
  await admin(adminUrl, `CREATE DATABASE ${db}`);
  const url = withDatabase(adminUrl, db);
  const apis = new Map<HttpAdapterName, RunningApi>();
  try {
    await migrate(url);
    for (const adapter of ADAPTERS) apis.set(adapter, await startApi(url, {}, adapter));
    const load = await prepare(apis, seconds);
    const outs = new Map<string, WorkerOutput[]>();
    const record = (key: string, out: WorkerOutput) => outs.set(key, [...(outs.get(key) ?? []), out]);
    for (let round = 0; round < rounds; round++) {
      // Alternate which adapter goes first, so neither always runs on the warmer (or fuller) server.
      const order = round % 2 === 0 ? ADAPTERS : [...ADAPTERS].reverse();
      for (const adapter of order) record(`${adapter} get`, await load.get(apiOf(apis, adapter)));
      for (const adapter of order) record(`${adapter} command`, await load.command(apiOf(apis, adapter)));
    }
    for (const adapter of ADAPTERS) {
      for (const route of ['get', 'command']) process.stdout.write(`${JSON.stringify(summary(adapter, route, outs.get(`${adapter} ${route}`) ?? []))}\n`);
    }
  } finally {
    for (const api of apis.values()) await api.close();
    await admin(adminUrl, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
