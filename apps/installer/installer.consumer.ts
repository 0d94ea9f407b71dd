import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { CommandContext, runCommand } from '../../libs/application/command-runner';
import { installationStream } from '../../libs/installations/installation-identity';
import { InstallationCommand } from '../../libs/installations/installation.commands';
import { InstallationState, PresentInstallation, installationDecider } from '../../libs/installations/installation.decider';
import { InstallationEvent } from '../../libs/installations/installation.events';
import { providerStream } from '../../libs/providers/provider-identity';
import { VersionState, providerDecider } from '../../libs/providers/provider.decider';
import { ProviderEvent } from '../../libs/providers/provider.events';
import { fold } from '../../libs/domain/decider';
import { DomainError } from '../../libs/domain/domain-error';
import { upcast } from '../../libs/domain/upcasters';
import { CheckpointStore } from '../../libs/event-store/consumers/checkpoint-store';
import { LogConsumer } from '../../libs/event-store/consumers/log-consumer';
import { EventFilter, EventStore, RecordedEvent } from '../../libs/event-store/event-store.port';
import { Position } from '../../libs/event-store/position';
import { Deployer, DesiredDeployment } from './deployer.port';
import { DeploymentObservations } from './deployment-observations';
import { RegistrationTokens, hashToken } from '../../libs/installations/registration-token';

export const INSTALLER_CONSUMER = 'installer';
const OBSERVATION_INTERVAL_MS = 5_000;
export const INSTALLER_ACTOR = 'installer';

/** The events the installer acts on; DeployStarted and the like are its own output. */
export const INSTALLER_EVENT_TYPES: readonly InstallationEvent['type'][] = [
  'InstallRequested',
  'UpgradeRequested',
  'RedeployRequested',
  'InstallationReconfigured',
  'UninstallRequested',
  'RegistrationReceived',
];

export interface InstallerConsumerOptions {
  store: EventStore;
  pool: Pool;
  checkpoints: CheckpointStore;
  deployer: Deployer;
  tokens: RegistrationTokens;
  logger: Logger;
  /** Base URL the runtimes call back on. */
  storeUrl: string;
  concurrency: number;
  deployRetries: number;
  retryBaseMs: number;
  registrationTimeoutMs: number;
  /** How often the read model is scanned for deploys stuck in `processing` (those started before a restart). */
  watchdogIntervalMs?: number;
  batchSize?: number;
  /** Whether this replica holds the installer's lock; timers act only then. */
  isActive?: () => boolean;
  clock?: () => Date;
}

interface Loaded {
  events: RecordedEvent[];
  state: InstallationState;
}

interface Deadline {
  installationId: string;
  generation: number;
  at: number;
  correlationId: string;
}

class Deactivated extends Error {
  constructor() {
    super('installer deactivated');
    this.name = 'Deactivated';
  }
}

const MAX_CONFLICT_RETRIES = 5;

/**
 * Turns installation decisions into deployments. Events of one installation are handled strictly in
 * order, different installations concurrently (bounded), and the checkpoint never passes an event
 * whose effect has not finished. Every effect is idempotent per (installation, generation): the
 * commands it appends carry deterministic idempotency keys, the decider ignores anything about a
 * superseded generation, and the deployer treats a repeated apply as a no-op. Waiting for the
 * runtime to register is not done inline: a deadline per deploy (and, for deploys started before a
 * restart, a scan of the read model) turns silence into DeployFailed.
 */
export class InstallerConsumer implements LogConsumer {
  readonly name = INSTALLER_CONSUMER;
  readonly filter: EventFilter = { eventTypes: INSTALLER_EVENT_TYPES };
  readonly batchSize: number;

  private readonly logger: Logger;
  private readonly clock: () => Date;
  private readonly deadlines = new Map<string, Deadline>();
  private abort = new AbortController();
  private ticker?: NodeJS.Timeout;
  private lastScan = 0;
  private lastObservation = 0;
  private ticking = false;
  private readonly observations: DeploymentObservations;

