import * as semver from 'semver';
import { PresentInstallation } from '../../../libs/installations/installation.decider';
import { InstalledProviderRow } from '../../../libs/read-models/entities/installed-provider.entity';
import { InstalledProviderResponse } from './installation.dto';

export function upgradeAvailable(installedVersion: string, latest: string | null | undefined): string | null {
  return latest && semver.gt(latest, installedVersion) ? latest : null;
}

export function installedFromState(state: PresentInstallation, latest: string | null | undefined): InstalledProviderResponse {
  const installedAt = new Date(state.installedAt).toISOString();
  return {
    prefix: state.prefix,
    name: state.name,
    canonical: `${state.prefix}/${state.name}`,
    installed_version: state.installedVersion,
    current_version: state.currentVersion,
    upgrade_policy: state.upgradePolicy,
    resource_tier: state.resourceTier,
    config: { ...state.config },
    installed_at: installedAt,
    created_at: installedAt,
    updated_at: new Date(state.updatedAt).toISOString(),
    lifecycle_state: state.lifecycle,
    health: state.health,
    health_message: state.healthMessage,
    upgrade_available: upgradeAvailable(state.installedVersion, latest),
  };
}

export function installedFromRow(row: InstalledProviderRow, latest: string | null | undefined): InstalledProviderResponse {
  const installedAt = row.installed_at.toISOString();
  return {
    prefix: row.prefix,
    name: row.name,
    canonical: `${row.prefix}/${row.name}`,
    installed_version: row.installed_version,
    current_version: row.current_version,
    upgrade_policy: row.upgrade_policy as InstalledProviderResponse['upgrade_policy'],
    resource_tier: row.resource_tier as InstalledProviderResponse['resource_tier'],
    config: row.config,
    installed_at: installedAt,
    created_at: installedAt,
    updated_at: row.updated_at.toISOString(),
    lifecycle_state: row.lifecycle_state,
    health: row.health,
    health_message: row.health_message,
    upgrade_available: upgradeAvailable(row.installed_version, latest),
  };
}
