import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import * as semver from 'semver';
import { AUTO_UPGRADE_ROLLOUT_SCOPE, autoUpgradeScope } from '../../libs/application/idempotency-scopes';
import { runCommand } from '../../libs/application/command-runner';
import { loadCurrent, loadState } from '../../libs/application/aggregates';
import { DomainError } from '../../libs/domain/domain-error';
import { LogConsumer } from '../../libs/event-store/consumers/log-consumer';
import { RecordedEvent } from '../../libs/event-store/event-store.port';
import { Position } from '../../libs/event-store/position';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { installationStream } from '../../libs/installations/installation-identity';
import { InstallationState, installationDecider } from '../../libs/installations/installation.decider';
import { latestVersion } from '../../libs/providers/version-selection';
import { AUTO_UPGRADE_EVENT_TYPES, AutoUpgradeCommand, Rollout, autoUpgradeRolloutDecider } from './auto-upgrade-rollout';

export const AUTO_UPGRADE_ACTOR = 'process-manager:auto-upgrade';
const MAX_CONFLICT_RETRIES = 5;

interface WaveOutcome {
  inFlight: number;
  failed: number;
  total: number;
}

/**
 * Drives every open auto-upgrade rollout, wave by wave. Which rollouts are open comes from the log
 * (this consumer replays the rollout events from the start each time it becomes active), and each
 * step re-reads the rollout's stream, the provider's and the installations': nothing lives only in
 * memory, so a restart picks every rollout up where it stood. A wave starts once the one before it
 * has settled and the interval since it started has passed; a wave whose failure share is above the
 * ratio halts the rollout. A version yanked, no longer published or superseded by a newer one is
 * cancelled before any further installation moves onto it.
 */
export class AutoUpgradeWaves implements LogConsumer {
  readonly name = 'auto-upgrade-waves';
  readonly filter = { eventTypes: AUTO_UPGRADE_EVENT_TYPES };
  readonly batchSize = 500;
  private readonly open = new Set<string>();
  /** Rollout stream → the wave whose upgrades this replica has sent (a restart sends its wave again; the keys make that a replay). */
  private readonly sent = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private ticking = false;

  constructor(
    private readonly infrastructure: Infrastructure,
    private readonly logger: Logger,
    private readonly isActive: () => boolean,
  ) {}

  /** Always from the start: rollout events are few, and the open set is rebuilt from them. */
  loadCheckpoint(): Promise<Position | undefined> {
    this.open.clear();
    this.sent.clear();
    return Promise.resolve(undefined);
  }

  handle(events: RecordedEvent[]): Promise<void> {
    for (const event of events) {
      if (event.type === 'AutoUpgradePlanned') this.open.add(event.streamName);
      else if (event.type !== 'AutoUpgradeWaveStarted') this.open.delete(event.streamName);
    }
    return Promise.resolve();
  }

