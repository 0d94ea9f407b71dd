import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { advisoryLockHolder } from '../../libs/database/advisory-lock';
import { TestDatabase, createTestDatabase } from '../support/test-database';
import {
  AppProcess,
  INSTALLER_CONSUMER_SPEC,
  PROJECTION_CONSUMERS,
  acknowledgement,
  assertBuilt,
  checkpointReached,
  createKeyWithCli,
  duplicatedEvents,
  duplicatedStarts,
  eventCount,
  freePort,
  http,
  killHard,
  installationIds,
  killRuntimes,
  untrackedRuntimes,
  laggingConsumers,
  lostAcknowledgements,
  prng,
  readEffects,
  report,
  spawnApp,
  verifyAll,
  waitFor,
  waitForApi,
} from './support/cluster';
import { Workload } from './support/workload';

/*
 * Failover: two replicas of the projections process and two of the installer. Exactly one replica
 * holds each consumer's advisory lock (pg_locks) and projects; SIGKILL it, and the standby takes
 * over: its checkpoint moves again after a new command within a few seconds, nothing acknowledged is
 * lost, nothing is applied twice (verify is clean, one deploy start per generation).
 */

jest.setTimeout(240_000);

const ALL_PROJECTION_NAMES = PROJECTION_CONSUMERS.map((c) => c.name);

function activeConsumers(proc: AppProcess): Set<string> {
  const active = new Set<string>();
  for (const line of proc.log().split('\n')) {
    if (!line.includes('"consumer active"')) continue;
    try {
      const entry = JSON.parse(line) as { consumer?: string };
      if (entry.consumer) active.add(entry.consumer);
    } catch {
      // a torn last line
    }
  }
  return active;
}

async function lockHolders(db: TestDatabase, consumers: string[]): Promise<Record<string, number | null>> {
  const result: Record<string, number | null> = {};
  for (const name of consumers) result[name] = (await advisoryLockHolder(db.pool, `consumer:${name}`))?.pid ?? null;
  return result;
}

