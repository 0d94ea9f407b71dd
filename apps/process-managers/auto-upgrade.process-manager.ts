import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import * as semver from 'semver';
import { runCommand } from '../../libs/application/command-runner';
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
      const published = event as unknown as ProviderVersionPublished & RecordedEvent;
      const { prefix, name, version } = published.data;
      if (semver.prerelease(version) === null) {
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
      if (!semver.lt(row.installed_version, version)) continue;
      const now = new Date().toISOString();
      try {
        await runCommand(
          this.infrastructure.eventStore,
          installationDecider,
          `installation-${row.tenant}.${prefix}.${name}`,
          { type: 'ChangeVersion', direction: 'up', targetVersion: version, reason: 'auto', now },
          {
            actor: 'process-manager:auto-upgrade',
            correlationId: cause.metadata.correlation_id ?? randomUUID(),
            causationId: cause.id,
            idempotencyScope: `auto-upgrade:${row.installation_id}`,
            idempotencyKey: `auto-upgrade:${version}`,
            requestHash: null,
            now,
          },
        );
        this.logger.info({ tenant: row.tenant, provider: `${prefix}/${name}`, version }, 'auto-upgrade requested');
      } catch (error) {
        // The installation moved on meanwhile (uninstalled, upgraded past it, policy changed).
        if (error instanceof DomainError && error.kind !== 'precondition_failed' && error.code !== 'concurrent_modification') continue;
        throw error;
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
