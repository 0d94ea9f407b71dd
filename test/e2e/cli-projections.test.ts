import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { runCommand } from '../../libs/application/command-runner';
import { installationDecider } from '../../libs/installations/installation.decider';
import { InstallationCommand } from '../../libs/installations/installation.commands';
import { installationStream } from '../../libs/installations/installation-identity';
import { providerDecider } from '../../libs/providers/provider.decider';
import { providerStream } from '../../libs/providers/provider-identity';
import { CheckpointStore } from '../../libs/event-store/consumers/checkpoint-store';
import { ConsumerRunner } from '../../libs/event-store/consumers/consumer-runner';
import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { comparePositions } from '../../libs/event-store/position';
import { PROJECTIONS } from '../../projections/projections';
import { providerInstallCountsProjection } from '../../projections/provider-install-counts.projection';
import { installedProvidersProjection } from '../../projections/installed-providers.projection';
import { ProjectionConsumer } from '../../libs/projection-engine/projection-consumer';
import { ProjectionAdminDeps } from '../../libs/projection-engine/admin-deps';
import { rebuildProjection } from '../../libs/projection-engine/rebuild';
import { RowProjection } from '../../libs/projection-engine/row-projection';
import { verifyProjection } from '../../libs/projection-engine/verify';
import { TestDatabase, createTestDatabase } from '../support/test-database';

/**
 * Rebuild and verify against a real PostgreSQL: a scripted history (publishes, installs, upgrades,
 * downgrades, deploys, uninstalls) appended through the deciders, the live projections caught up the
 * way the app runs them, then corruption, truncation, interruption and concurrent traffic.
 */
