import { ChildProcess, execFile, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import { Pool } from 'pg';
import { createApi } from '../apps/api/create-api';
import { loadConfig } from '../libs/config/app-config';
import { createPool } from '../libs/database/database';
import { ApiKeyScope } from '../libs/api-keys/api-key';
import { ConsumerRunner } from '../libs/event-store/consumers/consumer-runner';
import { Infrastructure, createInfrastructure } from '../libs/infrastructure/infrastructure';
import { startProjections } from '../libs/projection-engine/start-projections';
import { startBareHttpServer } from './bare-http-server';
import { BenchResult, Measured, RssSampler, round, summarise, timedLoop } from './stats';
import { createKeyAndWait } from '../test/support/api-key-fixture';

export interface RunningApi {
  baseUrl: string;
  infrastructure: Infrastructure;
  /** Where its read models are projected: here, or a process of their own (`startApi`'s `projections`). */
  projections: 'in-process' | ProjectionsProcess;
  createKey(org: string, scopes: ApiKeyScope[]): Promise<string>;
  close(): Promise<void>;
}

/**
 * The real API, its projections in this process as test/support/test-app.ts starts it, or with
 * `projections: 'own-process'` in a child process as a deployment runs them; `env` adds settings.
 */
export async function startApi(databaseUrl: string, env: Record<string, string> = {}, options: { projections?: 'in-process' | 'own-process' } = {}): Promise<RunningApi> {
  // PROJECTIONS_POOL_SIZE passes through, to compare a dedicated projections pool with a shared one.
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_MINUTE: '1000000',
    DATABASE_URL: databaseUrl,
    PROJECTIONS_POOL_SIZE: process.env.PROJECTIONS_POOL_SIZE,
    ...env,
  });
  const infrastructure = await createInfrastructure(config, 'bench');
  const app: INestApplication = await createApi(infrastructure);
  await app.listen(0, '127.0.0.1');
  const address = (app.getHttpServer() as Server).address() as AddressInfo;
  const own = options.projections === 'own-process';
  const projections = own ? await startProjectionsProcess({ ...env, DATABASE_URL: databaseUrl }) : 'in-process';
  const workers: ConsumerRunner[] = own ? [] : startProjections(infrastructure);
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    infrastructure,
    projections,
    async createKey(org, scopes) {
      return createKeyAndWait(infrastructure.eventStore, infrastructure.pool, org, scopes, { createdBy: 'bench' });
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      if (projections !== 'in-process') await projections.stop();
      await app.close();
      await infrastructure.close();
    },
  };
}

export interface ProjectionsProcess {
  /** `stream#revision` → when the batch that wrote it committed (`process.hrtime.bigint()`), since the last report. */
  report(): Promise<Map<string, bigint>>;
  stop(): Promise<void>;
}

function isReport(message: unknown): message is { committedAt: Array<[string, string]> } {
  return typeof message === 'object' && message !== null && 'committedAt' in message && Array.isArray(message.committedAt);
}

/** A forked bench helper's answers: `next` is its next message, or an error once it has exited. */
export function childMessages(child: ChildProcess, label: string) {
  const exit = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${label} exited (${code})`))));
  exit.catch(() => undefined);
  return {
    exited: exit.catch(() => undefined),
    next<T>(accept: (message: unknown) => T): Promise<T> {
      const message = new Promise<T>((resolve, reject) =>
        child.once('message', (m) => {
          try {
            resolve(accept(m));
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        }),
      );
      return Promise.race([message, exit]);
    },
  };
}

/** bench/projections-process.ts forked with `env` over this process's environment; resolves once its consumers run. */
async function startProjectionsProcess(env: Record<string, string>): Promise<ProjectionsProcess> {
  const child = fork(join(__dirname, 'projections-process.js'), [], { env: { ...process.env, LOG_LEVEL: 'silent', ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const messages = childMessages(child, 'projections process');
  await messages.next((m) => {
    if (m !== 'ready') throw new Error(`projections process sent ${JSON.stringify(m)}`);
  });
  return {
    report() {
      const report = messages.next((m) => new Map(isReport(m) ? m.committedAt.map(([k, t]) => [k, BigInt(t)]) : []));
      child.send('report');
      return report;
    },
    async stop() {
      child.send('stop');
      await messages.exited;
    },
  };
}

/** `perTenant` installations for the benchmark's tenant and `total - perTenant` spread over 99 others. */
export async function seedInstalled(pool: Pool, tenant: string, perTenant: number, total: number): Promise<void> {
  const insert = (tenantExpr: string, count: number) =>
    pool.query(
      `INSERT INTO installed_providers (tenant, prefix, name, installation_id, installed_version, current_version,
         upgrade_policy, resource_tier, config, lifecycle_state, health, health_message, generation,
         last_deploy_message, revision, installed_at, updated_at)
       SELECT ${tenantExpr}, 'p' || (g % 100), 'n' || g, gen_random_uuid(), '1.0.' || (g % 10), '1.0.' || (g % 10),
              'manual', 'small', jsonb_build_object('replicas', 1 + g % 3, 'region', 'eu-west-1'), 'ready', 'healthy', NULL, 1,
              NULL, 3, now(), now()
         FROM generate_series(1, $1::int) AS g`,
      [count],
    );
  await insert(`'${tenant}'`, perTenant);
  await insert(`'other-' || (g % 99)`, total - perTenant);
  await pool.query('ANALYZE installed_providers');
}

export interface WorkerOutput {
  ok: number;
  non2xx: number;
  errors: number;
  elapsedMs: number;
  latencies: number[];
  /** 2xx responses in each second of the run, in order. */
  okPerSecond: number[];
}

/**
 * The input goes to the worker on stdin: full mode's request list (2,000 paths and bodies) is longer
 * than one command-line argument may be (E2BIG).
 */
export function runAutocannon(input: Record<string, unknown>): Promise<WorkerOutput> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [join(__dirname, 'autocannon-worker.js')], { maxBuffer: 512 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`autocannon worker failed: ${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout) as WorkerOutput);
    });
    child.stdin?.end(JSON.stringify(input));
  });
}

