import * as semver from 'semver';
import { PresentInstallation } from '../../../libs/installations/installation.decider';
import { Health, LifecycleState, ResourceTier, UpgradePolicy } from '../../../libs/installations/installation.events';
import { InstallationResult } from '../../../libs/installations/tenant-installation-command';
import { canonicalOf } from '../../../libs/providers/provider-identity';
import { ConfiguredDeployer, deploymentImageOf, deploymentNameOf } from '../../../libs/installations/deployment-name';
import { maskedConfig } from '../../../libs/secrets/secret-config';
import { DeploymentResultResponse, InstalledProviderResponse } from './installation.dto';

/** An installed_providers row as node-postgres returns it. */
export interface InstalledRow {
  tenant: string;
  prefix: string;
  name: string;
  installation_id: string;
  installed_version: string;
  current_version: string | null;
  upgrade_policy: UpgradePolicy;
  resource_tier: ResourceTier;
  config: Record<string, string>;
  lifecycle_state: LifecycleState;
  health: Health;
  health_message: string | null;
  generation: number;
  last_deploy_message: string | null;
  revision: string;
  installed_at: Date;
  updated_at: Date;
}

function upgradeAvailable(installedVersion: string, latest: string | null | undefined): string | null {
  return latest && semver.gt(latest, installedVersion) ? latest : null;
}

export function installedFromState(state: PresentInstallation, latest: string | null | undefined): InstalledProviderResponse {
  const installedAt = new Date(state.installedAt).toISOString();
  return {
    prefix: state.prefix,
    name: state.name,
    canonical: canonicalOf(state),
    installed_version: state.installedVersion,
    current_version: state.currentVersion,
    upgrade_policy: state.upgradePolicy,
    resource_tier: state.resourceTier,
    config: maskedConfig(state.config, state.secretConfigKeys ?? []),
    installed_at: installedAt,
    created_at: installedAt,
    updated_at: new Date(state.updatedAt).toISOString(),
    lifecycle_state: state.lifecycle,
    health: state.health,
    health_message: state.healthMessage,
    upgrade_available: upgradeAvailable(state.installedVersion, latest),
  };
}

export function installedFromRow(row: InstalledRow, latest: string | null | undefined): InstalledProviderResponse {
  const installedAt = row.installed_at.toISOString();
  return {
    prefix: row.prefix,
    name: row.name,
    canonical: canonicalOf(row),
    installed_version: row.installed_version,
    current_version: row.current_version,
    upgrade_policy: row.upgrade_policy,
    resource_tier: row.resource_tier,
    // The read model holds secret values masked (installed-providers projection).
    config: { ...row.config },
    installed_at: installedAt,
    created_at: installedAt,
    updated_at: row.updated_at.toISOString(),
    lifecycle_state: row.lifecycle_state,
    health: row.health,
    health_message: row.health_message,
    upgrade_available: upgradeAvailable(row.installed_version, latest),
  };
}

/**
 * A redeploy's answer: the new generation, pending, nothing running for it yet, under the name and
 * image the configured deployer will report for it in `GET …/deployment`.
 */
export function deploymentFromResult(result: InstallationResult, deployer: ConfiguredDeployer): DeploymentResultResponse {
  const state = result.installation;
  const runtime = result.version ? { runtimeVersion: result.version.runtime_version, runtimeImage: result.version.runtime_image } : undefined;
  return {
    deployment_name: deploymentNameOf(deployer.kind, state, state.generation),
    status: 'pending',
    available_replicas: 0,
    ready_replicas: 0,
    version: state.installedVersion,
    image: runtime ? deploymentImageOf(deployer.kind, runtime, deployer.images) : null,
    updated_at: new Date(state.updatedAt).toISOString(),
    message: null,
    generation: state.generation,
    healthy: state.health === 'healthy',
  };
}
