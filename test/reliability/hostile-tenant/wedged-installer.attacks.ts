import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { WorkerStatus } from '../../../apps/api/operations/worker-status';
import { Deployer, DesiredDeployment, ObservedDeployment } from '../../../apps/installer/deployer.port';
import { RunningInstaller, startInstaller } from '../../../apps/installer/installer';
import { LocalProcessDeployer } from '../../../apps/installer/local-process/local-process.deployer';
import { loadState } from '../../../libs/application/aggregates';
import { ConsumerRunner } from '../../../libs/event-store/consumers/consumer-runner';
import { LogConsumer } from '../../../libs/event-store/consumers/log-consumer';
import { RecordedEvent } from '../../../libs/event-store/event-store.port';
import { Position, comparePositions } from '../../../libs/event-store/position';
import { installationStream } from '../../../libs/installations/installation-identity';
import { InstallationState, installationDecider } from '../../../libs/installations/installation.decider';
import { InstallationEvent } from '../../../libs/installations/installation.events';
import { TestApp, startTestApp } from '../../support/test-app';


const ACME_DB = { prefix: 'acme', name: 'db' };
const REFUSAL = 'admission webhook denied the deployment';

/** The local-process deployer, except that it refuses every deploy of one tenant: an effect that fails every time. */
class RefusingDeployer implements Deployer {
  readonly kind = 'refusing-local-process';
  readonly refusedTenants = new Set<string>();
  readonly removed: string[] = [];
  readonly stoppedGenerations: string[] = [];

  constructor(private readonly inner: LocalProcessDeployer) {}

  async apply(desired: DesiredDeployment): Promise<void> {
    if (this.refusedTenants.has(desired.tenant)) throw new Error(REFUSAL);
    await this.inner.apply(desired);
  }

  retire(installationId: string, keepGeneration: number): Promise<void> {
    return this.inner.retire(installationId, keepGeneration);
  }

  stopGeneration(installationId: string, generation: number): Promise<void> {
    this.stoppedGenerations.push(`${installationId}:g${generation}`);
    return this.inner.stopGeneration(installationId, generation);
  }

  async remove(installationId: string): Promise<void> {
    this.removed.push(installationId);
    await this.inner.remove(installationId);
  }