export function httpMeasured(out: WorkerOutput): Measured {
  const m = summarise(out.latencies, out.elapsedMs);
  return { ...m, ops: out.ok, ops_per_sec: round(out.ok / (out.elapsedMs / 1000)) };
}

/** One report of several autocannon runs: counts and time added, samples joined. */
export function merged(outs: readonly WorkerOutput[]): WorkerOutput {
  return {
    ok: outs.reduce((n, o) => n + o.ok, 0),
    non2xx: outs.reduce((n, o) => n + o.non2xx, 0),
    errors: outs.reduce((n, o) => n + o.errors, 0),
    elapsedMs: outs.reduce((n, o) => n + o.elapsedMs, 0),
    latencies: outs.flatMap((o) => o.latencies),
    // Whole seconds of each round (its last is partial).
    okPerSecond: outs.flatMap((o) => o.okPerSecond.slice(0, Math.floor(o.elapsedMs / 1000))),
  };
}

export interface QueryOptions {
  perTenant: number;
  total: number;
  durationSec: number;
  connections: number;
}

/** GET /providers/installed?limit=50 and GET /providers/installed/{p}/{n} against raw SELECTs of the same rows. */
export async function benchQueries(api: RunningApi, databaseUrl: string, rss: RssSampler, o: QueryOptions): Promise<BenchResult[]> {
  const tenant = `bench-${randomUUID().slice(0, 8)}`;
  const pool = api.infrastructure.pool;
  await seedInstalled(pool, tenant, o.perTenant, o.total);
  const key = await api.createKey(tenant, ['read']);
  const headers = { authorization: `Bearer ${key}` };
  const rawPool = createPool(databaseUrl, o.connections, 'bench-raw');
  const pages = 20; // rotate over the first pages, so the list is not one cached answer
  const getNames = Array.from({ length: 500 }, (_, i) => {
    const g = 1 + ((i * 7919) % o.perTenant);
    return { prefix: `p${g % 100}`, name: `n${g}` };
  });
  const common = { target: 'p99_ms < 5', connections: o.connections, duration_s: o.durationSec, installations_for_tenant: o.perTenant, installations_total: o.total };

  // Sanity check that the routes answer 200 with the seeded rows before loading them.
  const probe = await fetch(`${api.baseUrl}/providers/installed?limit=50`, { headers });
  const probeBody = (await probe.json()) as unknown[];
  if (probe.status !== 200 || probeBody.length !== 50) throw new Error(`GET /providers/installed answered ${probe.status} with ${probeBody.length} items`);

  const results: BenchResult[] = [];
  try {
    // list
    rss.reset();
    const listBase = await timedLoop(o.durationSec * 1000, o.connections, async (_w, i) => {
      const offset = (i % pages) * 50;
      await rawPool.query('SELECT * FROM installed_providers WHERE tenant = $1 ORDER BY prefix, name LIMIT 50 OFFSET $2', [tenant, offset]);
      await rawPool.query('SELECT count(*) FROM installed_providers WHERE tenant = $1', [tenant]);
    });
    const listOut = await runAutocannon({
      url: api.baseUrl,
      connections: o.connections,
      durationSec: o.durationSec,
      method: 'GET',
      headers,
      paths: Array.from({ length: pages }, (_, i) => `/providers/installed?limit=50&offset=${i * 50}`),
    });
    results.push(httpResult('query_installed_list', { ...common, endpoint: 'GET /providers/installed?limit=50&offset=0..950', non_2xx: listOut.non2xx, errors: listOut.errors, baseline: 'SELECT page of 50 + SELECT count(*), raw pg pool' }, listOut, listBase, rss));

    // get one
    rss.reset();
    const getBase = await timedLoop(o.durationSec * 1000, o.connections, async (w, i) => {
      const p = getNames[(w * 31 + i) % getNames.length];
      await rawPool.query('SELECT * FROM installed_providers WHERE tenant = $1 AND prefix = $2 AND name = $3', [tenant, p.prefix, p.name]);
    });
    const getOut = await runAutocannon({
      url: api.baseUrl,
      connections: o.connections,
      durationSec: o.durationSec,
      method: 'GET',
      headers,
      paths: getNames.map((p) => `/providers/installed/${p.prefix}/${p.name}`),
    });
    results.push(httpResult('query_installed_get', { ...common, endpoint: 'GET /providers/installed/{prefix}/{name}', non_2xx: getOut.non2xx, errors: getOut.errors, baseline: 'SELECT one row by primary key, raw pg pool' }, getOut, getBase, rss));
    const getPaths = getNames.map((p) => `/providers/installed/${p.prefix}/${p.name}`);
    results.push(await benchGetAgainstBareHttp(api, databaseUrl, rss, o, { tenant, authorization: headers.authorization, paths: getPaths }));
  } finally {
    await rawPool.end();
  }
  return results;
}

