import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { upcast } from '../../libs/domain/upcasters';
import { CheckpointStore } from '../../libs/event-store/consumers/checkpoint-store';
import { LogConsumer } from '../../libs/event-store/consumers/log-consumer';
import { EventFilter, EventStore, RecordedEvent } from '../../libs/event-store/event-store.port';
import { Position } from '../../libs/event-store/position';
import { RegistrationTokens } from '../../libs/installations/registration-token';
import { DeployRequestedReaction } from './deploy-requested.reaction';
import { Deployer } from './deployer.port';
import { DeploymentObservations } from './deployment-observations';
import { InstallationEffects } from './installation-effects';
import { InstallationQueues } from './installation-queues';
import { INSTALLER_EVENT_TYPES, isDeployRequest, isRegistrationReceived, isUninstallRequested } from './installer-events';
import { Reaction } from './reaction';
import { reapplyMissingRuntimes } from './reconciliation';
import { RegistrationDeadlines } from './registration-deadlines';
import { RegistrationReceivedReaction } from './registration-received.reaction';
import { UninstallRequestedReaction } from './uninstall-requested.reaction';
import { Deactivated, PoisonedEventGuard } from './poisoned-event-guard';

import { Aggregates } from '../../libs/application/aggregates';
import { ProviderFacts } from '../../libs/providers/provider-facts';

export { INSTALLER_EVENT_TYPES } from './installer-events';
export { INSTALLER_ACTOR, INSTALLER_IDEMPOTENCY_SCOPE } from './installation-effects';
export const INSTALLER_CONSUMER = 'installer';
/** How long a deactivation waits for running effects (a hanging deploy is not waited for longer). */
const DEACTIVATION_GRACE_MS = 5_000;

export interface InstallerConsumerOptions {
  store: EventStore;
  /** Where installations are loaded from (snapshots) and the installer's commands appended. */
  aggregates: Aggregates;
  providerFacts: ProviderFacts;
  pool: Pool;
  checkpoints: CheckpointStore;
  deployer: Deployer;
  tokens: RegistrationTokens;
  logger: Logger;
  /** Base URL the runtimes call back on. */
  storeUrl: string;
  concurrency: number;
  /** Attempts at one event's effect before its failure is recorded on its installation. */
  maxAttempts: number;
  /** First pause between attempts; doubles each time. */
  retryBaseMs: number;
  registrationTimeoutMs: number;
  /** How often the read model is scanned for deploys stuck in `processing` (those started before a restart). */
  watchdogIntervalMs?: number;
  batchSize?: number;
  /** Whether this replica holds the installer's lock; timers act only then. */
  isActive?: () => boolean;
  clock?: () => Date;
}

/**
 * Turns installation decisions into deployments. Events of one installation are handled strictly in
 * order, different installations independently (bounded; `InstallationQueues`: reading the log never
 * waits for a slow deploy), and the checkpoint never passes an event whose effect has not finished — or been given up on: an effect that keeps failing is recorded as
 * failed on its installation after a bounded number of attempts, so one tenant's poisoned event
 * never holds up the others' deploys. Every effect is idempotent per (installation, generation).
 */
export class InstallerConsumer implements LogConsumer {
  readonly name = INSTALLER_CONSUMER;
  readonly filter: EventFilter = { eventTypes: INSTALLER_EVENT_TYPES };
  readonly batchSize: number;

  private readonly logger: Logger;
  private readonly effects: InstallationEffects;
  private readonly observations: DeploymentObservations;
  private readonly deadlines: RegistrationDeadlines;
  private readonly guard: PoisonedEventGuard;
  private readonly deploys: DeployRequestedReaction;
  private readonly registrations: RegistrationReceivedReaction;
  private readonly uninstalls: UninstallRequestedReaction;
  private readonly queues: InstallationQueues;

