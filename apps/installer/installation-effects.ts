import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { CommandOutcome, runCommand } from '../../libs/application/command-runner';
import { Aggregates, loadCurrent } from '../../libs/application/aggregates';
import { DomainError } from '../../libs/domain/domain-error';
import { RecordedEvent } from '../../libs/event-store/event-store.port';
import { InstallationCommand } from '../../libs/installations/installation.commands';
import { InstallationState, PresentInstallation, installationDecider } from '../../libs/installations/installation.decider';
import { RegistrationTokens } from '../../libs/installations/registration-token';
import { VersionState } from '../../libs/providers/provider.decider';
import { ProviderFacts } from '../../libs/providers/provider-facts';
import { ARTIFACTS_ROUTE, artifactUrl } from '../../libs/artifacts/artifact-url';
import { Deployer, DesiredDeployment } from './deployer.port';
import { DeploymentObservations } from './deployment-observations';
import { StreamLocks } from './stream-locks';

export const INSTALLER_ACTOR = 'installer';

/**
 * An uploaded wheel is served by the store the runtime calls back (`/artifacts/{sha256}`): its URL is
 * rebuilt on the installer's store URL, whatever base the API that took the upload knew itself by.
 */
function storedWheelUrl(version: VersionState, storeUrl: string): string | undefined {
  const sha = version.wheel_sha256;
  return sha && version.wheel_url.endsWith(`/${ARTIFACTS_ROUTE}/${sha}`) ? artifactUrl(storeUrl, sha) : undefined;
}
/**
 * The installer's idempotency scope. Internal scopes contain a `:`, which no tenant organisation id
 * does, so a tenant's Idempotency-Key can never name one of the installer's commands.
 */
export const INSTALLER_IDEMPOTENCY_SCOPE = 'internal:installer';

const MAX_CONFLICT_RETRIES = 5;

/** Where an effect came from: its new events carry the cause's correlation and point back at it. */
export interface Cause {
  correlationId: string;
  causationId: string | null;
}

export function causeOf(event: RecordedEvent): Cause {
  return { correlationId: event.metadata.correlation_id, causationId: event.id };
}

export interface InstallationEffectsOptions {
  aggregates: Aggregates;
  providerFacts: ProviderFacts;
  deployer: Deployer;
  tokens: RegistrationTokens;
  observations: DeploymentObservations;
  logger: Logger;
  /** Base URL the runtimes call back on. */
  storeUrl: string;
  clock: () => Date;
}

/**
 * What the reactions, the registration deadlines and reconciliation do to one installation: read it
 * from its stream, send it the installer's commands, and drive the deployer for it. Work on one
 * installation is serialised (`exclusively`) so a deadline never fails a deploy the consumer is
 * starting at the same moment.
 */
export class InstallationEffects {
  readonly aggregates: Aggregates;
  readonly providerFacts: ProviderFacts;
  readonly deployer: Deployer;
  readonly tokens: RegistrationTokens;
  readonly observations: DeploymentObservations;
  readonly logger: Logger;
  readonly clock: () => Date;
  private readonly storeUrl: string;
  private readonly locks = new StreamLocks();

  constructor(options: InstallationEffectsOptions) {
    this.aggregates = options.aggregates;
    this.providerFacts = options.providerFacts;
    this.deployer = options.deployer;
    this.tokens = options.tokens;
    this.observations = options.observations;
    this.logger = options.logger;
    this.clock = options.clock;
    this.storeUrl = options.storeUrl;
  }

  exclusively<T>(stream: string, work: () => Promise<T>): Promise<T> {
    return this.locks.run(stream, work);
  }

  now(): string {
    return this.clock().toISOString();
  }

  /** The installation now, from its snapshot and the events after it. */
  async load(stream: string): Promise<{ state: InstallationState }> {
    const { state } = await loadCurrent(this.aggregates, installationDecider, stream);
    return { state };
  }

  /** A version of the installation's provider, as its facts say now (the installed one unless named). */
  async versionOf(state: PresentInstallation, version: string = state.installedVersion): Promise<VersionState | undefined> {
    const provider = await this.providerFacts.load({ prefix: state.prefix, name: state.name }, [version]);
    return provider.status === 'unknown' ? undefined : provider.versions[version];
  }