function httpResult(name: string, parameters: Record<string, unknown> & { target: string }, out: WorkerOutput, baseline: Measured, rss: RssSampler): BenchResult {
  const measured = httpMeasured(out);
  const { target, ...rest } = parameters;
  const healthy = out.non2xx === 0 && out.errors === 0;
  return {
    name,
    parameters: rest,
    ...measured,
    peak_rss_mb: rss.peakMb(),
    baseline,
    ratio: round(measured.ops_per_sec / baseline.ops_per_sec, 3),
    target,
    met: healthy && measured.p99_ms < 5,
  };
}

const BARE_HTTP_ROUNDS = 3;

/**
 * query_installed_get_http: query_installed_get's requests on the API and on a bare node:http + pg
 * server doing the same SELECT (bench/bare-http-server.ts), in interleaved rounds (bare first), the
 * same connections and total duration per side.
 */
async function benchGetAgainstBareHttp(
  api: RunningApi,
  databaseUrl: string,
  rss: RssSampler,
  o: QueryOptions,
  target: { tenant: string; authorization: string; paths: string[] },
): Promise<BenchResult> {
  const poolSize = api.infrastructure.config.databasePoolSize;
  const bare = await startBareHttpServer({ databaseUrl, poolSize, tenant: target.tenant, authorization: target.authorization });
  try {
    const headers = { authorization: target.authorization };
    // The same body for the same installation, or the comparison means nothing.
    const [ours, theirs] = await Promise.all([api.baseUrl, bare.baseUrl].map(async (base) => (await fetch(`${base}${target.paths[0]}`, { headers })).text()));
    if (ours !== theirs) throw new Error(`the bare server answers ${theirs}\nthe API answers ${ours}`);
    rss.reset();
    const load = (url: string) => runAutocannon({ url, connections: o.connections, durationSec: o.durationSec / BARE_HTTP_ROUNDS, method: 'GET', headers, paths: target.paths });
    const oursRounds: WorkerOutput[] = [];
    const bareRounds: WorkerOutput[] = [];
    for (let r = 0; r < BARE_HTTP_ROUNDS; r++) {
      bareRounds.push(await load(bare.baseUrl));
      oursRounds.push(await load(api.baseUrl));
    }
    const [out, baseOut] = [merged(oursRounds), merged(bareRounds)];
    const measured = httpMeasured(out);
    const baseline = httpMeasured(baseOut);
    const ratio = round(measured.ops_per_sec / baseline.ops_per_sec, 3);
    return {
      name: 'query_installed_get_http',
      parameters: {
        connections: o.connections,
        duration_s: o.durationSec,
        rounds: `${BARE_HTTP_ROUNDS} × ${round(o.durationSec / BARE_HTTP_ROUNDS, 2)} s per side, interleaved (bare server first)`,
        installations_for_tenant: o.perTenant,
        installations_total: o.total,
        endpoint: 'GET /providers/installed/{prefix}/{name}',
        non_2xx: out.non2xx,
        errors: out.errors,
        baseline_non_2xx: baseOut.non2xx,
        baseline_errors: baseOut.errors,
        baseline: `bare node:http + pg server (bench/bare-http-server.ts): the same SELECT by key, JSON body and ETag; pool of ${poolSize} as the API's`,
      },
      ...measured,
      peak_rss_mb: rss.peakMb(),
      baseline,
      ratio,
      target: 'ratio >= 0.6',
      met: [out, baseOut].every((x) => x.non2xx === 0 && x.errors === 0) && ratio >= 0.6,
    };
  } finally {
    await bare.close();
  }
}