describe('projections rebuild and verify (PostgreSQL)', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;
  let deps: ProjectionAdminDeps;
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const logger = pino({ level: 'silent' });
  const TENANTS = Array.from({ length: 24 }, (_, i) => `t${i}`);

  const now = () => new Date((clock += 1000)).toISOString();
  const context = () => ({ actor: 'apikey:test', correlationId: randomUUID(), idempotencyScope: 'test', now: now() });

  async function publish(prefix: string, name: string, version: string): Promise<void> {
    await runCommand(store, providerDecider, providerStream({ prefix, name }), {
      type: 'PublishVersion',
      provider: { prefix, name },
      publisher: { organizationId: prefix, platformAdmin: false },
      version,
      runtimeVersion: '1.0.0',
      wheelUrl: `https://files.example.com/${prefix}_${name}-${version}-py3-none-any.whl`,
      wheelSha256: null,
      packageName: `${prefix}_${name}`,
      entrypoint: null,
      schemas: [{ resource_type: 'db', schema: { type: 'object' } }],
      configSchema: null,
      outputsSchema: null,
      changelog: `release ${version}`,
      metadata: { display_name: `${prefix}/${name}`, tags: ['db'] },
      now: now(),
    }, context());
  }

  async function installation(tenant: string, name: string, command: Record<string, unknown> & { type: InstallationCommand['type'] }): Promise<void> {
    await runCommand(store, installationDecider, installationStream(tenant, { prefix: 'acme', name }), { ...command, now: now() } as InstallationCommand, context());
  }

  async function install(tenant: string, name: string, version: string): Promise<void> {
    await installation(tenant, name, {
      type: 'InstallProvider',
      installationId: randomUUID(),
      tenant,
      prefix: 'acme',
      name,
      version,
      resourceTier: 'standard',
      upgradePolicy: 'manual',
      config: { region: 'eu' },
    });
  }

  /** Deploys the current generation and lets the runtime register. */
  async function deploy(tenant: string, name: string, generation: number, version: string): Promise<void> {
    await installation(tenant, name, { type: 'StartDeploy', generation, tokenHash: `hash-${tenant}-${generation}` });
    await installation(tenant, name, { type: 'RecordRegistration', generation, version, endpoint: null });
  }

  const versions = new Map<string, string>();
  const extraGenerations = new Map<string, number>();

  /** A slice of life for each tenant; `round` varies it so later appends change existing rows. */
  async function history(tenants: string[], round: number): Promise<void> {
    for (const [i, tenant] of tenants.entries()) {
      if (round === 0) {
        await install(tenant, 'postgres', '1.0.0');
        await deploy(tenant, 'postgres', 1, '1.0.0');
        if (i % 2 === 0) await install(tenant, 'redis', '1.0.0');
        continue;
      }
      const to = versions.get(tenant) === '1.1.0' ? '1.0.0' : '1.1.0';
      versions.set(tenant, to);
      await installation(tenant, 'postgres', { type: 'ChangeVersion', direction: to === '1.1.0' ? 'up' : 'down', targetVersion: to, reason: 'manual' });
      if (i % 3 === 0) await installation(tenant, 'postgres', { type: 'ReportHealth', health: 'degraded', message: `round ${round}` });
      if (i % 4 === 1) await installation(tenant, 'postgres', { type: 'Reconfigure', config: { region: `r${round}` } });
      if (round >= 3) {
        // Installs and uninstalls move the provider's install_count, which a double apply would skew.
        const generation = extraGenerations.get(tenant) ?? 0;
        if (generation % 2 === 0) {
          await install(tenant, 'extra', '1.0.0');
        } else {
          await installation(tenant, 'extra', { type: 'Uninstall' });
          await installation(tenant, 'extra', { type: 'CompleteUninstall', generation: generation + 1 });
        }
        extraGenerations.set(tenant, generation + 1);
      }
      if (i % 5 === 2 && i % 2 === 0 && round === 1) {
        await installation(tenant, 'redis', { type: 'Uninstall' });
        await installation(tenant, 'redis', { type: 'CompleteUninstall', generation: 2 });
      }
    }
  }

  /**
   * Waits until log readers can see the newest event. They read below the server's oldest writing
   * transaction, in any database (the xmin is cluster-wide): while other suites write in parallel, a
   * just-committed event may stay out of reach of `headPosition` (and of verify) for a moment.
   */
  async function waitUntilReadable(timeoutMs = 30_000): Promise<void> {
    const { rows } = await db.pool.query<{ c: string; p: string }>(
      'SELECT transaction_id::text AS c, global_position::text AS p FROM es_events ORDER BY transaction_id DESC, global_position DESC LIMIT 1',
    );
    const newest = { commit: BigInt(rows[0].c), prepare: BigInt(rows[0].p) };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const head = await store.headPosition();
      if (head && comparePositions(head, newest) >= 0) return;
      if (Date.now() > deadline) throw new Error(`the newest event did not become readable within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Waits until each projection's checkpoint has reached the newest event of its types in the table itself. */
  async function waitForConsumersAt(projections: RowProjection[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const projection of projections) {
      for (;;) {
        const { rows } = await db.pool.query<{ reached: boolean }>(
          `SELECT coalesce((SELECT (k.commit_position::text::numeric, k.prepare_position) >= (e.transaction_id::text::numeric, e.global_position)
                              FROM es_checkpoints k WHERE k.consumer = $1), false) AS reached
             FROM (SELECT transaction_id, global_position FROM es_events WHERE event_type = ANY($2)
                    ORDER BY transaction_id DESC, global_position DESC LIMIT 1) e`,
          [projection.name, projection.eventTypes],
        );
        if (rows[0]?.reached !== false) break;
        if (Date.now() > deadline) throw new Error(`${projection.name} did not reach the last event within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /** Catches a projection up the way its runner does: pages from the checkpoint through the consumer. */
  async function catchUp(projection: RowProjection): Promise<void> {
    const consumer = new ProjectionConsumer(db.pool, projection, deps.checkpoints);
    for (;;) {
      const events = await store.readAll({ fromPosition: await consumer.loadCheckpoint(), filter: consumer.filter, limit: 100 });
      if (events.length === 0) return;
      await consumer.handle(events);
    }
  }

  async function rows(table: string): Promise<unknown[]> {
    const key = PROJECTIONS.find((p) => p.table.name === table)?.table.key ?? [];
    const { rows: result } = await db.pool.query<{ row: unknown }>(
      `SELECT to_jsonb(t) AS row FROM ${table} t ORDER BY ${key.map((k) => `t.${k}`).join(', ')}`,
    );
    return result.map((r) => r.row);
  }

  async function indexNames(table: string): Promise<string[]> {
    const { rows: result } = await db.pool.query<{ indexname: string }>('SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY indexname', [table]);
    return result.map((r) => r.indexname);
  }

  async function leftovers(): Promise<{ tables: string[]; checkpoints: string[] }> {
    const tables = await db.pool.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE tablename LIKE '%\\_\\_%' ORDER BY 1`);
    const checkpoints = await db.pool.query<{ consumer: string }>(`SELECT consumer FROM es_checkpoints WHERE consumer LIKE '%\\_\\_%' ORDER BY 1`);
    return { tables: tables.rows.map((r) => r.tablename), checkpoints: checkpoints.rows.map((r) => r.consumer) };
  }

  let snapshot: unknown[];
  let originalIndexes: string[];

  beforeAll(async () => {
    db = await createTestDatabase('cli');
    store = new PostgresEventStore(db.pool, { idlePollMs: 200 });
    deps = { pool: db.pool, eventStore: store, checkpoints: new CheckpointStore(db.pool) };
    await publish('acme', 'extra', '1.0.0');
    for (const name of ['postgres', 'redis']) {
      await publish('acme', name, '1.0.0');
      await publish('acme', name, '1.1.0');
    }
    await history(TENANTS, 0);
    await history(TENANTS, 1);
    await history(TENANTS.filter((_, i) => i % 3 !== 0), 2);
    await waitUntilReadable();
    for (const projection of PROJECTIONS) await catchUp(projection);
    snapshot = await rows('installed_providers');
    originalIndexes = await indexNames('installed_providers');
  });

  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('the scripted history fills the read models', async () => {
    expect(snapshot.length).toBeGreaterThan(TENANTS.length);
    const states = new Set((snapshot as Array<{ installed_version: string }>).map((r) => r.installed_version));
    expect(states).toEqual(new Set(['1.0.0', '1.1.0']));
  });

  it('verify finds no difference between the live tables and the history', async () => {
    for (const projection of PROJECTIONS) {
      const report = await verifyProjection(deps, projection, { batchSize: 37 });
      expect({ name: report.name, verified: report.verified, differences: report.differences, lag: report.lag }).toEqual({
        name: projection.name,
        verified: true,
        differences: [],
        lag: null,
      });
      expect(report.live_rows).toBe(report.expected_rows);
    }
    expect(await leftovers()).toEqual({ tables: [], checkpoints: [] });
  });

  it('verify reports exactly the corrupted row, with the column that differs', async () => {
    await db.pool.query(`UPDATE installed_providers SET installed_version = '9.9.9' WHERE tenant = 't3' AND name = 'postgres'`);
    const expected = (snapshot as Array<Record<string, unknown>>).find((r) => r.tenant === 't3' && r.name === 'postgres') as Record<string, unknown>;
    const report = await verifyProjection(deps, installedProvidersProjection);
    expect(report.verified).toBe(true);
    expect(report.differences).toHaveLength(1);
    const [difference] = report.differences;
    expect(difference.key).toEqual({ tenant: 't3', prefix: 'acme', name: 'postgres' });
    expect(difference.columns).toEqual(['installed_version']);
    expect(difference.live?.installed_version).toBe('9.9.9');
    expect(difference.expected?.installed_version).toBe(expected.installed_version);

    // A missing row and an extra row show as such.
    await db.pool.query(`DELETE FROM installed_providers WHERE tenant = 't5' AND name = 'postgres'`);
    // A copy of t1's row under another tenant and installation id, whatever columns the table declares.
    const columns = Object.keys(installedProvidersProjection.table.columns);
    const copied = columns.map((c) => (c === 'tenant' ? `'ghost'` : c === 'installation_id' ? 'gen_random_uuid()' : c));
    await db.pool.query(
      `INSERT INTO installed_providers (${columns.join(', ')}) SELECT ${copied.join(', ')} FROM installed_providers WHERE tenant = 't1' AND name = 'postgres'`,
    );
    const three = await verifyProjection(deps, installedProvidersProjection);
    expect(three.differences.map((d) => [d.key.tenant, d.live === null, d.expected === null])).toEqual([
      ['ghost', false, true],
      ['t3', false, false],
      ['t5', true, false],
    ]);
  });

  it('rebuild restores a truncated table to exactly the rows it had, and keeps the index names', async () => {
    await db.pool.query('TRUNCATE installed_providers');
    const report = await rebuildProjection(deps, installedProvidersProjection, { batchSize: 50 });
    expect(report).toMatchObject({ name: 'installed-providers', aborted: false, resumed: false });
    expect(report.events).toBeGreaterThan(100);
    expect(await rows('installed_providers')).toEqual(snapshot);
    expect(await indexNames('installed_providers')).toEqual(originalIndexes);
    expect(await leftovers()).toEqual({ tables: [], checkpoints: [] });
    expect((await verifyProjection(deps, installedProvidersProjection)).differences).toEqual([]);
  });

  it('a rebuild interrupted after its first page resumes from its checkpoint when rerun', async () => {
    await db.pool.query(`UPDATE installed_providers SET health = 'degraded', health_message = 'corrupt'`);
    const controller = new AbortController();
    const pages: number[] = [];
    const first = await rebuildProjection(deps, installedProvidersProjection, {
      batchSize: 40,
      signal: controller.signal,
      onProgress: (p) => {
        pages.push(p.processed);
        controller.abort();
      },
    });
    // One transaction: a page of 40, or a few when they touch fewer than 40 rows.
    expect(first.aborted).toBe(true);
    expect(first.events).toBeGreaterThanOrEqual(40);
    expect(pages).toEqual([first.events]);
    // Nothing live changed; the shadow table and its checkpoint wait for the rerun.
    expect(await leftovers()).toEqual({ tables: ['installed_providers__rebuild'], checkpoints: ['installed-providers__rebuild'] });
    const shadowRows = await db.pool.query('SELECT count(*)::int AS n FROM installed_providers__rebuild');
    expect(shadowRows.rows[0].n).toBeGreaterThan(0);
    expect(((await rows('installed_providers')) as Array<{ health_message: string }>).every((r) => r.health_message === 'corrupt')).toBe(true);

    let total: number | undefined;
    const second = await rebuildProjection(deps, installedProvidersProjection, { batchSize: 40, onStart: (info) => (total = info.total) });
    expect(second).toMatchObject({ aborted: false, resumed: true });
    expect(total).toBe(second.events);
    const all = await db.pool.query(`SELECT count(*)::int AS n FROM es_events WHERE event_type = ANY($1)`, [installedProvidersProjection.eventTypes]);
    expect(first.events + second.events).toBe(all.rows[0].n);
    expect(await rows('installed_providers')).toEqual(snapshot);
    expect(await leftovers()).toEqual({ tables: [], checkpoints: [] });
  });

  it('rebuilds while the live projections run and events keep arriving, losing and doubling nothing', async () => {
    const live = [installedProvidersProjection, providerInstallCountsProjection];
    const runners = live.map(
      (projection) => new ConsumerRunner(db.pool, store, new ProjectionConsumer(db.pool, projection, deps.checkpoints), logger, { lockRetryMs: 50 }),
    );
    for (const runner of runners) runner.start();
    try {
      let writing = true;
      const writer = (async () => {
        for (let round = 3; writing || round < 6; round++) await history(TENANTS.slice(0, 8), round);
      })();
      const reports = await Promise.all(live.map((projection) => rebuildProjection(deps, projection, { batchSize: 25 })));
      writing = false;
      await writer;
      expect(reports.map((r) => r.aborted)).toEqual([false, false]);
      await history(TENANTS.slice(8, 12), 3);
      // Both runners must have passed the last event before their tables are compared with each
      // other. Log readers stop below the server's oldest running transaction, in any database (the
      // snapshot xmin is cluster-wide), so while other suites write in parallel "the head" a verify
      // sees may lie behind the last append, and each projection may stand at a different point.
      await waitForConsumersAt(live, 30_000);

      // The runners hold their locks, so verify waits for them instead of calling it lag.
      for (const projection of live) {
        const verified = await verifyProjection(deps, projection);
        expect(verified).toMatchObject({ name: projection.name, verified: true, differences: [], lag: null });
      }
      const installed = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM installed_providers WHERE name = 'extra'`);
      const catalog = await db.pool.query<{ n: number }>(`SELECT install_count AS n FROM provider_install_counts WHERE name = 'extra'`);
      expect(installed.rows[0].n).toBeGreaterThan(0);
      expect(catalog.rows[0].n).toBe(installed.rows[0].n);
      expect(await leftovers()).toEqual({ tables: [], checkpoints: [] });
    } finally {
      for (const runner of runners) await runner.stop();
    }
  });

  it('verify compares a stopped, lagging projection at its checkpoint and reports the lag', async () => {
    for (const tenant of TENANTS.slice(0, 3)) {
      await installation(tenant, 'postgres', { type: 'ReportHealth', health: 'degraded', message: 'while stopped' });
    }
    await waitUntilReadable();
    const report = await verifyProjection(deps, installedProvidersProjection);
    expect(report.verified).toBe(true);
    expect(report.differences).toEqual([]);
    expect(report.lag).toMatchObject({ running: false });
    expect(report.lag?.events_behind).toBeGreaterThan(0);
    await catchUp(installedProvidersProjection);
    expect((await verifyProjection(deps, installedProvidersProjection)).lag).toBeNull();
  });
});
