import { aggregatesIn } from '../../libs/application/aggregates';
import { FoldedProviderFacts } from '../../libs/providers/provider-facts';
import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { EffectLine, LocalProcessDeployer } from '../../apps/installer/local-process/local-process.deployer';
import { InstallerConsumer } from '../../apps/installer/installer.consumer';
import { RegistrationTokens, hashToken, tokenMatches } from '../../libs/installations/registration-token';
import { CommandContext, runCommand } from '../../libs/application/command-runner';
import { installationStream } from '../../libs/installations/installation-identity';
import { InstallationCommand } from '../../libs/installations/installation.commands';
import { InstallationState, installationDecider } from '../../libs/installations/installation.decider';
import { InstallationEvent } from '../../libs/installations/installation.events';
import { providerStream } from '../../libs/providers/provider-identity';
import { providerDecider } from '../../libs/providers/provider.decider';
import { fold } from '../../libs/domain/decider';
import { CheckpointStore } from '../../libs/event-store/consumers/checkpoint-store';
import { ConsumerRunner } from '../../libs/event-store/consumers/consumer-runner';
import { RecordedEvent } from '../../libs/event-store/event-store.port';
import { comparePositions } from '../../libs/event-store/position';
import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { installedProvidersProjection } from '../../projections/installed-providers.projection';
import { ProjectionConsumer } from '../../libs/projection-engine/projection-consumer';
import { TestDatabase, createTestDatabase } from '../support/test-database';

/*
 * The installer against real PostgreSQL with the local-process deployer running the real (compiled)
 * sample runtime. The platform's /runtime endpoints are played by a small stand-in below that checks
 * the token against the hash in the log and records the registration as the API does, so the whole
 * loop runs: InstallRequested → DeployStarted → a process → its registration → RegistrationReceived.
 */

jest.setTimeout(60_000);

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const ACME_DB = { prefix: 'acme', name: 'db' };
const TENANT = 'tenant-a';
const STREAM = installationStream(TENANT, ACME_DB);
const INSTALLATION_ID = '7f0c1a52-2b5e-4c0e-9a36-0d3f4c8b9e11';
const CONFIG = { REGION: 'eu-west-1' };
const SHA = 'cd'.repeat(32);

/** Plays the API's /runtime endpoints: verifies the token, appends RecordRegistration, counts heartbeats. */
class RuntimeEndpointStandIn {
  accepting = true;
  readonly registrations: Array<{ body: Record<string, unknown>; tokenValid: boolean }> = [];
  readonly heartbeats: Array<Record<string, unknown>> = [];
  private server?: Server;
  url = '';

  constructor(private readonly store: PostgresEventStore) {}

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.serve(req, res).catch(() => reply(res, 500)));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    if (!this.accepting) return reply(res, 503);
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const state = await stateOf(this.store);
    const hash = state.status === 'present' ? state.tokenHashes[Number(body.generation)] : undefined;
    const tokenValid = hash !== undefined && tokenMatches(token, hash);
    if (req.url === '/runtime/heartbeats') {
      this.heartbeats.push(body);
      return reply(res, tokenValid ? 204 : 401);
    }
    this.registrations.push({ body, tokenValid });
    if (!tokenValid) return reply(res, 401);
    await command(this.store, { type: 'RecordRegistration', generation: Number(body.generation), version: String(body.version), endpoint: null, now: new Date().toISOString() }, 'runtime');
    return reply(res, 204);
  }
}

function reply(res: ServerResponse, status: number): void {
  res.writeHead(status).end();
}

interface TestInstaller {
  deployer: LocalProcessDeployer;
  runner: ConsumerRunner;
  consumer: InstallerConsumer;
  /** Stops consuming; the deployer (and its processes) stays unless `closeDeployer`. */
  stop(closeDeployer?: boolean): Promise<void>;
}

let db: TestDatabase;
let store: PostgresEventStore;
let checkpoints: CheckpointStore;
let api: RuntimeEndpointStandIn;
let dir: string;
let effectLog: string;
let stateDir: string;
let tokens: RegistrationTokens;
const cleanup: Array<() => Promise<void>> = [];