  constructor(private readonly options: InstallerConsumerOptions) {
    this.logger = options.logger.child({ consumer: INSTALLER_CONSUMER });
    this.clock = options.clock ?? (() => new Date());
    this.batchSize = options.batchSize ?? 100;
    this.observations = new DeploymentObservations(options.pool, options.deployer);
  }

  /** Rollout status is telemetry for the deployment endpoint: failing to record it fails nothing. */
  private observe(installationId: string, gone = false): Promise<void> {
    const recorded = gone ? this.observations.forget(installationId) : this.observations.observe(installationId);
    return recorded.catch((error: unknown) => this.logger.warn({ installationId, err: errorMessage(error) }, 'deployment status not recorded'));
  }

  /** Called each time this replica becomes the active installer: reconcile first, then follow the log. */
  async loadCheckpoint(): Promise<Position | undefined> {
    await this.reconcile().catch((error: unknown) => this.logger.warn({ err: errorMessage(error) }, 'reconciliation failed'));
    return this.options.checkpoints.load(this.name);
  }

  /** Starts the registration deadlines and the watchdog; they act only while this replica is active. */
  startTimers(): void {
    if (this.ticker) return;
    const every = Math.min(1000, Math.max(20, Math.floor(this.options.registrationTimeoutMs / 10)));
    this.ticker = setInterval(() => void this.tick(), every);
    this.ticker.unref();
  }

