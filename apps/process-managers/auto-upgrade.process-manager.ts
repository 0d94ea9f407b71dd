import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import * as semver from 'semver';
import { runCommand } from '../../libs/application/command-runner';
import { installationStream } from '../../libs/installations/installation-identity';
import { installationDecider } from '../../libs/installations/installation.decider';
import { ProviderVersionPublished } from '../../libs/providers/provider.events';
import { DomainError } from '../../libs/domain/domain-error';
import { LogConsumer } from '../../libs/event-store/consumers/log-consumer';
import { RecordedEvent } from '../../libs/event-store/event-store.port';
import { Position } from '../../libs/event-store/position';
import { isCaughtUp } from '../../libs/event-store/consumers/caught-up';
import { installedProvidersProjection } from '../../projections/installed-providers.projection';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';

const CATCH_UP_WAIT_MS = 30_000;
const MAX_CONFLICT_RETRIES = 5;
/** Internal scopes contain a `:`, which no tenant organisation id does: a tenant's key never names these. */
const autoUpgradeScope = (installationId: string) => `internal:auto-upgrade:${installationId}`;

function isVersionPublished(event: RecordedEvent): event is RecordedEvent<'ProviderVersionPublished', ProviderVersionPublished['data']> {
  if (event.type !== 'ProviderVersionPublished' || typeof event.data !== 'object' || event.data === null) return false;
  const data = event.data as Partial<Record<'prefix' | 'name' | 'version', unknown>>;
  return typeof data.prefix === 'string' && typeof data.name === 'string' && typeof data.version === 'string';
}

/**
 * ProviderVersionPublished (stable) → UpgradeRequested(up, reason auto) for every installation of
 * that provider whose policy is `auto` and whose installed version is older. Exactly once per
 * (installation, version): the command carries the idempotency key `auto-upgrade:<version>`, so a
 * replay after a crash finds the first upgrade in the stream and appends nothing.
 */
export class AutoUpgradeProcessManager implements LogConsumer {
  readonly name = 'auto-upgrade';
  readonly filter = { eventTypes: ['ProviderVersionPublished'] };
  readonly batchSize = 100;

  constructor(
    private readonly infrastructure: Infrastructure,
    private readonly logger: Logger,
  ) {}

  loadCheckpoint(): Promise<Position | undefined> {
    return this.infrastructure.checkpoints.load(this.name);
  }

  async handle(events: RecordedEvent[]): Promise<void> {
    for (const event of events) {
      if (isVersionPublished(event) && semver.prerelease(event.data.version) === null) {
        const { prefix, name, version } = event.data;
        // Installations are found in the read model, so it must first have seen everything up to here.
        await this.waitForInstalledProviders(event.position);
        await this.upgradeInstallations(prefix, name, version, event);
      }
      await this.infrastructure.checkpoints.save(this.name, event.position);
    }
  }

  private async upgradeInstallations(prefix: string, name: string, version: string, cause: RecordedEvent): Promise<void> {
    const { rows } = await this.infrastructure.pool.query<{ tenant: string; installed_version: string; installation_id: string }>(
      `SELECT tenant, installed_version, installation_id FROM installed_providers
        WHERE prefix = $1 AND name = $2 AND upgrade_policy = 'auto' AND lifecycle_state <> 'deleting'`,
      [prefix, name],
    );
    for (const row of rows) {
      if (semver.lt(row.installed_version, version)) await this.upgrade(row, { prefix, name }, version, cause);
    }
  }

  /** One installation's upgrade; a refusal by its decider skips it, only an outage is redelivered. */
  private async upgrade(row: { tenant: string; installation_id: string }, provider: { prefix: string; name: string }, version: string, cause: RecordedEvent): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const now = new Date().toISOString();
      try {
        await runCommand(
          this.infrastructure.eventStore,
          installationDecider,
          installationStream(row.tenant, provider),
          { type: 'ChangeVersion', direction: 'up', targetVersion: version, reason: 'auto', targetYanked: false, now },
          {
            actor: 'process-manager:auto-upgrade',
            correlationId: cause.metadata.correlation_id ?? randomUUID(),
            causationId: cause.id,
            idempotencyScope: autoUpgradeScope(row.installation_id),
            idempotencyKey: `auto-upgrade:${version}`,
            requestHash: null,
            now,
          },
        );
        this.logger.info({ tenant: row.tenant, provider: `${provider.prefix}/${provider.name}`, version }, 'auto-upgrade requested');
        return;
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        // A tenant's command landing at the same moment: decide again, a few times.
        if (error.code === 'concurrent_modification' && attempt < MAX_CONFLICT_RETRIES) continue;
        // Anything else the decider refuses (uninstalled, upgraded past it, being deleted) is that
        // installation's business: skipping it keeps one installation from holding up the others.
        this.logger.info({ tenant: row.tenant, provider: `${provider.prefix}/${provider.name}`, version, code: error.code }, 'auto-upgrade skipped');
        return;
      }
    }
  }

  private async waitForInstalledProviders(position: Position): Promise<void> {
    const deadline = Date.now() + CATCH_UP_WAIT_MS;
    for (;;) {
      const checkpoint = await this.infrastructure.checkpoints.load(installedProvidersProjection.name);
      if (await isCaughtUp(this.infrastructure.eventStore, checkpoint, position, installedProvidersProjection.eventTypes)) return;
      if (Date.now() > deadline) throw new Error('installed-providers read model is not catching up; auto-upgrade will retry');
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
