import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import * as semver from 'semver';
import { autoUpgradeScope } from '../../libs/application/idempotency-scopes';
import { runCommand } from '../../libs/application/command-runner';
import { DomainError } from '../../libs/domain/domain-error';
import { waitUntilCaughtUp } from '../../libs/event-store/consumers/caught-up';
import { LogConsumer } from '../../libs/event-store/consumers/log-consumer';
import { RecordedEvent } from '../../libs/event-store/event-store.port';
import { Position } from '../../libs/event-store/position';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { installationStream } from '../../libs/installations/installation-identity';
import { installationDecider } from '../../libs/installations/installation.decider';
import { ProviderId } from '../../libs/providers/provider-identity';
import { latestVersion } from '../../libs/providers/version-selection';
import { installedProvidersProjection } from '../../projections/installed-providers.projection';
import { AutoUpgradeWaves, AUTO_UPGRADE_ACTOR } from './auto-upgrade-waves';
import { RolloutTarget, autoUpgradeStream } from './auto-upgrade-rollout';

const CATCH_UP_WAIT_MS = 30_000;
const MAX_CONFLICT_RETRIES = 5;

const VERSION_EVENT_TYPES = ['ProviderVersionPublished', 'ProviderVersionBuildSucceeded', 'ProviderVersionYanked'] as const;
type VersionEvent = RecordedEvent<(typeof VERSION_EVENT_TYPES)[number], { prefix: string; name: string; version: string }>;

function isVersionEvent(event: RecordedEvent): event is VersionEvent {
  if (!VERSION_EVENT_TYPES.some((type) => type === event.type)) return false;
  if (typeof event.data !== 'object' || event.data === null) return false;
  const data = event.data as Partial<Record<'prefix' | 'name' | 'version', unknown>>;
  return typeof data.prefix === 'string' && typeof data.name === 'string' && typeof data.version === 'string';
}

/**
 * ProviderVersionPublished or ProviderVersionBuildSucceeded (stable) → an auto-upgrade rollout planned in waves for every `auto`
 * installation behind it, if the provider's stream, read now, still has that version published and
 * nothing newer (never onto a yanked, unfinished or older version); `AutoUpgradeWaves` drives it.
 * ProviderVersionYanked → the rollout cancelled, and every installation whose move onto the version
 * has not finished sent back to the version serving it. Exactly once per (installation, version): the
 * commands carry deterministic keys in each installation's internal scope.
 */
export class AutoUpgradeProcessManager implements LogConsumer {
  readonly name = 'auto-upgrade';
  // An uploaded version becomes installable only when its build succeeds; plan() reads its status anyway.
  readonly filter = { eventTypes: [...VERSION_EVENT_TYPES] };
  readonly batchSize = 100;

  constructor(
    private readonly infrastructure: Infrastructure,
    private readonly logger: Logger,
    private readonly waves: AutoUpgradeWaves,
  ) {}

  loadCheckpoint(): Promise<Position | undefined> {
    return this.infrastructure.checkpoints.load(this.name);
  }

  async handle(events: RecordedEvent[]): Promise<void> {
    for (const event of events) {
      if (isVersionEvent(event)) {
        const provider = { prefix: event.data.prefix, name: event.data.name };
        // Installations are found in the read model, so it must first have seen everything up to here.
        await this.waitForInstalledProviders(event.position);
        if (event.type === 'ProviderVersionYanked') await this.cancelYanked(provider, event.data.version);
        else await this.plan(provider, event.data.version);
      }
      await this.infrastructure.checkpoints.save(this.name, event.position);
    }
  }

  private async plan(provider: ProviderId, version: string): Promise<void> {
    if (semver.prerelease(version) !== null) return;
    const state = await this.infrastructure.providerFacts.load(provider, [version]);
    if (state.status !== 'listed' || state.versions[version]?.status !== 'published') return;
    const latest = latestVersion(state);
    if (latest && semver.gt(latest.version, version)) return;
    const { rows } = await this.infrastructure.pool.query<RolloutTarget & { installed_version: string }>(
      `SELECT tenant, installation_id, installed_version FROM installed_providers
        WHERE prefix = $1 AND name = $2 AND upgrade_policy = 'auto' AND lifecycle_state <> 'deleting'
        ORDER BY installed_at, installation_id`,
      [provider.prefix, provider.name],
    );
    const targets = rows.filter((r) => semver.lt(r.installed_version, version)).map(({ tenant, installation_id }) => ({ tenant, installation_id }));
    if (targets.length === 0) return;
    const waveSize = this.infrastructure.config.rollouts.autoUpgradeWaveSize;
    await this.waves.record(autoUpgradeStream(provider, version), { type: 'PlanAutoUpgrade', provider, version, targets, waveSize, now: new Date().toISOString() });
    this.logger.info({ provider: `${provider.prefix}/${provider.name}`, version, installations: targets.length, waveSize }, 'auto-upgrade planned');
  }

  private async cancelYanked(provider: ProviderId, version: string): Promise<void> {
    await this.waves.record(autoUpgradeStream(provider, version), { type: 'CancelAutoUpgrade', reason: 'yanked', now: new Date().toISOString() });
    const { rows } = await this.infrastructure.pool.query<{ tenant: string; installation_id: string }>(
      `SELECT tenant, installation_id FROM installed_providers WHERE prefix = $1 AND name = $2 AND installed_version = $3 AND lifecycle_state <> 'deleting'`,
      [provider.prefix, provider.name, version],
    );
    for (const row of rows) await this.sendBack(row, provider, version);
  }

  /** One installation moving onto the yanked version goes back to the version serving it (the decider judges). */
  private async sendBack(row: { tenant: string; installation_id: string }, provider: ProviderId, version: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const now = new Date().toISOString();
      try {
        await runCommand(
          this.infrastructure.aggregates,
          installationDecider,
          installationStream(row.tenant, provider),
          { type: 'CancelYankedRollout', version, now },
          {
            actor: AUTO_UPGRADE_ACTOR,
            correlationId: randomUUID(),
            idempotencyScope: autoUpgradeScope(row.installation_id),
            idempotencyKey: `yanked:${version}`,
            requestHash: null,
            now,
          },
        );
        return;
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        if (error.code === 'concurrent_modification' && attempt < MAX_CONFLICT_RETRIES) continue;
        this.logger.info({ tenant: row.tenant, version, code: error.code }, 'yanked rollout not cancelled');
        return;
      }
    }
  }

  private async waitForInstalledProviders(position: Position): Promise<void> {
    const { eventStore, checkpoints } = this.infrastructure;
    const caughtUp = await waitUntilCaughtUp(eventStore, checkpoints, installedProvidersProjection, position, { timeoutMs: CATCH_UP_WAIT_MS, intervalMs: 25 });
    if (!caughtUp) throw new Error('installed-providers read model is not catching up; auto-upgrade will retry');
  }
}