beforeEach(async () => {
  db = await createTestDatabase('inst');
  store = new PostgresEventStore(db.pool, { idlePollMs: 200 });
  checkpoints = new CheckpointStore(db.pool);
  api = new RuntimeEndpointStandIn(store);
  await api.start();
  dir = mkdtempSync(path.join(tmpdir(), 'installer-e2e-'));
  effectLog = path.join(dir, 'effects.jsonl');
  stateDir = path.join(dir, 'runtimes');
  tokens = await RegistrationTokens.load(db.pool, {});
  await publish('1.0.0');
  await publish('2.0.0');
});

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
  await api.stop();
  await store.close();
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

function startInstaller(
  options: { deployer?: LocalProcessDeployer; runtimeCommand?: string; registrationTimeoutMs?: number; maxAttempts?: number; watchdogIntervalMs?: number } = {},
): TestInstaller {
  const deployer =
    options.deployer ??
    new LocalProcessDeployer({ logger, runtimeCommand: options.runtimeCommand, effectLogFile: effectLog, runtimeDir: stateDir, heartbeatIntervalMs: 200, stopTimeoutMs: 3000 });
  let runner: ConsumerRunner | undefined;
  const aggregates = aggregatesIn(db.pool, store, { idempotencyRetentionMs: 3_600_000, onBackgroundError: () => undefined });
  const consumer = new InstallerConsumer({
    store,
    aggregates,
    providerFacts: new FoldedProviderFacts(aggregates),
    pool: db.pool,
    checkpoints,
    deployer,
    tokens,
    logger,
    storeUrl: api.url,
    concurrency: 4,
    maxAttempts: options.maxAttempts ?? 3,
    retryBaseMs: 20,
    registrationTimeoutMs: options.registrationTimeoutMs ?? 20_000,
    watchdogIntervalMs: options.watchdogIntervalMs,
    isActive: () => runner?.isActive ?? false,
  });
  runner = new ConsumerRunner(db.pool, store, consumer, logger, { lockRetryMs: 100, retryDelayMs: 100 });
  runner.start();
  consumer.startTimers();
  const started = runner;
  let stopped = false;
  const stop = async (closeDeployer = false) => {
    if (!stopped) {
      stopped = true;
      consumer.stopTimers();
      await started.stop();
    }
    if (closeDeployer) await deployer.close();
  };
  cleanup.push(() => stop(true));
  return { deployer, runner: started, consumer, stop };
}

async function publish(version: string): Promise<void> {
  const now = new Date().toISOString();
  await runCommand(
    store,
    providerDecider,
    providerStream(ACME_DB),
    {
      type: 'PublishVersion',
      provider: ACME_DB,
      publisher: { organizationId: 'acme', platformAdmin: false },
      version,
      runtimeVersion: '1.0.0',
      wheelUrl: `https://wheels.example.com/acme_db-${version}-py3-none-any.whl`,
      wheelSha256: SHA,
      packageName: 'acme_db',
      entrypoint: ['acme_db.main:app'],
      schemas: [],
      configSchema: null,
      outputsSchema: null,
      changelog: null,
      metadata: null,
      now,
    },
    { actor: 'publisher', correlationId: `publish-${version}`, idempotencyScope: 'acme', now },
  );
}

async function command(target: PostgresEventStore, cmd: InstallationCommand, actor = 'tenant'): Promise<void> {
  const context: CommandContext = { actor, correlationId: `${actor}-${cmd.type}`, idempotencyScope: TENANT, now: cmd.now };
  await runCommand(target, installationDecider, STREAM, cmd, context);
}

const now = () => new Date().toISOString();
const install = () =>
  command(store, {
    type: 'InstallProvider',
    installationId: INSTALLATION_ID,
    tenant: TENANT,
    ...ACME_DB,
    version: '1.0.0',
    resourceTier: 'standard',
    upgradePolicy: 'manual',
    config: CONFIG,
    now: now(),
  });
const upgrade = (targetVersion: string) => command(store, { type: 'ChangeVersion', direction: 'up', targetVersion, reason: 'manual', targetYanked: false, now: now() });

async function events(): Promise<RecordedEvent[]> {
  return store.readStream(STREAM);
}

async function eventTypes(): Promise<string[]> {
  return (await events()).map((e) => e.type);
}

async function stateOf(target: PostgresEventStore = store): Promise<InstallationState> {
  return fold(installationDecider, (await target.readStream(STREAM)) as unknown as InstallationEvent[]);
}

function effects(): EffectLine[] {
  if (!existsSync(effectLog)) return [];
  return readFileSync(effectLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as EffectLine);
}

const effectSummary = () => effects().map((e) => `${e.action} g${e.generation}`);