  constructor(private readonly options: InstallerConsumerOptions) {
    this.logger = options.logger.child({ consumer: INSTALLER_CONSUMER });
    this.batchSize = options.batchSize ?? 100;
    const isActive = options.isActive ?? (() => true);
    this.observations = new DeploymentObservations(options.pool, options.deployer, this.logger);
    this.effects = new InstallationEffects({ ...options, observations: this.observations, logger: this.logger, clock: options.clock ?? (() => new Date()) });
    this.deadlines = new RegistrationDeadlines(this.effects, options.pool, {
      registrationTimeoutMs: options.registrationTimeoutMs,
      scanIntervalMs: options.watchdogIntervalMs,
      isActive,
    });
    this.guard = new PoisonedEventGuard(options.store, this.logger, { maxAttempts: options.maxAttempts, retryBaseMs: options.retryBaseMs });
    this.deploys = new DeployRequestedReaction(this.effects, this.deadlines);
    this.registrations = new RegistrationReceivedReaction(this.effects, this.deadlines);
    this.uninstalls = new UninstallRequestedReaction(this.effects, this.deadlines);
    this.queues = new InstallationQueues({
      run: (event) => this.handleOne(event),
      retryable: (error) => !(error instanceof Deactivated),
      retryBaseMs: options.retryBaseMs,
      save: (position) => options.checkpoints.save(this.name, position),
      concurrency: options.concurrency,
      maxOutstanding: this.batchSize * 10,
    });
  }

  /** The runner (re)subscribes from here: whatever was queued before is redelivered from it. */
  loadCheckpoint(): Promise<Position | undefined> {
    this.queues.reset();
    return this.options.checkpoints.load(this.name);
  }

  /** This replica became the active installer: bring the deployer in line with the log, then follow it. */
  async onActivate(): Promise<void> {
    await reapplyMissingRuntimes(this.effects, this.options.pool).catch((error: unknown) =>
      this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'reconciliation failed'),
    );
  }

  /** Starts the registration deadlines and the rollout-status refresh; they act only while this replica is active. */
  startTimers(): void {
    this.deadlines.start();
    this.observations.startRefreshing(this.options.isActive ?? (() => true));
  }

  stopTimers(): void {
    this.deadlines.stop();
    this.observations.stopRefreshing();
  }

  /** Pauses end at once; effects still running get a moment to finish before another replica starts. */
  async deactivate(): Promise<void> {
    this.guard.abortPauses();
    this.deadlines.clear();
    this.queues.reset();
    await this.queues.settle(DEACTIVATION_GRACE_MS);
  }

  /** Queues the batch per installation and returns: no installation's effect waits for another's. */
  async handle(events: RecordedEvent[]): Promise<void> {
    await this.queues.enqueue(events);
  }

  /** One event's effect; a rejection leaves it unfinished (tried again, or redelivered after a deactivation). */
  private async handleOne(recorded: RecordedEvent): Promise<void> {
    const event = upcast(recorded);
    try {
      await this.guard.handle(event, this.reactionFor(event), (work) => this.effects.exclusively(event.streamName, work));
    } catch (error) {
      if (!(error instanceof Deactivated)) {
        this.logger.warn({ stream: event.streamName, type: event.type, err: error instanceof Error ? error.message : String(error) }, 'installer effect failed; will be tried again');
      }
      throw error;
    }
  }

  private reactionFor(event: RecordedEvent): Reaction<RecordedEvent> | undefined {
    if (isDeployRequest(event)) return narrowed(this.deploys, isDeployRequest);
    if (isRegistrationReceived(event)) return narrowed(this.registrations, isRegistrationReceived);
    if (isUninstallRequested(event)) return narrowed(this.uninstalls, isUninstallRequested);
    return undefined;
  }
}

/** A reaction to one event type offered any event: what is not its type is left alone. */
function narrowed<E extends RecordedEvent>(reaction: Reaction<E>, is: (event: RecordedEvent) => event is E): Reaction<RecordedEvent> {
  return {
    react: (event) => (is(event) ? reaction.react(event) : Promise.resolve()),
    giveUp: (event, spent) => (is(event) ? reaction.giveUp(event, spent) : Promise.resolve()),
  };
}