  start(): void {
    const every = Math.max(50, Math.min(1000, Math.floor(this.infrastructure.config.rollouts.autoUpgradeWaveIntervalMs / 4)));
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.ticking || !this.isActive()) return;
    this.ticking = true;
    try {
      for (const stream of [...this.open]) {
        await this.advance(stream).catch((error: unknown) =>
          this.logger.warn({ rollout: stream, err: error instanceof Error ? error.message : String(error) }, 'auto-upgrade rollout step failed; trying again'),
        );
      }
    } finally {
      this.ticking = false;
    }
  }

  /** One step of one rollout, decided on the log as it stands now. */
  async advance(stream: string): Promise<void> {
    const { state } = await loadState(this.infrastructure.aggregates, autoUpgradeRolloutDecider, stream);
    if (state.status !== 'rolling') {
      this.open.delete(stream);
      return;
    }
    const stop = await this.reasonToStop(state);
    if (stop) {
      await this.record(stream, { type: 'CancelAutoUpgrade', reason: stop, now: new Date().toISOString() });
      this.logger.info({ rollout: stream, reason: stop }, 'auto-upgrade cancelled');
      return;
    }
    const settings = this.infrastructure.config.rollouts;
    if (state.wave >= 0) {
      if (this.sent.get(stream) !== state.wave) await this.sendWave(stream, state, state.wave);
      const outcome = await this.outcomeOf(state, state.wave);
      if (outcome.inFlight > 0) return;
      if (outcome.total > 0 && outcome.failed / outcome.total > settings.autoUpgradeMaxFailureRatio) {
        await this.record(stream, { type: 'HaltAutoUpgrade', wave: state.wave, failed: outcome.failed, total: outcome.total, now: new Date().toISOString() });
        this.logger.warn({ rollout: stream, wave: state.wave, failed: outcome.failed, total: outcome.total }, 'auto-upgrade halted');
        return;
      }
    }
    if (Date.now() < Date.parse(state.waveStartedAt ?? state.plannedAt) + settings.autoUpgradeWaveIntervalMs) return;
    const next = state.wave + 1;
    if (next >= state.waves.length) {
      await this.record(stream, { type: 'CompleteAutoUpgrade', now: new Date().toISOString() });
      return;
    }
    await this.record(stream, { type: 'StartWave', wave: next, now: new Date().toISOString() });
    await this.sendWave(stream, state, next);
  }

  /** Why the version may not roll out any further, by the provider's stream now; undefined if it may. */
  private async reasonToStop(rollout: Rollout): Promise<string | undefined> {
    const provider = await this.infrastructure.providerFacts.load(rollout, [rollout.version]);
    if (provider.status !== 'listed') return 'provider_deleted';
    const target = provider.versions[rollout.version];
    if (!target || target.status === 'yanked') return 'yanked';
    if (target.status !== 'published') return 'not_published';
    const latest = latestVersion(provider);
    if (latest && semver.gt(latest.version, rollout.version)) return 'superseded';
    return undefined;
  }

  private async outcomeOf(rollout: Rollout, wave: number): Promise<WaveOutcome> {
    const members = rollout.waves[wave] ?? [];
    const streams = members.map((m) => installationStream(m.tenant, rollout));
    const loaded = await Promise.all(streams.map((stream) => loadCurrent(this.infrastructure.aggregates, installationDecider, stream)));
    const outcome: WaveOutcome = { inFlight: 0, failed: 0, total: members.length };
    for (const { state } of loaded) {
      if (state.status !== 'present' || state.installedVersion !== rollout.version) continue;
      if (state.lifecycle === 'pending' || state.lifecycle === 'processing') outcome.inFlight++;
      else if (state.lifecycle === 'failed') outcome.failed++;
    }
    return outcome;
  }

  private async sendWave(stream: string, rollout: Rollout, wave: number): Promise<void> {
    for (const member of rollout.waves[wave] ?? []) await this.upgrade(member, rollout);
    this.sent.set(stream, wave);
    this.logger.info({ rollout: stream, wave, installations: rollout.waves[wave]?.length ?? 0 }, 'auto-upgrade wave started');
  }

  /** One installation's upgrade, exactly once per (installation, version); a refusal by its decider skips it. */
  private async upgrade(member: { tenant: string; installation_id: string }, rollout: Rollout): Promise<void> {
    const stream = installationStream(member.tenant, rollout);
    for (let attempt = 1; ; attempt++) {
      const now = new Date().toISOString();
      const loaded = await loadCurrent(this.infrastructure.aggregates, installationDecider, stream);
      const state: InstallationState = loaded.state;
      // The tenant may have changed its mind since the plan: only an auto installation still behind moves.
      if (state.status !== 'present' || state.installationId !== member.installation_id || state.upgradePolicy !== 'auto') return;
      if (state.lifecycle === 'deleting' || !semver.lt(state.installedVersion, rollout.version)) return;
      try {
        await runCommand(
          this.infrastructure.aggregates,
          installationDecider,
          stream,
          { type: 'ChangeVersion', direction: 'up', targetVersion: rollout.version, reason: 'auto', targetYanked: false, now },
          {
            actor: AUTO_UPGRADE_ACTOR,
            correlationId: randomUUID(),
            idempotencyScope: autoUpgradeScope(member.installation_id),
            idempotencyKey: `auto-upgrade:${rollout.version}`,
            requestHash: null,
            now,
          },
          loaded,
        );
        return;
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        if (error.code === 'concurrent_modification' && attempt < MAX_CONFLICT_RETRIES) continue;
        this.logger.info({ tenant: member.tenant, version: rollout.version, code: error.code }, 'auto-upgrade skipped');
        return;
      }
    }
  }

  async record(stream: string, command: AutoUpgradeCommand): Promise<void> {
    await runCommand(this.infrastructure.aggregates, autoUpgradeRolloutDecider, stream, command, {
      actor: AUTO_UPGRADE_ACTOR,
      correlationId: randomUUID(),
      idempotencyScope: AUTO_UPGRADE_ROLLOUT_SCOPE,
      now: command.now,
    });
  }
}
