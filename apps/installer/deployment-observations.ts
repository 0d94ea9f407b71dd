import { Pool } from 'pg';
import { Deployer } from './deployer.port';

/**
 * Keeps `deployment_observations` in step with what the deployer sees, so the API (which may run in
 * another process, without the deployer) can report rollout status.
 */
export class DeploymentObservations {
  constructor(
    private readonly pool: Pool,
    private readonly deployer: Deployer,
  ) {}

  async observe(installationId: string): Promise<void> {
    const observed = await this.deployer.status(installationId);
    if (!observed) {
      await this.forget(installationId);
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

  async forget(installationId: string): Promise<void> {
    await this.pool.query('DELETE FROM deployment_observations WHERE installation_id = $1', [installationId]);
  }

  /** Re-reads every observed installation (runtimes die, rollouts progress between events). */
  async refreshAll(limit = 1000): Promise<void> {
    const { rows } = await this.pool.query<{ installation_id: string }>(
      'SELECT installation_id FROM deployment_observations ORDER BY observed_at LIMIT $1',
      [limit],
    );
    for (const row of rows) await this.observe(row.installation_id);
  }
}
