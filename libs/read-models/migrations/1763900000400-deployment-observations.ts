import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the deployer last observed of each installation's newest generation (rollout status,
 * replicas, image). Like heartbeats, observations are telemetry, not decisions: a row, not events.
 */
export class DeploymentObservations1763900000400 implements MigrationInterface {
  name = 'DeploymentObservations1763900000400';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE deployment_observations (
        installation_id uuid PRIMARY KEY,
        generation integer NOT NULL,
        deployment_name text NOT NULL,
        status text NOT NULL,
        available_replicas integer NOT NULL,
        ready_replicas integer NOT NULL,
        image text,
        message text,
        observed_at timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE deployment_observations');
  }
}
