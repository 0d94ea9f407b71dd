import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { migrate } from '../../libs/database/database';
import {
  AppProcess,
  HttpResult,
  INSTALLER_CONSUMER_SPEC,
  PROJECTION_CONSUMERS,
  assertBuilt,
  createKeyWithCli,
  duplicatedStarts,
  eventCount,
  freePort,
  http,
  installationIds,
  killRuntimes,
  laggingConsumers,
  lostAcknowledgements,
  prng,
  readEffects,
  report,
  sleep,
  spawnApp,
  verifyAll,
  waitFor,
  waitForApi,
} from './support/cluster';
import { RestartablePostgres, createDatabase, startRestartablePostgres } from './support/restartable-postgres';
import { Workload } from './support/workload';

/*
 * Database restart: the API and the projections run as processes against a PostgreSQL server of
 * their own while clients drive commands and queries. The server is stopped for a few seconds and
 * started again. While it is down every answer is a prompt 503 with Retry-After (never a 500, never a
 * hang); afterwards the same processes serve again, the projections resume from their checkpoints by
 * themselves, and nothing acknowledged is lost.
 */

jest.setTimeout(240_000);

const OUTAGE_MS = 4000;
/** Longest acceptable answer while the database is down (pool connect timeout is 5 s). */
const PROMPT_MS = 7000;