describe('failover between replicas of the projections and the installer', () => {
  let db: TestDatabase;
  let dir: string;
  let effectLog: string;
  let storeUrl: string | undefined;
  const procs: AppProcess[] = [];

  afterAll(async () => {
    for (const proc of procs) proc.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    const ours = db ? await installationIds(db.pool).catch(() => new Set<string>()) : new Set<string>();
    if (effectLog) killRuntimes(readEffects(effectLog), storeUrl, ours);
    await db?.drop().catch(() => undefined);
    if (dir && !process.env.RELIABILITY_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps one active replica per consumer and hands over within seconds of a SIGKILL', async () => {
    assertBuilt();
    db = await createTestDatabase('rel_failover');
    dir = mkdtempSync(path.join(tmpdir(), 'reliability-failover-'));
    effectLog = path.join(dir, 'effects.jsonl');
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    storeUrl = baseUrl;
    const env: Record<string, string> = {
      DATABASE_URL: db.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: baseUrl,
      LOG_LEVEL: 'info',
      DEPLOY_EFFECT_LOG: effectLog,
      REGISTRATION_TIMEOUT_MS: '30000',
      HEARTBEAT_TIMEOUT_MS: '120000',
      RUNTIME_HEARTBEAT_INTERVAL_MS: '500',
      RATE_LIMIT_PER_MINUTE: '1000000',
      DATABASE_POOL_SIZE: '8',
    };
    const start = (app: 'api' | 'installer' | 'projections', label: string) => {
      const proc = spawnApp(app, label, env, dir);
      procs.push(proc);
      return proc;
    };

    // The first replica of each starts alone and takes every lock; the second stands by.
    start('api', 'api');
    const projA = start('projections', 'projections-a');
    const instA = start('installer', 'installer-a');
    await waitForApi(baseUrl);
    await waitFor('projections-a to hold every projection', async () => ALL_PROJECTION_NAMES.every((n) => activeConsumers(projA).has(n)), 60_000);
    await waitFor('installer-a to hold the installer', async () => activeConsumers(instA).has('installer'), 60_000);
    const projB = start('projections', 'projections-b');
    const instB = start('installer', 'installer-b');
    await waitFor('the standbys to start', async () => projB.log().includes('event store selected') && instB.log().includes('installer started'), 60_000);

    const suffix = randomBytes(3).toString('hex');
    const org = `relfo${suffix}`;
    const key = await createKeyWithCli(db.url, org);
    const provider = `${org}/alpha`;
    const seeder = new Workload({ baseUrl: () => baseUrl, publisher: { org, key }, tenants: [{ org, key }], providers: [provider, `${org}/beta`], random: prng(7) });
    await seeder.seed();
    const acks: ReturnType<typeof acknowledgement>[] = [...seeder.acks];
    // Background load on another provider while the replicas are killed; alpha is driven explicitly.
    const workload = new Workload({ baseUrl: () => baseUrl, publisher: { org, key }, tenants: [{ org, key }], providers: [`${org}/beta`], random: prng(7), clients: 1, thinkMs: 100 });
    const command = async (what: string, method: string, route: string, body?: unknown) => {
      const result = await http(baseUrl, method, route, { key, body, timeoutMs: 15_000 });
      if (result.status < 200 || result.status >= 300) throw new Error(`${what} answered ${result.status}: ${JSON.stringify(result.body)}`);
      acks.push(acknowledgement(what, result));
      return result;
    };
    await command('install', 'POST', '/providers/install', { provider_name: provider, version: '1.0.0' });
    const lifecycle = async () => {
      const { rows } = await db.pool.query<{ lifecycle_state: string; generation: number }>(
        `SELECT lifecycle_state, generation FROM installed_providers WHERE tenant = $1 AND prefix = $2 AND name = 'alpha'`,
        [org, org],
      );
      return rows[0];
    };
    await waitFor('the installation to become ready', async () => (await lifecycle())?.lifecycle_state === 'ready', 60_000);

    // One holder per consumer, and it is the replica whose log says it is active; the standby is not.
    const consumers = [...ALL_PROJECTION_NAMES, 'installer'];
    const holdersBefore = await lockHolders(db, consumers);
    for (const name of consumers) expect(holdersBefore[name]).not.toBeNull();
    for (const name of ALL_PROJECTION_NAMES) expect([activeConsumers(projA).has(name), activeConsumers(projB).has(name)]).toEqual([true, false]);
    expect([activeConsumers(instA).has('installer'), activeConsumers(instB).has('installer')]).toEqual([true, false]);

    workload.start();

    // ---- projections: SIGKILL the active replica, then a new command; measure until B projects it.
    const projKilledAt = Date.now();
    await killHard(projA);
    const published = await command('publish 3.0.0', 'POST', '/provider-versions', {
      name: provider,
      version: '3.0.0',
      wheel_url: `https://files.example.com/${org}_alpha-3.0.0-py3-none-any.whl`,
    });
    const publishedAt = published.headers!.get('x-position')!;
    await waitFor('projections-b to project the new version', async () => (await checkpointReached(db.pool, 'provider-versions', publishedAt)) && (await checkpointReached(db.pool, 'catalog', publishedAt)), 30_000, 50);
    const projectionTakeoverMs = Date.now() - projKilledAt;
    await waitFor('projections-b to hold every projection', async () => ALL_PROJECTION_NAMES.every((n) => activeConsumers(projB).has(n)), 30_000);

    // ---- installer: SIGKILL the active replica, then an upgrade; measure until B deploys it.
    const instKilledAt = Date.now();
    await killHard(instA);
    const upgraded = await command('upgrade 2.0.0', 'POST', `/providers/installed/${provider}/upgrade`, { version: '2.0.0' });
    const upgradedAt = upgraded.headers!.get('x-position')!;
    await waitFor('installer-b to act on the upgrade', async () => checkpointReached(db.pool, 'installer', upgradedAt), 30_000, 50);
    const installerTakeoverMs = Date.now() - instKilledAt;
    expect(activeConsumers(instB).has('installer')).toBe(true);
    await waitFor('the upgraded installation to become ready', async () => {
      const row = await lifecycle();
      return row?.lifecycle_state === 'ready' && row.generation >= 2;
    }, 60_000);

    await workload.stop();

    // The killed replicas come back as standbys; the survivors keep their locks.
    const projA2 = start('projections', 'projections-a2');
    const instA2 = start('installer', 'installer-a2');
    await waitFor('the restarted replicas to start', async () => projA2.log().includes('event store selected') && instA2.log().includes('installer started'), 60_000);

    await waitFor('every consumer to reach the head', async () => (await laggingConsumers(db.pool, [...PROJECTION_CONSUMERS, INSTALLER_CONSUMER_SPEC])).length === 0, 60_000, 250);
    await waitFor('every installation to settle', async () => {
      const { rows } = await db.pool.query(`SELECT 1 FROM installed_providers WHERE lifecycle_state IN ('pending', 'processing', 'deleting') LIMIT 1`);
      return rows.length === 0 && (await laggingConsumers(db.pool, [...PROJECTION_CONSUMERS, INSTALLER_CONSUMER_SPEC])).length === 0;
    }, 60_000, 250);
    const holdersAfter = await lockHolders(db, consumers);
    for (const name of consumers) expect(holdersAfter[name]).not.toBeNull();
    expect(ALL_PROJECTION_NAMES.some((n) => activeConsumers(projA2).has(n))).toBe(false);
    expect(activeConsumers(instA2).has('installer')).toBe(false);

    const allAcks = [...acks, ...workload.acks];
    const lost = await lostAcknowledgements(db.pool, allAcks);
    const effects = readEffects(effectLog);
    const twice = duplicatedStarts(effects);
    const untracked = await untrackedRuntimes(db.pool, baseUrl, effects);
    const duplicateEvents = await duplicatedEvents(db.pool);
    const verify = await verifyAll(db.url);

    report('failover', {
      projection_takeover_ms: projectionTakeoverMs,
      installer_takeover_ms: installerTakeoverMs,
      requests: workload.figures.requests + acks.length,
      acknowledged: allAcks.length,
      '5xx': workload.figures.status5xx,
      events: await eventCount(db.pool),
      deploy_starts: effects.filter((e) => e.action === 'start').length,
      lost: lost.length,
      duplicated: twice.length + duplicateEvents,
      untracked_runtimes: untracked.length,
      verify: verify.ok ? 'clean' : 'DIFFERENCES',
    });

    expect(projectionTakeoverMs).toBeLessThan(15_000);
    expect(installerTakeoverMs).toBeLessThan(15_000);
    expect(lost).toEqual([]);
    expect(twice).toEqual([]);
    expect(untracked).toEqual([]);
    expect(duplicateEvents).toBe(0);
    expect(workload.figures.status5xx).toBe(0);
    if (!verify.ok) throw new Error(`projections verify all found differences:\n${verify.output.slice(0, 4000)}`);
  });
});
