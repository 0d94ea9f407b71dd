import { DeclaredTable } from '../database/table-spec';

/**
 * Tables that are not projections: what the runtime and the deployers report, kept as one row per
 * installation rather than as events (heartbeats and observations are telemetry, not decisions:
 * DESIGN.md). No log can refill them, but the next report does, so a changed declaration recreates
 * them empty.
 */
export const runtimeHeartbeatsTable: DeclaredTable = {
  spec: {
    name: 'runtime_heartbeats',
    key: ['installation_id'],
    columns: {
      installation_id: 'uuid',
      stream_name: 'text',
      generation: 'integer',
      status: 'text',
      message: 'text',
      last_seen_at: 'timestamptz',
    },
    nullable: ['message'],
    // The health watchdog looks for installations silent since a given time.
    indexes: [{ suffix: 'last_seen', columns: ['last_seen_at'] }],
  },
  onChange: { kind: 'recreate' },
};

/** What the deployer last observed of each installation's newest generation (rollout, replicas, image). */
export const deploymentObservationsTable: DeclaredTable = {
  spec: {
    name: 'deployment_observations',
    key: ['installation_id'],
    columns: {
      installation_id: 'uuid',
      generation: 'integer',
      deployment_name: 'text',
      status: 'text',
      available_replicas: 'integer',
      ready_replicas: 'integer',
      image: 'text',
      message: 'text',
      observed_at: 'timestamptz',
    },
    nullable: ['image', 'message'],
  },
  onChange: { kind: 'recreate' },
};
