import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestDatabase, createTestDatabase } from '../support/test-database';
import {
  AppName,
  AppProcess,
  INSTALLER_CONSUMER_SPEC,
  PROJECTION_CONSUMERS,
  assertBuilt,
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
  sleep,
  spawnApp,
  verifyAll,
  waitFor,
  waitForApi,
} from './support/cluster';
import { Workload } from './support/workload';

/*
 * Crash cycles: the API, the installer and the projections run as three OS processes against one
 * fresh database while clients drive a steady command mix (runtimes register through the real sample
 * runtime). Again and again a random one of the three is SIGKILLed at a random moment and restarted.
 * Afterwards nothing acknowledged is missing from the log, no deploy effect happened twice for one
 * generation, every consumer catches up and `projections verify all` finds no difference.
 *
 * RELIABILITY_CYCLES (default 10) sets the number of kills; RELIABILITY_SEED repeats a run.
 */

const CYCLES = Number(process.env.RELIABILITY_CYCLES ?? 10);
const SEED = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000);

jest.setTimeout(Math.max(180_000, CYCLES * 12_000 + 120_000));

describe('crash cycles (api, installer, projections as processes)', () => {
  let db: TestDatabase;
  let dir: string;
  let effectLog: string;
  let storeUrl: string | undefined;
  const procs = new Map<AppName, AppProcess>();
  let generation = 0;

  afterAll(async () => {
    for (const proc of procs.values()) proc.kill('SIGKILL');
    await Promise.all([...procs.values()].map((p) => p.exited));
    const ours = db ? await installationIds(db.pool).catch(() => new Set<string>()) : new Set<string>();
    if (effectLog) killRuntimes(readEffects(effectLog), storeUrl, ours);
    await db?.drop().catch(() => undefined);
    if (dir && !process.env.RELIABILITY_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  });

  it(`survives ${CYCLES} random SIGKILLs with nothing lost or duplicated`, async () => {
    assertBuilt();
    const random = prng(SEED);
    db = await createTestDatabase('rel_crash');
    dir = mkdtempSync(path.join(tmpdir(), 'reliability-crash-'));
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
      REGISTRATION_TIMEOUT_MS: '20000',
      HEARTBEAT_TIMEOUT_MS: '120000',
      RATE_LIMIT_PER_MINUTE: '1000000',
      DATABASE_POOL_SIZE: '8',
    };
    const startApp = (app: AppName): AppProcess => {
      generation++;
      const proc = spawnApp(app, `${app}-${generation}`, env, dir);
      procs.set(app, proc);
      return proc;
    };

    startApp('api');
    startApp('projections');
    startApp('installer');
    await waitForApi(baseUrl);

    const suffix = randomBytes(3).toString('hex');
    const publisher = { org: `relpub${suffix}`, key: await createKeyWithCli(db.url, `relpub${suffix}`) };
    const tenants = [publisher, { org: `reltenant${suffix}`, key: await createKeyWithCli(db.url, `reltenant${suffix}`) }];
    const workload = new Workload({
      baseUrl: () => baseUrl,
      publisher,
      tenants,
      providers: [`${publisher.org}/alpha`, `${publisher.org}/beta`, `${publisher.org}/gamma`],
      random,
      clients: 3,
      thinkMs: 30,
    });
    await workload.seed();
    workload.start();

    const firstThree = (['api', 'installer', 'projections'] as AppName[]).sort(() => random() - 0.5);
    const kills: Record<AppName, number> = { api: 0, installer: 0, projections: 0 };
    const started = Date.now();
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      await sleep(200 + Math.floor(random() * 1200));
      // Random victims, but each of the three is killed at least once when there are enough cycles.
      const victim = cycle <= 3 ? firstThree[cycle - 1] : (['api', 'installer', 'projections'] as const)[Math.floor(random() * 3)];
      await killHard(procs.get(victim)!);
      kills[victim]++;
      await sleep(Math.floor(random() * 300));
      const next = startApp(victim);
      // Give the new process a random head start of at most a few seconds: the next kill may land
      // while it is still starting, which is one more random moment to survive.
      const headStart = 1000 + Math.floor(random() * 3000);
      const ready = async () =>
        !next.alive() ||
        (victim === 'api' ? (await http(baseUrl, 'GET', '/health/ready', { timeoutMs: 1000 })).status === 200 : /"consumer active"|"installer started"/.test(next.log()));
      await waitFor(`${next.label} to start`, ready, headStart, 100).catch(() => undefined);
    }
    await sleep(1000);
    await workload.stop();
    const chaosMs = Date.now() - started;

    // All three processes up: every consumer catches up, every installation settles.
    for (const [app, proc] of procs) if (!proc.alive()) throw new Error(`${app} exited by itself:\n${proc.log().slice(-3000)}`);
    await waitFor(
      'the projections and the installer to reach the head',
      async () => (await laggingConsumers(db.pool, [...PROJECTION_CONSUMERS, INSTALLER_CONSUMER_SPEC])).length === 0,
      60_000,
      250,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}; lagging: ${(await laggingConsumers(db.pool, [...PROJECTION_CONSUMERS, INSTALLER_CONSUMER_SPEC])).join(', ')}`);
    });
    await waitFor(
      'every installation to settle (ready or failed)',
      async () => {
        const { rows } = await db.pool.query(`SELECT 1 FROM installed_providers WHERE lifecycle_state IN ('pending', 'processing', 'deleting') LIMIT 1`);
        return rows.length === 0 && (await laggingConsumers(db.pool, [...PROJECTION_CONSUMERS, INSTALLER_CONSUMER_SPEC])).length === 0;
      },
      60_000,
      250,
    );

    const lost = await lostAcknowledgements(db.pool, workload.acks);
    const effects = readEffects(effectLog);
    const twice = duplicatedStarts(effects);
    const untracked = await untrackedRuntimes(db.pool, baseUrl, effects);
    const duplicateEvents = await duplicatedEvents(db.pool);
    const verify = await verifyAll(db.url);
    const { rows: states } = await db.pool.query<{ lifecycle_state: string; n: string }>(
      'SELECT lifecycle_state, count(*) AS n FROM installed_providers GROUP BY lifecycle_state ORDER BY 1',
    );

    report('crash-cycles', {
      seed: SEED,
      cycles: CYCLES,
      kills,
      chaos_ms: chaosMs,
      requests: workload.figures.requests,
      acknowledged: workload.figures.acknowledged,
      rejected_4xx: workload.figures.rejected4xx,
      unanswered: workload.figures.unanswered,
      '5xx': workload.figures.status5xx,
      by_status: workload.figures.byStatus,
      events: await eventCount(db.pool),
      deploy_starts: effects.filter((e) => e.action === 'start').length,
      installations: Object.fromEntries(states.map((r) => [r.lifecycle_state, Number(r.n)])),
      lost: lost.length,
      duplicated: twice.length + duplicateEvents,
      untracked_runtimes: untracked.length,
      verify: verify.ok ? 'clean' : 'DIFFERENCES',
    });

    expect(workload.figures.acknowledged).toBeGreaterThan(CYCLES);
    expect(lost).toEqual([]);
    expect(twice).toEqual([]);
    expect(untracked).toEqual([]);
    expect(duplicateEvents).toBe(0);
    expect(workload.figures.timedOut).toBe(0);
    expect(workload.figures.status5xx).toBe(0);
    if (!verify.ok) throw new Error(`projections verify all found differences:\n${verify.output.slice(0, 4000)}`);
  });
});