  desiredFor(state: PresentInstallation, generation: number, version: VersionState): DesiredDeployment {
    return {
      installationId: state.installationId,
      tenant: state.tenant,
      prefix: state.prefix,
      name: state.name,
      generation,
      version: version.version,
      runtimeVersion: version.runtime_version,
      runtimeImage: version.runtime_image ?? null,
      wheelUrl: storedWheelUrl(version, this.storeUrl) ?? version.wheel_url,
      wheelSha256: version.wheel_sha256,
      packageName: version.package_name,
      entrypoint: version.entrypoint,
      config: state.config,
      secretConfigKeys: state.secretConfigKeys ?? [],
      resourceTier: state.resourceTier,
      registrationToken: this.tokens.tokenFor(state.installationId, generation),
      storeUrl: this.storeUrl,
    };
  }

  /** One of the installer's commands, with a deterministic key so a redelivery appends nothing twice. */
  async send(stream: string, command: InstallationCommand, key: string, cause?: Cause): Promise<CommandOutcome<InstallationState>> {
    const correlationId = cause?.correlationId ?? randomUUID();
    for (let attempt = 0; ; attempt++) {
      const now = this.now();
      try {
        return await runCommand(this.aggregates, installationDecider, stream, { ...command, now }, {
          actor: INSTALLER_ACTOR,
          correlationId,
          causationId: cause?.causationId ?? null,
          idempotencyScope: INSTALLER_IDEMPOTENCY_SCOPE,
          idempotencyKey: key,
          now,
        });
      } catch (error) {
        // A runtime registering or a user command landing at the same moment: decide again.
        if (error instanceof DomainError && error.code === 'concurrent_modification' && attempt < MAX_CONFLICT_RETRIES) continue;
        throw error;
      }
    }
  }

  /**
   * Records on the installation that `generation` failed: the tenant sees `failed` and the message.
   * Nothing is recorded when the generation is no longer the current one.
   */
  async recordFailure(stream: string, installationId: string, generation: number, message: string, cause?: Cause): Promise<InstallationState> {
    const outcome = await this.send(stream, { type: 'FailDeploy', generation, message, now: this.now() }, `deploy-failed:${installationId}:${generation}`, cause);
    if (outcome.appended > 0) this.logger.warn({ stream, installationId, generation, message }, 'deploy failed');
    return outcome.state;
  }

  /**
   * A deploy that failed: recorded, what is left of its generation stopped (a half-started runtime,
   * one that will never register), and the generation still serving kept running.
   */
  async failDeploy(stream: string, installationId: string, generation: number, message: string, cause?: Cause): Promise<void> {
    const state = await this.recordFailure(stream, installationId, generation, message, cause);
    if (state.status !== 'present' || state.generation !== generation || state.lifecycle !== 'failed') return;
    // Nothing ever served: everything of the installation goes. Otherwise only the failed generation.
    if (state.servingGeneration === null) await this.deployer.remove(installationId);
    else if (state.servingGeneration !== generation) await this.deployer.stopGeneration(installationId, generation);
    this.logger.info({ installationId, generation }, 'failed generation stopped');
    await this.restoreServing(stream, state);
    await this.observations.record(installationId);
  }

  /**
   * Makes the generation serving a settled installation (ready, or failed on a newer one) run again
   * if the deployer no longer runs it: an installer restart ends local runtimes, a cluster object may
   * be deleted by hand. The same generation with the same token, so nothing changes for the tenant.
   * A rollout still in flight is left to its deploy: it restores this when it fails.
   */
  async restoreServing(stream: string, state: PresentInstallation): Promise<void> {
    const generation = state.servingGeneration;
    if (generation === null || state.currentVersion === null || (state.lifecycle !== 'ready' && state.lifecycle !== 'failed')) return;
    const observed = await this.deployer.status(state.installationId);
    if (observed && observed.generation === generation && observed.status !== 'failed') return;
    const version = await this.versionOf(state, state.currentVersion);
    if (!version) return;
    await this.deployer.apply(this.desiredFor(state, generation, version));
    await this.observations.record(state.installationId);
    this.logger.info({ stream, installationId: state.installationId, generation, version: version.version }, 'serving generation restored');
  }
}