describe('database restart under load', () => {
  let pg: RestartablePostgres | undefined;
  let pool: Pool | undefined;
  let dir: string;
  const procs: AppProcess[] = [];

  let effectLog: string | undefined;
  let storeUrl: string | undefined;

  afterAll(async () => {
    for (const proc of procs) proc.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    const ours = pool ? await installationIds(pool).catch(() => new Set<string>()) : new Set<string>();
    if (effectLog) killRuntimes(readEffects(effectLog), storeUrl, ours);
    await pool?.end().catch(() => undefined);
    await pg?.destroy();
    if (dir && !process.env.RELIABILITY_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 with Retry-After during the outage and resumes by itself afterwards', async () => {
    assertBuilt();
    pg = await startRestartablePostgres('pg-restart');
    const database = `rel_restart_${randomBytes(3).toString('hex')}`;
    await createDatabase(pg.url, database);
    const url = pg.urlFor(database);
    await migrate(url);
    pool = new Pool({ connectionString: url, max: 3, connectionTimeoutMillis: 3000 });
    pool.on('error', () => undefined);

    dir = mkdtempSync(path.join(tmpdir(), 'reliability-restart-'));
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    effectLog = path.join(dir, 'effects.jsonl');
    storeUrl = baseUrl;
    const env: Record<string, string> = {
      DATABASE_URL: url,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: baseUrl,
      DEPLOY_EFFECT_LOG: effectLog,
      REGISTRATION_TIMEOUT_MS: '20000',
      HEARTBEAT_TIMEOUT_MS: '120000',
      LOG_LEVEL: 'info',
      RATE_LIMIT_PER_MINUTE: '1000000',
      DATABASE_POOL_SIZE: '8',
      READ_MODEL_WAIT_MS: '3000',
    };
    const api = spawnApp('api', 'api', env, dir);
    const projections = spawnApp('projections', 'projections', env, dir);
    const installer = spawnApp('installer', 'installer', env, dir);
    procs.push(api, projections, installer);
    await waitForApi(baseUrl);
    await waitFor('the projections to be active', async () => projections.log().includes('"consumer active"'), 60_000);

    const org = `relrs${randomBytes(3).toString('hex')}`;
    const key = await createKeyWithCli(url, org);

    let downSince: number | undefined;
    let upAgainAt: number | undefined;
    let phase = 'before' as 'before' | 'outage' | 'after';
    const outage = { answers: 0, status503: 0, withoutRetryAfter: [] as string[], slow: [] as string[], other: [] as string[] };
    const observe = (what: string, result: HttpResult) => {
      if (phase !== 'outage') return;
      outage.answers++;
      if (result.status === 503) {
        outage.status503++;
        if (!result.headers?.get('retry-after')) outage.withoutRetryAfter.push(what);
      } else if (result.status >= 500 || result.status <= 0) outage.other.push(`${what} → ${result.status}${result.error ? ` (${result.error})` : ''}`);
      if (result.ms > PROMPT_MS) outage.slow.push(`${what} took ${result.ms} ms`);
    };
    const workload = new Workload({
      baseUrl: () => baseUrl,
      publisher: { org, key },
      tenants: [{ org, key }],
      providers: [`${org}/alpha`, `${org}/beta`],
      random: prng(11),
      clients: 3,
      thinkMs: 50,
      requestTimeoutMs: 15_000,
      observe,
    });
    await workload.seed();

    // Queries too: the auth guard, the read side and the readiness probe must all fail fast with 503.
    const queries = { requests: 0, status5xx: 0, status500: 0 };
    let querying = true;
    const queryLoop = (async () => {
      while (querying) {
        for (const route of ['/providers', `/providers/${org}/alpha/versions`, '/providers/installed', '/health/ready']) {
          const sentAt = Date.now();
          const result = await http(baseUrl, 'GET', route, { key, timeoutMs: 15_000 });
          queries.requests++;
          if (result.status >= 500) queries.status5xx++;
          if (result.status === 500) queries.status500++;
          if (route === '/health/ready') {
            // Sent and answered while the server was down: the probe says "not ready" (503), promptly.
            const down = downSince !== undefined && sentAt >= downSince && (upAgainAt === undefined || Date.now() <= upAgainAt);
            if (down && (result.status !== 503 || result.ms > PROMPT_MS)) outage.other.push(`GET ${route} → ${result.status} in ${result.ms} ms`);
            if (phase === 'outage' && result.ms > PROMPT_MS) outage.slow.push(`GET ${route} took ${result.ms} ms`);
          } else observe(`GET ${route}`, result);
        }
        await sleep(100);
      }
    })();

    workload.start();
    await sleep(2000);

    phase = 'outage';
    const stoppedAt = Date.now();
    await pg.stop();
    downSince = Date.now();
    await sleep(OUTAGE_MS);
    upAgainAt = Date.now();
    await pg.start();
    const restartedAt = Date.now();
    // Requests sent while the server was down may still be finishing: they belong to the outage.
    await sleep(1000);
    phase = 'after';

    await waitFor('a command to succeed again', async () => {
      const r = await http(baseUrl, 'POST', '/provider-versions', {
        key,
        body: { name: `${org}/alpha`, version: `9.0.${Date.now() % 100000}`, wheel_url: 'https://files.example.com/alpha-9.whl' },
        timeoutMs: 10_000,
      });
      return r.status === 201;
    }, 60_000, 250);
    const recoveryMs = Date.now() - restartedAt;
    await sleep(3000);
    await workload.stop();
    querying = false;
    await queryLoop;

    // Same processes, no restart: the projections come back from their checkpoints on their own.
    expect(api.alive()).toBe(true);
    expect(projections.alive()).toBe(true);
    expect(installer.alive()).toBe(true);
    const catchUpStarted = Date.now();
    const consumers = [...PROJECTION_CONSUMERS, INSTALLER_CONSUMER_SPEC];
    await waitFor('the projections and the installer to reach the head again', async () => (await laggingConsumers(pool!, consumers)).length === 0, 60_000, 250).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await diagnose(pool!)}`);
    });
    const catchUpMs = Date.now() - catchUpStarted;

    const lost = await lostAcknowledgements(pool, workload.acks);
    const effects = readEffects(effectLog);
    const twice = duplicatedStarts(effects);
    const verify = await verifyAll(url);

    report('database-restart', {
      outage_ms: restartedAt - stoppedAt,
      recovery_ms: recoveryMs,
      catch_up_ms: catchUpMs,
      requests: workload.figures.requests + queries.requests,
      acknowledged: workload.figures.acknowledged,
      outage_answers: outage.answers,
      outage_503: outage.status503,
      '5xx': workload.figures.status5xx + queries.status5xx,
      '500': workload.figures.status500 + queries.status500,
      timed_out: workload.figures.timedOut,
      by_status: workload.figures.byStatus,
      events: await eventCount(pool),
      lost: lost.length,
      deploy_starts: effects.filter((e) => e.action === 'start').length,
      duplicated: twice.length,
      verify: verify.ok ? 'clean' : 'DIFFERENCES',
    });

    expect(outage.status503).toBeGreaterThan(0);
    expect(outage.withoutRetryAfter).toEqual([]);
    expect(outage.slow).toEqual([]);
    expect(outage.other).toEqual([]);
    expect(workload.figures.status500 + queries.status500).toBe(0);
    expect(workload.figures.timedOut).toBe(0);
    expect(workload.figures.unanswered).toBe(0);
    expect(lost).toEqual([]);
    expect(effects.filter((e) => e.action === 'start').length).toBeGreaterThan(0);
    expect(twice).toEqual([]);
    if (!verify.ok) throw new Error(`projections verify all found differences:\n${verify.output.slice(0, 4000)}`);
  });
});

/** What a stalled catch-up needs explained: who holds the snapshot horizon back, and where each consumer is. */
async function diagnose(pool: Pool): Promise<string> {
  const parts: string[] = [];
  const section = async (title: string, sql: string) => {
    try {
      parts.push(`${title}: ${JSON.stringify((await pool.query(sql)).rows)}`);
    } catch (error) {
      parts.push(`${title}: (${String(error)})`);
    }
  };
  await section('xmin', `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin, (SELECT max(transaction_id)::text FROM es_events) AS newest_event_xid`);
  await section(
    'sessions',
    `SELECT pid, application_name, state, backend_xid::text, backend_xmin::text, xact_start, left(query, 120) AS query
       FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
  );
  await section('checkpoints', `SELECT consumer, commit_position, prepare_position, updated_at FROM es_checkpoints ORDER BY consumer`);
  await section('locks', `SELECT pid, objid, granted FROM pg_locks WHERE locktype = 'advisory'`);
  return parts.join('\n');
}