  stopTimers(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  async deactivate(): Promise<void> {
    this.abort.abort();
    this.abort = new AbortController();
    this.deadlines.clear();
  }

  async handle(events: RecordedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const groups = groupByStream(events);
    const outcomes = await mapBounded(groups, this.options.concurrency, (group) => this.handleInOrder(group));

    // Checkpoint up to (not including) the first event, in log order, whose effect did not finish.
    const unfinished = new Set<RecordedEvent>();
    let error: unknown;
    outcomes.forEach((outcome, i) => {
      if (outcome.failedAt === undefined) return;
      error ??= outcome.error;
      for (const event of groups[i].slice(outcome.failedAt)) unfinished.add(event);
    });
    const firstUnfinished = events.findIndex((e) => unfinished.has(e));
    const done = firstUnfinished === -1 ? events.length : firstUnfinished;
    if (done > 0) await this.options.checkpoints.save(this.name, events[done - 1].position);
    if (error !== undefined) throw error;
  }

  private async handleInOrder(group: RecordedEvent[]): Promise<{ failedAt?: number; error?: unknown }> {
    for (let i = 0; i < group.length; i++) {
      try {
        await this.handleEvent(upcast(group[i]));
      } catch (error) {
        if (!(error instanceof Deactivated)) {
          this.logger.warn({ stream: group[i].streamName, type: group[i].type, err: errorMessage(error) }, 'installer effect failed; will be redelivered');
        }
        return { failedAt: i, error };
      }
    }
    return {};
  }

  private async handleEvent(event: RecordedEvent): Promise<void> {
    const e = event as unknown as InstallationEvent;
    switch (e.type) {
      case 'InstallRequested':
      case 'UpgradeRequested':
      case 'RedeployRequested':
        return this.deploy(event, e.data.generation);
      case 'InstallationReconfigured':
        // Only a config or tier change needs a new generation; a policy change deploys nothing.
        return e.data.generation === null ? undefined : this.deploy(event, e.data.generation);
      case 'RegistrationReceived':
        return this.registered(event, e.data.generation);
      case 'UninstallRequested':
        return this.uninstall(event, e.data.generation);
      default:
        return undefined;
    }
  }

  private async deploy(cause: RecordedEvent, generation: number): Promise<void> {
    const stream = cause.streamName;
    const { state, events } = await this.load(stream);
    if (state.status !== 'present' || state.generation !== generation) {
      this.logger.debug({ stream, generation }, 'deploy skipped: generation superseded');
      return;
    }
    const alreadyStarted = state.lifecycle === 'processing' && state.deployedGeneration === generation;
    if (state.lifecycle !== 'pending' && !alreadyStarted) {
      this.logger.debug({ stream, generation, lifecycle: state.lifecycle }, 'deploy skipped: generation already settled');
      return;
    }
    const installationId = state.installationId;
    const token = this.options.tokens.tokenFor(installationId, generation);

    let startedAt: string;
    if (alreadyStarted) {
      startedAt = deployStartedAt(events, generation) ?? state.updatedAt;
    } else {
      const outcome = await this.command(
        stream,
        { type: 'StartDeploy', generation, tokenHash: hashToken(token), now: this.now() },
        `deploy-start:${installationId}:${generation}`,
        cause,
      );
      const after = outcome.state;
      if (after.status !== 'present' || after.lifecycle !== 'processing' || after.deployedGeneration !== generation) return;
      startedAt = after.updatedAt;
    }

    const version = await this.versionOf(state);
    if (!version) {
      await this.failDeploy(stream, installationId, generation, `version ${state.installedVersion} of ${state.prefix}/${state.name} is not published`, cause);
      return;
    }
    const desired = this.desiredFor(state, generation, version, token);

    const failure = await this.applyWithRetries(desired, stream);
    if (failure === 'superseded') return;
    if (failure) {
      const attempts = this.options.deployRetries + 1;
      await this.failDeploy(stream, installationId, generation, `deploy failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${errorMessage(failure)}`, cause);
      return;
    }
    this.logger.info({ stream, installationId, generation, version: desired.version }, 'deploy applied; waiting for registration');
    this.deadlines.set(stream, {
      installationId,
      generation,
      at: Date.parse(startedAt) + this.options.registrationTimeoutMs,
      correlationId: cause.metadata.correlation_id,
    });
  }

  private desiredFor(state: PresentInstallation, generation: number, version: VersionState, token: string): DesiredDeployment {
    return {
      installationId: state.installationId,
      tenant: state.tenant,
      prefix: state.prefix,
      name: state.name,
      generation,
      version: state.installedVersion,
      runtimeVersion: version.runtime_version,
      wheelUrl: version.wheel_url,
      wheelSha256: version.wheel_sha256,
      packageName: version.package_name,
      entrypoint: version.entrypoint,
      config: state.config,
      resourceTier: state.resourceTier,
      registrationToken: token,
      storeUrl: this.options.storeUrl,
    };
  }

  /**
   * On becoming active, brings the deployer back in line with the log for READY installations whose
   * runtime is gone (the local deployer's children end with a clean stop; a cluster object may have
   * been deleted by hand): the same generation is applied again, with the same token. An adopted or
   * still-running runtime is left alone, so a crash restart starts nothing twice.
   */
  private async reconcile(): Promise<void> {
    const { rows } = await this.options.pool.query<{ tenant: string; prefix: string; name: string }>(
      `SELECT tenant, prefix, name FROM installed_providers WHERE lifecycle_state = 'ready' ORDER BY updated_at LIMIT 10000`,
    );
    for (const row of rows) {
      const stream = installationStream(row.tenant, { prefix: row.prefix, name: row.name });
      const { state } = await this.load(stream);
      if (state.status !== 'present' || state.lifecycle !== 'ready') continue;
      const observed = await this.options.deployer.status(state.installationId);
      if (observed && observed.generation === state.generation && observed.status !== 'failed') continue;
      const version = await this.versionOf(state);
      if (!version) continue;
      const desired = this.desiredFor(state, state.generation, version, this.options.tokens.tokenFor(state.installationId, state.generation));
      try {
        await this.options.deployer.apply(desired);
        await this.observe(state.installationId);
        this.logger.info({ stream, installationId: state.installationId, generation: state.generation }, 'runtime missing; re-applied the current generation');
      } catch (error) {
        this.logger.warn({ stream, installationId: state.installationId, err: errorMessage(error) }, 'could not re-apply a missing runtime');
      }
    }
  }

  /** `undefined`: applied; `'superseded'`: a newer command took over while retrying; else the last error. */
  private async applyWithRetries(desired: DesiredDeployment, stream: string): Promise<unknown> {
    let lastError: unknown;
    for (let attempt = 0; attempt <= this.options.deployRetries; attempt++) {
      if (attempt > 0) {
        await this.pause(this.options.retryBaseMs * 2 ** (attempt - 1));
        const { state } = await this.load(stream);
        if (state.status !== 'present' || state.generation !== desired.generation || state.lifecycle !== 'processing') return 'superseded';
      }
      try {
        await this.options.deployer.apply(desired);
        await this.observe(desired.installationId);
        return undefined;
      } catch (error) {
        lastError = error;
        this.logger.warn(
          { installationId: desired.installationId, generation: desired.generation, attempt: attempt + 1, err: errorMessage(error) },
          'deploy attempt failed',
        );
      }
    }
    return lastError ?? new Error('deploy failed');
  }

  private async registered(cause: RecordedEvent, generation: number): Promise<void> {
    const stream = cause.streamName;
    const deadline = this.deadlines.get(stream);
    if (deadline && deadline.generation <= generation) this.deadlines.delete(stream);
    const { state } = await this.load(stream);
    if (state.status !== 'present' || state.lifecycle === 'deleting') return;
    // Only older generations go: a redelivered registration never touches a newer deploy.
    await this.options.deployer.retire(state.installationId, generation);
    await this.observe(state.installationId);
    this.logger.info({ stream, installationId: state.installationId, generation }, 'generation registered; older generations retired');
  }

  private async uninstall(cause: RecordedEvent, generation: number): Promise<void> {
    const stream = cause.streamName;
    this.deadlines.delete(stream);
    const { state } = await this.load(stream);
    // Absent: the uninstall already completed (its removal came first), nothing is left to do.
    if (state.status !== 'present' || state.lifecycle !== 'deleting' || state.generation !== generation) return;
    const failure = await this.removeWithRetries(state.installationId);
    if (failure !== undefined) {
      // Given up: the uninstall is marked failed (the tenant can DELETE again) instead of holding
      // up every installation behind it with endless redelivery.
      await this.failDeploy(stream, state.installationId, generation, `removal failed: ${errorMessage(failure)}`, cause);
      return;
    }
    await this.observe(state.installationId, true);
    await this.command(stream, { type: 'CompleteUninstall', generation, now: this.now() }, `uninstalled:${state.installationId}:${generation}`, cause);
    this.logger.info({ stream, installationId: state.installationId }, 'installation removed');
  }

  /** `undefined` once removed; the last error when every retry failed. */
  private async removeWithRetries(installationId: string): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.options.deployer.remove(installationId);
        return undefined;
      } catch (error) {
        if (attempt >= this.options.deployRetries) return error;
        await this.pause(this.options.retryBaseMs * 2 ** attempt);
      }
    }
  }

  private async failDeploy(stream: string, installationId: string, generation: number, message: string, cause?: RecordedEvent, correlationId?: string): Promise<void> {
    const outcome = await this.command(stream, { type: 'FailDeploy', generation, message, now: this.now() }, `deploy-failed:${installationId}:${generation}`, cause, correlationId);
    if (outcome.appended > 0) this.logger.warn({ stream, installationId, generation, message }, 'deploy failed');
  }

  private async tick(): Promise<void> {
    if (this.ticking || !(this.options.isActive?.() ?? true)) return;
    this.ticking = true;
    try {
      const now = this.clock().getTime();
      for (const [stream, deadline] of [...this.deadlines]) {
        if (deadline.at > now) continue;
        this.deadlines.delete(stream);
        await this.timeOut(stream, deadline.generation, deadline.correlationId).catch((error: unknown) => {
          this.logger.warn({ stream, err: errorMessage(error) }, 'registration timeout could not be recorded; retrying');
          this.deadlines.set(stream, { ...deadline, at: now + 1000 });
        });
      }
      if (now - this.lastObservation >= OBSERVATION_INTERVAL_MS) {
        this.lastObservation = now;
        await this.observations.refreshAll().catch((error: unknown) => this.logger.warn({ err: errorMessage(error) }, 'deployment status refresh failed'));
      }
      const scanEvery = this.options.watchdogIntervalMs ?? Math.max(1000, Math.min(30_000, Math.floor(this.options.registrationTimeoutMs / 2)));
      if (now - this.lastScan >= scanEvery) {
        this.lastScan = now;
        await this.scanStuckDeploys().catch((error: unknown) => this.logger.warn({ err: errorMessage(error) }, 'watchdog scan failed'));
      }
    } finally {
      this.ticking = false;
    }
  }

  /** Deploys started before a restart have no deadline in memory: the read model still shows them. */
  private async scanStuckDeploys(): Promise<void> {
    const { rows } = await this.options.pool.query<{ tenant: string; prefix: string; name: string }>(
      `SELECT tenant, prefix, name FROM installed_providers
        WHERE lifecycle_state = 'processing' AND updated_at < now() - ($1::double precision * interval '1 millisecond')
        ORDER BY updated_at LIMIT 500`,
      [this.options.registrationTimeoutMs],
    );
    for (const row of rows) {
      const stream = installationStream(row.tenant, { prefix: row.prefix, name: row.name });
      if (!this.deadlines.has(stream)) await this.timeOut(stream);
    }
  }

  /** Fails the current deploy if, by the log, it is still waiting past its deadline. */
  private async timeOut(stream: string, generation?: number, correlationId?: string): Promise<void> {
    const { state, events } = await this.load(stream);
    if (state.status !== 'present' || state.lifecycle !== 'processing') return;
    if (state.deployedGeneration !== state.generation || (generation !== undefined && generation !== state.generation)) return;
    const startedAt = Date.parse(deployStartedAt(events, state.generation) ?? state.updatedAt);
    const due = startedAt + this.options.registrationTimeoutMs;
    if (due > this.clock().getTime()) {
      this.deadlines.set(stream, { installationId: state.installationId, generation: state.generation, at: due, correlationId: correlationId ?? randomUUID() });
      return;
    }
    await this.failDeploy(stream, state.installationId, state.generation, `no registration within ${this.options.registrationTimeoutMs} ms`, undefined, correlationId);
  }

  private async command(stream: string, command: InstallationCommand, key: string, cause?: RecordedEvent, correlationId?: string) {
    for (let attempt = 0; ; attempt++) {
      const context: CommandContext = {
        actor: INSTALLER_ACTOR,
        correlationId: cause?.metadata.correlation_id ?? correlationId ?? randomUUID(),
        causationId: cause?.id ?? null,
        idempotencyScope: INSTALLER_ACTOR,
        idempotencyKey: key,
        now: this.now(),
      };
      try {
        return await runCommand(this.options.store, installationDecider, stream, { ...command, now: context.now }, context);
      } catch (error) {
        // A runtime registering or a user command landing at the same moment: decide again.
        if (error instanceof DomainError && error.code === 'concurrent_modification' && attempt < MAX_CONFLICT_RETRIES) continue;
        throw error;
      }
    }
  }

  private async load(stream: string): Promise<Loaded> {
    const events = (await this.options.store.readStream(stream)).map(upcast);
    return { events, state: fold(installationDecider, events as unknown as InstallationEvent[]) };
  }

  private async versionOf(state: PresentInstallation): Promise<VersionState | undefined> {
    const events = (await this.options.store.readStream(providerStream({ prefix: state.prefix, name: state.name }))).map(upcast);
    const provider = fold(providerDecider, events as unknown as ProviderEvent[]);
    return provider.status === 'unknown' ? undefined : provider.versions[state.installedVersion];
  }

  private now(): string {
    return this.clock().toISOString();
  }

  private pause(ms: number): Promise<void> {
    const signal = this.abort.signal;
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new Deactivated());
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(new Deactivated());
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function deployStartedAt(events: RecordedEvent[], generation: number): string | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i] as unknown as InstallationEvent;
    if (e.type === 'DeployStarted' && e.data.generation === generation) return e.data.at;
  }
  return undefined;
}

/** Keeps each stream's events in log order; groups are ordered by their first event. */
function groupByStream(events: RecordedEvent[]): RecordedEvent[][] {
  const groups = new Map<string, RecordedEvent[]>();
  for (const event of events) {
    const group = groups.get(event.streamName);
    if (group) group.push(event);
    else groups.set(event.streamName, [event]);
  }
  return [...groups.values()];
}

async function mapBounded<T, R>(items: readonly T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await run(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
