export type LifecycleState = 'pending' | 'processing' | 'ready' | 'failed' | 'deleting';
export type Health = 'healthy' | 'degraded';
export type ResourceTier = 'free' | 'standard' | 'performance';
export type UpgradePolicy = 'auto' | 'manual';
export type Direction = 'up' | 'down';

export const RESOURCE_TIERS: readonly ResourceTier[] = ['free', 'standard', 'performance'];
export const UPGRADE_POLICIES: readonly UpgradePolicy[] = ['auto', 'manual'];
export const LIFECYCLE_STATES: readonly LifecycleState[] = ['pending', 'processing', 'ready', 'failed', 'deleting'];
export const HEALTH_STATES: readonly Health[] = ['healthy', 'degraded'];

interface Stamped {
  at: string;
}

export type InstallRequested = {
  type: 'InstallRequested';
  data: Stamped & {
    installation_id: string;
    tenant: string;
    prefix: string;
    name: string;
    version: string;
    resource_tier: ResourceTier;
    upgrade_policy: UpgradePolicy;
    config: Record<string, string>;
    generation: number;
    /** Config keys whose values are sealed (libs/secrets); absent: none. */
    secret_keys?: string[];
  };
};
export type UpgradeRequested = {
  type: 'UpgradeRequested';
  data: Stamped & { from_version: string; to_version: string; direction: Direction; generation: number; reason: 'manual' | 'auto' };
};
export type RedeployRequested = { type: 'RedeployRequested'; data: Stamped & { version: string; generation: number } };
export type InstallationReconfigured = {
  type: 'InstallationReconfigured';
  data: Stamped & {
    config: Record<string, string>;
    resource_tier: ResourceTier;
    upgrade_policy: UpgradePolicy;
    /** Set when config or tier changed: a new generation must be deployed. */
    generation: number | null;
    /** Config keys whose values are sealed (libs/secrets); absent: none. */
    secret_keys?: string[];
  };
};
export type DeployStarted = { type: 'DeployStarted'; data: Stamped & { generation: number; version: string; token_hash: string } };
export type DeployFailed = { type: 'DeployFailed'; data: Stamped & { generation: number; message: string } };
export type RegistrationReceived = {
  type: 'RegistrationReceived';
  data: Stamped & { generation: number; version: string; endpoint: string | null; wheel_name?: string; wheel_version?: string };
};
export type HealthChanged = { type: 'HealthChanged'; data: Stamped & { health: Health; message: string | null } };
export type UninstallRequested = { type: 'UninstallRequested'; data: Stamped & { generation: number } };
export type Uninstalled = { type: 'Uninstalled'; data: Stamped & { generation: number } };
/**
 * Back to an earlier version as a new generation: the tenant's rollback (`manual`), or the rollout of
 * a version yanked before it finished, cancelled back to the version serving (`yanked`).
 */
export type RollbackRequested = {
  type: 'RollbackRequested';
  data: Stamped & { from_version: string; to_version: string; generation: number; reason: RollbackReason };
};
export type RollbackReason = 'manual' | 'yanked';

export type InstallationEvent =
  | InstallRequested
  | UpgradeRequested
  | RedeployRequested
  | InstallationReconfigured
  | DeployStarted
  | DeployFailed
  | RegistrationReceived
  | HealthChanged
  | UninstallRequested
  | Uninstalled
  | RollbackRequested;

export const INSTALLATION_EVENT_TYPES: ReadonlyArray<InstallationEvent['type']> = [
  'InstallRequested',
  'UpgradeRequested',
  'RedeployRequested',
  'InstallationReconfigured',
  'DeployStarted',
  'DeployFailed',
  'RegistrationReceived',
  'HealthChanged',
  'UninstallRequested',
  'Uninstalled',
  'RollbackRequested',
];
