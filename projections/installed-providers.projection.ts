import { parseInstallationStream } from '../libs/installations/installation-identity';
import { INSTALLATION_EVENT_TYPES, InstallationEvent } from '../libs/installations/installation.events';
import { installationDecider, InstallationState } from '../libs/installations/installation.decider';
import { RecordedEvent } from '../libs/event-store/event-store.port';
import { JsonRow, RowProjection } from '../libs/projection-engine/row-projection';
import { maskedConfig } from '../libs/secrets/secret-config';

/**
 * One row per installation per tenant, folded with the aggregate's own `evolve`, so the list can
 * never disagree with what a command sees. `upgrade_available` is joined from the catalog at query
 * time, since it moves when versions are published, not when the installation changes.
 */
export const installedProvidersProjection: RowProjection = {
  name: 'installed-providers',
  eventTypes: INSTALLATION_EVENT_TYPES,
  table: {
    name: 'installed_providers',
    key: ['tenant', 'prefix', 'name'],
    columns: {
      tenant: 'text',
      prefix: 'text',
      name: 'text',
      installation_id: 'uuid',
      installed_version: 'text',
      current_version: 'text',
      serving_generation: 'integer',
      previous_serving_version: 'text',
      upgrade_policy: 'text',
      resource_tier: 'text',
      config: 'jsonb',
      lifecycle_state: 'text',
      health: 'text',
      health_message: 'text',
      generation: 'integer',
      last_deploy_message: 'text',
      revision: 'bigint',
      installed_at: 'timestamptz',
      updated_at: 'timestamptz',
    },
    nullable: ['current_version', 'serving_generation', 'previous_serving_version', 'health_message', 'last_deploy_message'],
    indexes: [
      { suffix: 'installation_id', columns: ['installation_id'], unique: true },
      // The catalog's install counts and a provider's delete check look installations up by provider.
      { suffix: 'provider', columns: ['prefix', 'name'] },
    ],
  },
  keyOf(event: RecordedEvent) {
    const id = parseInstallationStream(event.streamName);
    return id ? { tenant: id.tenant, prefix: id.provider.prefix, name: id.provider.name } : undefined;
  },
  evolve(row: JsonRow | null, event: RecordedEvent): JsonRow | null {
    const next = installationDecider.evolve(stateOf(row), event as unknown as InstallationEvent);
    if (next.status !== 'present') return null;
    return {
      tenant: next.tenant,
      prefix: next.prefix,
      name: next.name,
      installation_id: next.installationId,
      installed_version: next.installedVersion,
      current_version: next.currentVersion,
      serving_generation: next.servingGeneration,
      previous_serving_version: next.previousServingVersion,
      upgrade_policy: next.upgradePolicy,
      resource_tier: next.resourceTier,
      // Sealed secret values never reach the read model: their keys show the mask.
      config: maskedConfig(next.config, next.secretConfigKeys ?? []),
      lifecycle_state: next.lifecycle,
      health: next.health,
      health_message: next.healthMessage,
      generation: next.generation,
      last_deploy_message: next.lastDeployMessage,
      revision: event.revision,
      installed_at: next.installedAt,
      updated_at: next.updatedAt,
      // Not columns: carried between events of one batch so the fold stays exact.
      deployed_generation: next.deployedGeneration,
      secret_config_keys: [...(next.secretConfigKeys ?? [])],
    };
  },
};

function stateOf(row: JsonRow | null): InstallationState {
  if (!row) return installationDecider.initialState;
  return {
    status: 'present',
    installationId: row.installation_id as string,
    tenant: row.tenant as string,
    prefix: row.prefix as string,
    name: row.name as string,
    installedVersion: row.installed_version as string,
    currentVersion: (row.current_version as string | null) ?? null,
    servingGeneration: row.serving_generation === null || row.serving_generation === undefined ? null : Number(row.serving_generation),
    previousServingVersion: (row.previous_serving_version as string | null) ?? null,
    upgradePolicy: row.upgrade_policy as 'auto' | 'manual',
    resourceTier: row.resource_tier as 'free' | 'standard' | 'performance',
    config: row.config as Record<string, string>,
    secretConfigKeys: Array.isArray(row.secret_config_keys) ? row.secret_config_keys.filter((k): k is string => typeof k === 'string') : [],
    lifecycle: row.lifecycle_state as InstallationState extends { lifecycle: infer L } ? L : never,
    health: row.health as 'healthy' | 'degraded',
    healthMessage: (row.health_message as string | null) ?? null,
    generation: Number(row.generation),
    deployedGeneration: Number(row.deployed_generation ?? row.generation),
    tokenHashes: {},
    lastDeployMessage: (row.last_deploy_message as string | null) ?? null,
    installedAt: row.installed_at as string,
    updatedAt: row.updated_at as string,
  };
}
