import { Pool } from 'pg';
import type { Logger } from 'pino';
import { mapBounded } from './batch-order';
import { Deployer } from './deployer.port';

const REFRESH_INTERVAL_MS = 5_000;
/** Status reads in flight at once during a refresh: bounded, so a thousand installations are not read one by one. */
const REFRESH_CONCURRENCY = 16;

/**
 * Keeps `deployment_observations` in step with what the deployer sees, so the API (which may run in
 * another process, without the deployer) can report rollout status. This is telemetry for the
 * deployment endpoint: failing to record it fails nothing, so no method here throws.
 */
export class DeploymentObservations {
  private timer?: NodeJS.Timeout;
  private refreshing = false;

  constructor(
    private readonly pool: Pool,
    private readonly deployer: Deployer,
    private readonly logger: Logger,
  ) {}

  /** Records what the deployer now sees of the installation (or forgets it when nothing runs). */
  async record(installationId: string): Promise<void> {
    await this.write(installationId).catch((error: unknown) => this.warn('deployment status not recorded', error, installationId));
  }

  /** The installation is gone: its rollout status goes too. */
  async forget(installationId: string): Promise<void> {
    await this.delete(installationId).catch((error: unknown) => this.warn('deployment status not forgotten', error, installationId));
  }

  /** Re-reads every observed installation now and then (runtimes die, rollouts progress between events). */
  startRefreshing(isActive: () => boolean): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.refreshing || !isActive()) return;
      this.refreshing = true;
      void this.refreshAll().finally(() => (this.refreshing = false));
    }, REFRESH_INTERVAL_MS);
    this.timer.unref();
  }

  stopRefreshing(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async refreshAll(limit = 1000): Promise<void> {
    try {
      const { rows } = await this.pool.query<{ installation_id: string }>(
        'SELECT installation_id FROM deployment_observations ORDER BY observed_at LIMIT $1',
        [limit],
      );
      await mapBounded(rows, REFRESH_CONCURRENCY, (row) => this.record(row.installation_id));
    } catch (error) {
      this.warn('deployment status refresh failed', error);
    }
  }

  private async write(installationId: string): Promise<void> {
    const observed = await this.deployer.status(installationId);
    if (!observed) {
      await this.delete(installationId);
      return;
    }
    await this.pool.query(
      `INSERT INTO deployment_observations
         (installation_id, generation, deployment_name, status, available_replicas, ready_replicas, image, message, observed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
       ON CONFLICT (installation_id) DO UPDATE SET
         generation = EXCLUDED.generation, deployment_name = EXCLUDED.deployment_name, status = EXCLUDED.status,
         available_replicas = EXCLUDED.available_replicas, ready_replicas = EXCLUDED.ready_replicas,
         image = EXCLUDED.image, message = EXCLUDED.message, observed_at = EXCLUDED.observed_at`,
      [
        installationId,
        observed.generation,
        observed.deployment_name,
        observed.status,
        observed.available_replicas,
        observed.ready_replicas,
        observed.image,
        observed.message,
      ],
    );
  }

  private async delete(installationId: string): Promise<void> {
    await this.pool.query('DELETE FROM deployment_observations WHERE installation_id = $1', [installationId]);
  }

  private warn(message: string, error: unknown, installationId?: string): void {
    this.logger.warn({ installationId, err: error instanceof Error ? error.message : String(error) }, message);
  }
}