function environOf(pid: number): Record<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const has = (type: string, generation?: number) => async () =>
  (await events()).some((e) => e.type === type && (generation === undefined || (e.data as { generation: number }).generation === generation));

/** Waits until the installer's checkpoint has passed every event it subscribes to. */
async function caughtUp(): Promise<void> {
  const inputs = (await store.readAll({ filter: { eventTypes: ['InstallRequested', 'UpgradeRequested', 'RedeployRequested', 'InstallationReconfigured', 'UninstallRequested', 'RegistrationReceived'] } }));
  const last = inputs[inputs.length - 1].position;
  await waitFor('the installer checkpoint', async () => {
    const saved = await checkpoints.load('installer');
    return saved !== undefined && comparePositions(saved, last) >= 0;
  });
}

describe('installer (local-process deployer, real sample runtime)', () => {
  it('an install starts a deploy: DeployStarted with the token hash, a runtime with the right env that registers', async () => {
    await install();
    const installer = startInstaller();

    await waitFor('DeployStarted', has('DeployStarted', 1));
    const started = (await events()).find((e) => e.type === 'DeployStarted');
    const token = tokens.tokenFor(INSTALLATION_ID, 1);
    expect(started?.data).toMatchObject({ generation: 1, version: '1.0.0', token_hash: hashToken(token) });
    expect((started?.data as { token_hash: string }).token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(started?.metadata).toMatchObject({ actor: 'installer', idempotency_key: `deploy-start:${INSTALLATION_ID}:1` });

    await waitFor('the runtime to start', () => effects().length > 0);
    expect(effects()).toEqual([{ installation_id: INSTALLATION_ID, generation: 1, action: 'start', at: expect.any(String), pid: expect.any(Number) }]);
    const [{ pid }] = installer.deployer.running(INSTALLATION_ID);
    expect(pid).toBe(effects()[0].pid);
    // Exactly the installation's config and the platform's variables: nothing of the installer's own env.
    expect(environOf(pid)).toEqual({
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: installer.deployer.workDirOf(INSTALLATION_ID, 1),
      TMPDIR: installer.deployer.workDirOf(INSTALLATION_ID, 1),
      LANG: 'C.UTF-8',
      REGION: 'eu-west-1',
      PROVIDER_STORE_HEARTBEAT_INTERVAL_MS: '200',
      PROVIDER_STORE_URL: api.url,
      PROVIDER_STORE_INSTALLATION_ID: INSTALLATION_ID,
      PROVIDER_STORE_GENERATION: '1',
      PROVIDER_STORE_REGISTRATION_TOKEN: token,
      PROVIDER_STORE_VERSION: '1.0.0',
      PROVIDER_WHEEL_URL: 'https://wheels.example.com/acme_db-1.0.0-py3-none-any.whl',
      PROVIDER_WHEEL_SHA256: SHA,
      PROVIDER_PACKAGE_NAME: 'acme_db',
      PROVIDER_ENTRYPOINT: '["acme_db.main:app"]',
    });

    // The sample runtime registers with its token and then sends heartbeats.
    await waitFor('RegistrationReceived', has('RegistrationReceived', 1));
    expect(api.registrations[0]).toEqual({
      body: { installation_id: INSTALLATION_ID, generation: 1, version: '1.0.0', endpoint: null },
      tokenValid: true,
    });
    await waitFor('a heartbeat', () => api.heartbeats.length > 0);
    expect(api.heartbeats[0]).toEqual({ installation_id: INSTALLATION_ID, generation: 1, status: 'healthy' });
    const state = await stateOf();
    expect(state).toMatchObject({ lifecycle: 'ready', currentVersion: '1.0.0' });
    expect(await eventTypes()).toEqual(['InstallRequested', 'DeployStarted', 'RegistrationReceived']);
  });

  it('a redelivery (checkpoint reset) appends nothing and starts no second process', async () => {
    await install();
    const first = startInstaller();
    await waitFor('RegistrationReceived', has('RegistrationReceived', 1));
    await caughtUp();
    await first.stop();
    const before = (await events()).map((e) => e.id);

    await checkpoints.reset('installer');
    const second = startInstaller({ deployer: first.deployer });
    await caughtUp();
    await second.stop();

    expect((await events()).map((e) => e.id)).toEqual(before);
    expect(effectSummary()).toEqual(['start g1']);
    expect(first.deployer.running(INSTALLATION_ID)).toHaveLength(1);
  });

  it('a deploy redelivered to a restarted installer while still waiting for registration adopts the running process', async () => {
    api.accepting = false;
    await install();
    const first = startInstaller();
    await waitFor('the runtime to start', () => effects().length === 1);
    await caughtUp();
    // Killed rather than stopped: its runtime keeps running, and its checkpoint is lost.
    await first.stop();
    await checkpoints.reset('installer');

    const restarted = startInstaller({ deployer: new LocalProcessDeployer({ logger, effectLogFile: effectLog, runtimeDir: stateDir, heartbeatIntervalMs: 200, stopTimeoutMs: 3000 }) });
    await caughtUp();
    expect(await eventTypes()).toEqual(['InstallRequested', 'DeployStarted']);
    expect(effectSummary()).toEqual(['start g1']);
    expect(restarted.deployer.running(INSTALLATION_ID)).toEqual(first.deployer.running(INSTALLATION_ID));

    // The adopted runtime is still the one that registers once the platform answers.
    api.accepting = true;
    await waitFor('RegistrationReceived', has('RegistrationReceived', 1));
    expect(effectSummary()).toEqual(['start g1']);
  });

  it('a generation superseded before the installer saw it is skipped', async () => {
    await install();
    await upgrade('2.0.0');
    const installer = startInstaller();
    await waitFor('RegistrationReceived', has('RegistrationReceived', 2));
    await caughtUp();

    expect(await eventTypes()).toEqual(['InstallRequested', 'UpgradeRequested', 'DeployStarted', 'RegistrationReceived']);
    const started = (await events()).filter((e) => e.type === 'DeployStarted').map((e) => e.data);
    expect(started).toEqual([expect.objectContaining({ generation: 2, version: '2.0.0' })]);
    expect(effectSummary()).toEqual(['start g2']);
    expect(installer.deployer.running(INSTALLATION_ID).map((r) => r.generation)).toEqual([2]);
  });

  it('a deploy that cannot start is retried, then ends in DeployFailed', async () => {
    await install();
    startInstaller({ runtimeCommand: '/nonexistent/provider-runtime --serve', maxAttempts: 3 });
    await waitFor('DeployFailed', has('DeployFailed', 1));

    expect(await eventTypes()).toEqual(['InstallRequested', 'DeployStarted', 'DeployFailed']);
    const failed = (await events()).find((e) => e.type === 'DeployFailed');
    expect((failed?.data as { message: string }).message).toMatch(
      // The platform's words only: the tenant is not shown the host's paths.
      /^deploy failed after 3 attempts: cannot start the runtime \(ENOENT\)$/,
    );
    expect(failed?.metadata.idempotency_key).toBe(`deploy-failed:${INSTALLATION_ID}:1`);
    expect(await stateOf()).toMatchObject({ lifecycle: 'failed', currentVersion: null });
    expect(effects()).toEqual([]);
  });

  it('an upgrade that never registers times out: DeployFailed, the failed generation is stopped and the old one keeps serving', async () => {
    await install();
    const installer = startInstaller({ registrationTimeoutMs: 1500 });
    await waitFor('RegistrationReceived', has('RegistrationReceived', 1));
    const [g1] = installer.deployer.running(INSTALLATION_ID);

    api.accepting = false;
    await upgrade('2.0.0');
    await waitFor('DeployStarted g2', has('DeployStarted', 2));
    await waitFor('DeployFailed g2', has('DeployFailed', 2));

    const failed = (await events()).find((e) => e.type === 'DeployFailed');
    expect(failed?.data).toMatchObject({ generation: 2, message: 'no registration within 1500 ms' });
    expect(await stateOf()).toMatchObject({ lifecycle: 'failed', installedVersion: '2.0.0', currentVersion: '1.0.0', servingGeneration: 1 });
    // The deployer stops one generation (stopGeneration): the failed one goes, the serving one stays.
    await waitFor('generation 2 stopped', () => effectSummary().includes('stop g2'));
    expect(installer.deployer.running(INSTALLATION_ID).map((r) => r.generation)).toEqual([1]);
    expect(alive(g1.pid)).toBe(true);
    expect(effectSummary()).toEqual(['start g1', 'start g2', 'stop g2']);
    api.accepting = true;
  });

  it('a runtime that exits before registering fails its deploy at once, not at the deadline', async () => {
    await install();
    const startedAt = Date.now();
    // Up past the deployer's start-up grace (an exit within it fails the apply itself), then gone.
    startInstaller({ runtimeCommand: `${process.execPath} -e setTimeout(()=>process.exit(3),1000)`, registrationTimeoutMs: 60_000 });
    await waitFor('DeployFailed', has('DeployFailed', 1), 15_000);

    expect(Date.now() - startedAt).toBeLessThan(15_000);
    expect(await eventTypes()).toEqual(['InstallRequested', 'DeployStarted', 'DeployFailed']);
    const failed = (await events()).find((e) => e.type === 'DeployFailed');
    expect(failed?.data).toMatchObject({ generation: 1, message: 'runtime stopped before registering: runtime exited with code 3' });
    expect(await stateOf()).toMatchObject({ lifecycle: 'failed', currentVersion: null });
    expect(effectSummary()).toEqual(['start g1']);
  });

  it('a deploy started before a restart still times out: the watchdog finds it in the read model', async () => {
    const projection = new ConsumerRunner(db.pool, store, new ProjectionConsumer(db.pool, installedProvidersProjection, checkpoints), logger, { lockRetryMs: 100 });
    projection.start();
    cleanup.push(() => projection.stop());
    api.accepting = false;
    await install();
    const first = startInstaller({ registrationTimeoutMs: 60_000 });
    await waitFor('DeployStarted', has('DeployStarted', 1));
    await caughtUp();
    await first.stop(true);

    // A new installer: nothing to redeliver, no deadline in memory.
    startInstaller({ registrationTimeoutMs: 1000, watchdogIntervalMs: 100 });
    await waitFor('DeployFailed', has('DeployFailed', 1));
    expect((await events()).find((e) => e.type === 'DeployFailed')?.data).toMatchObject({ generation: 1, message: 'no registration within 1000 ms' });
    expect(await eventTypes()).toEqual(['InstallRequested', 'DeployStarted', 'DeployFailed']);
  });

  it('an uninstall removes the runtime and appends Uninstalled; redelivered, it does nothing more', async () => {
    await install();
    const installer = startInstaller();
    await waitFor('RegistrationReceived', has('RegistrationReceived', 1));
    const [runtime] = installer.deployer.running(INSTALLATION_ID);

    await command(store, { type: 'Uninstall', now: now() });
    await waitFor('Uninstalled', has('Uninstalled'));

    expect(await eventTypes()).toEqual(['InstallRequested', 'DeployStarted', 'RegistrationReceived', 'UninstallRequested', 'Uninstalled']);
    const uninstalled = (await events()).find((e) => e.type === 'Uninstalled');
    expect(uninstalled?.data).toMatchObject({ generation: 2 });
    expect(uninstalled?.metadata.idempotency_key).toBe(`uninstalled:${INSTALLATION_ID}:2`);
    expect(effectSummary()).toEqual(['start g1', 'remove g1']);
    expect(alive(runtime.pid)).toBe(false);
    expect(installer.deployer.running(INSTALLATION_ID)).toEqual([]);
    expect((await stateOf()).status).toBe('absent');

    await caughtUp();
    await installer.stop();
    await checkpoints.reset('installer');
    startInstaller({ deployer: installer.deployer });
    await caughtUp();
    expect(await eventTypes()).toEqual(['InstallRequested', 'DeployStarted', 'RegistrationReceived', 'UninstallRequested', 'Uninstalled']);
    expect(effectSummary()).toEqual(['start g1', 'remove g1']);
  });

  it('several installations deploy concurrently, each in order', async () => {
    const tenants = ['t-1', 't-2', 't-3', 't-4', 't-5'];
    const ids = tenants.map((_t, i) => `00000000-0000-4000-8000-00000000000${i}`);
    for (const [i, tenant] of tenants.entries()) {
      await runCommand(
        store,
        installationDecider,
        installationStream(tenant, ACME_DB),
        { type: 'InstallProvider', installationId: ids[i], tenant, ...ACME_DB, version: '1.0.0', resourceTier: 'free', upgradePolicy: 'manual', config: {}, now: now() },
        { actor: 'tenant', correlationId: `install-${tenant}`, idempotencyScope: tenant, now: now() },
      );
    }
    api.accepting = false;
    const installer = startInstaller();
    await waitFor('every runtime', () => effects().length === tenants.length);
    await caughtUp();
    expect(new Set(effects().map((e) => e.installation_id))).toEqual(new Set(ids));
    for (const [i, tenant] of tenants.entries()) {
      const types = (await store.readStream(installationStream(tenant, ACME_DB))).map((e) => e.type);
      expect(types).toEqual(['InstallRequested', 'DeployStarted']);
      expect(installer.deployer.running(ids[i])).toHaveLength(1);
    }
  });
});

describe('installer process (node dist/apps/installer/main.js)', () => {
  const MAIN = path.resolve(__dirname, '../../dist/apps/installer/main.js');

  function spawnInstaller(): { child: ChildProcess; exited: Promise<void> } {
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: db.url,
        DATABASE_POOL_SIZE: '4',
        PUBLIC_URL: api.url,
        DEPLOY_EFFECT_LOG: effectLog,
        RUNTIME_DIR: stateDir,
        RUNTIME_HEARTBEAT_INTERVAL_MS: '200',
        REGISTRATION_TIMEOUT_MS: '60000',
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    cleanup.push(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    return { child, exited };
  }

  it('killed with SIGKILL and restarted with its checkpoint lost, it adopts the running runtime instead of starting another', async () => {
    // A fresh id: the installer's pid files live in the machine's temp folder.
    const installationId = randomUUID();
    await command(store, {
      type: 'InstallProvider',
      installationId,
      tenant: TENANT,
      ...ACME_DB,
      version: '1.0.0',
      resourceTier: 'standard',
      upgradePolicy: 'manual',
      config: CONFIG,
      now: now(),
    });
    api.accepting = false;
    const first = spawnInstaller();
    await waitFor('the runtime to start', () => effects().length === 1, 30_000);
    await caughtUp();
    const [{ pid }] = effects();
    cleanup.push(async () => {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    });

    first.child.kill('SIGKILL');
    await first.exited;
    expect(alive(pid)).toBe(true);
    await checkpoints.reset('installer');

    const second = spawnInstaller();
    await caughtUp();
    expect(await eventTypes()).toEqual(['InstallRequested', 'DeployStarted']);
    expect(effectSummary()).toEqual(['start g1']);

    // The orphaned runtime, whose output pipes are gone, is still the one that registers.
    api.accepting = true;
    await waitFor('RegistrationReceived', has('RegistrationReceived', 1));
    expect(alive(pid)).toBe(true);

    // A graceful stop takes the adopted runtime down with it.
    second.child.kill('SIGTERM');
    await second.exited;
    expect(alive(pid)).toBe(false);
    expect(effects().map((e) => [e.action, e.generation, e.pid])).toEqual([
      ['start', 1, pid],
      ['stop', 1, pid],
    ]);
  });
});

describe('registration tokens', () => {
  it('derive the same token for the same installation and generation, another for the next generation', async () => {
    const again = await RegistrationTokens.load(db.pool, {});
    expect(again.tokenFor(INSTALLATION_ID, 1)).toBe(tokens.tokenFor(INSTALLATION_ID, 1));
    expect(tokens.tokenFor(INSTALLATION_ID, 2)).not.toBe(tokens.tokenFor(INSTALLATION_ID, 1));
    expect(tokens.tokenFor(INSTALLATION_ID, 1)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const { rows } = await db.pool.query('SELECT name FROM platform_secrets');
    expect(rows).toEqual([{ name: 'runtime-registration-token' }]);
  });

  it('RUNTIME_TOKEN_SECRET, when set, is the secret', async () => {
    const fromEnv = await RegistrationTokens.load(db.pool, { RUNTIME_TOKEN_SECRET: 'shared-secret' });
    expect(fromEnv.tokenFor(INSTALLATION_ID, 1)).toBe(RegistrationTokens.fromSecret('shared-secret').tokenFor(INSTALLATION_ID, 1));
    expect(fromEnv.tokenFor(INSTALLATION_ID, 1)).not.toBe(tokens.tokenFor(INSTALLATION_ID, 1));
  });

  it('only the hash is compared, in constant time, and a wrong or malformed hash never matches', () => {
    const token = tokens.tokenFor(INSTALLATION_ID, 1);
    expect(tokenMatches(token, hashToken(token))).toBe(true);
    expect(tokenMatches(`${token}x`, hashToken(token))).toBe(false);
    expect(tokenMatches(token, 'not-a-hash')).toBe(false);
    expect(tokenMatches('', hashToken(token))).toBe(false);
  });
});