  status(installationId: string): Promise<ObservedDeployment | undefined> {
    return this.inner.status(installationId);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A consumer wedged on the first event it sees: active, holding its lock, never advancing. */
class WedgedConsumer implements LogConsumer {
  readonly name = 'wedged-for-test';
  readonly filter = { eventTypes: ['InstallRequested'] };

  async loadCheckpoint(): Promise<Position | undefined> {
    return undefined;
  }

  async handle(): Promise<void> {
    throw new Error('this event always fails');
  }
}

export function wedgedInstallerAttacks(): void {
  describe('poisoned event / wedged installer', () => {
    let t: TestApp;
    let installer: RunningInstaller;
    let deployer: RefusingDeployer;
    let dir: string;
    let publisherKey: string;

    beforeAll(async () => {
      t = await startTestApp({
        REGISTRATION_TIMEOUT_MS: '20000',
        INSTALLER_MAX_ATTEMPTS: '3',
        DEPLOY_RETRY_BASE_MS: '20',
        CONSUMER_STALL_MS: '300',
      });
      dir = mkdtempSync(path.join(tmpdir(), 'hostile-tenant-'));
      const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
      deployer = new RefusingDeployer(new LocalProcessDeployer({ logger, runtimeDir: path.join(dir, 'runtimes'), heartbeatIntervalMs: 200, stopTimeoutMs: 3000 }));
      installer = await startInstaller(t.infrastructure, { deployer, storeUrl: t.baseUrl });
      publisherKey = await t.createKey('acme', ['publish']);
      for (const version of ['1.0.0', '2.0.0']) {
        const published = await t.request('POST', '/provider-versions', {
          key: publisherKey,
          body: { name: 'acme/db', version, wheel_url: `https://files.example.com/acme_db-${version}-py3-none-any.whl` },
        });
        expect(published.status).toBe(201);
      }
    });

    afterAll(async () => {
      await installer?.stop();
      await t?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    async function waitFor(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!(await condition())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }

    const install = (key: string) =>
      t.request('POST', '/providers/install', { key, body: { provider_name: 'acme/db', version: '1.0.0' } });
    const lifecycleOf = async (key: string) => (await t.request('GET', '/providers/installed/acme/db', { key })).body?.lifecycle_state as string | undefined;
    const streamOf = (tenant: string) => t.infrastructure.eventStore.readStream(installationStream(tenant, ACME_DB));
    const stateOf = async (tenant: string) =>
      (await loadState<InstallationState, InstallationEvent>(t.infrastructure.aggregates, installationDecider, installationStream(tenant, ACME_DB))).state;

    /** The installer's checkpoint has passed `event`: it will not be redelivered, whatever follows it. */
    const checkpointPassed = (event: RecordedEvent) => async () => {
      const saved = await t.infrastructure.checkpoints.load('installer');
      return saved !== undefined && comparePositions(saved, event.position) >= 0;
    };

    async function installationIdOf(tenant: string): Promise<string> {
      const [requested] = await streamOf(tenant);
      return (requested.data as { installation_id: string }).installation_id;
    }

    it("an Idempotency-Key naming the installer's own next commands does not wedge the installer", async () => {
      const mallory = await t.createKey('mallory', ['install', 'read']);
      const alice = await t.createKey('alice', ['install', 'read']);
      expect((await install(mallory)).status).toBe(201);
      await waitFor('mallory ready at 1.0.0', async () => (await lifecycleOf(mallory)) === 'ready');
      const id = await installationIdOf('mallory');

      // Generation 2 is the next one: the keys the installer derives for its start and its failure.
      const policy = await t.request('PATCH', '/providers/installed/acme/db', {
        key: mallory,
        headers: { 'Idempotency-Key': `deploy-failed:${id}:2` },
        body: { upgrade_policy: 'auto' },
      });
      expect(policy.status).toBe(200);
      const upgrade = await t.request('POST', '/providers/installed/acme/db/upgrade', {
        key: mallory,
        headers: { 'Idempotency-Key': `deploy-start:${id}:2` },
        body: { version: '2.0.0' },
      });
      expect(upgrade.status).toBe(200);
      const poisoned = (await streamOf('mallory')).find((e) => e.type === 'UpgradeRequested');
      expect(poisoned?.metadata.idempotency_key).toBe(`deploy-start:${id}:2`);

      expect((await install(alice)).status).toBe(201);
      await waitFor('the installer checkpoint past the poisoned event', checkpointPassed(poisoned as RecordedEvent));
      await waitFor('alice ready', async () => (await lifecycleOf(alice)) === 'ready');
      const [aliceRequested] = await streamOf('alice');
      await waitFor('the installer checkpoint past alice', checkpointPassed(aliceRequested));
      expect(installer.runner.isActive).toBe(true);
    });

    it("a deploy that fails every time is recorded as failed on that installation, and the others' deploys go on", async () => {
      const eve = await t.createKey('eve', ['install', 'read']);
      const bob = await t.createKey('bob', ['install', 'read']);
      deployer.refusedTenants.add('eve');
      expect((await install(eve)).status).toBe(201);
      expect((await install(bob)).status).toBe(201);

      await waitFor('eve failed', async () => (await lifecycleOf(eve)) === 'failed');
      await waitFor('bob ready', async () => (await lifecycleOf(bob)) === 'ready');
      const [poisoned] = await streamOf('eve');
      await waitFor('the installer checkpoint past the poisoned event', checkpointPassed(poisoned));

      const expected = `deploy failed after 3 attempts: ${REFUSAL}`;
      expect(await stateOf('eve')).toMatchObject({ lifecycle: 'failed', lastDeployMessage: expected, currentVersion: null });
      const history = await t.request('GET', '/providers/installed/acme/db/history', { key: eve });
      const items = (history.body as { items: Array<{ type: string; actor: string; data: Record<string, unknown> }> }).items;
      expect(items.map((i) => i.type)).toEqual(['InstallRequested', 'DeployStarted', 'DeployFailed']);
      expect(items[2]).toMatchObject({ actor: 'installer', data: { generation: 1, message: expected } });
      // Nothing of it may keep running: as nothing ever served, everything of the installation goes.
      expect(deployer.removed).toEqual([await installationIdOf('eve')]);
      expect(deployer.stoppedGenerations).toEqual([]);

      // Redelivered from scratch, the failure is not recorded twice.
      await installer.stop();
      await t.infrastructure.checkpoints.reset('installer');
      installer = await startInstaller(t.infrastructure, { deployer: new RefusingDeployer(new LocalProcessDeployer({ logger: pino({ level: 'silent' }), runtimeDir: path.join(dir, 'runtimes'), heartbeatIntervalMs: 200, stopTimeoutMs: 3000 })), storeUrl: t.baseUrl });
      const [bobRequested] = await streamOf('bob');
      const lastInput = (await t.infrastructure.eventStore.readAll({ filter: installer.consumer.filter })).pop() as RecordedEvent;
      await waitFor('the restarted installer past every event', checkpointPassed(lastInput));
      expect(comparePositions(lastInput.position, bobRequested.position)).toBeGreaterThanOrEqual(0);
      expect((await streamOf('eve')).map((e) => e.type)).toEqual(['InstallRequested', 'DeployStarted', 'DeployFailed']);
    });

    it('/health/ready answers 503 naming a consumer that is active but not advancing, 200 while consumers keep up', async () => {
      const status = t.app.get(WorkerStatus);
      status.track([installer.runner]);
      expect((await t.request('GET', '/health/ready')).status).toBe(200);

      const wedged = new ConsumerRunner(t.infrastructure.pool, t.infrastructure.eventStore, new WedgedConsumer(), pino({ level: 'silent' }), { lockRetryMs: 50, retryDelayMs: 50 });
      wedged.start();
      try {
        await waitFor('the wedged consumer to be active', () => wedged.isActive);
        status.track([wedged]);
        // The first probe sees where it stands; the next one, past CONSUMER_STALL_MS, that it has not moved.
        expect((await t.request('GET', '/health/ready')).status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 500));
        const ready = await t.request('GET', '/health/ready');
        expect(ready.status).toBe(503);
        expect(ready.body).toMatchObject({ code: 'consumers_stalled' });
        expect(ready.body.message).toContain('wedged-for-test');
        expect(ready.body.message).not.toContain('installer');
      } finally {
        await wedged.stop();
      }
    });
  });
}
