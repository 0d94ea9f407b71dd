import { Direction, Health, ResourceTier, UpgradePolicy } from './installation.events';

interface Timed {
  now: string;
}

export type InstallProvider = Timed & {
  type: 'InstallProvider';
  installationId: string;
  tenant: string;
  prefix: string;
  name: string;
  version: string;
  resourceTier: ResourceTier;
  upgradePolicy: UpgradePolicy;
  /** Secret values already sealed: the handler encrypts before the command is built. */
  config: Record<string, string>;
  /** Keys of `config` whose values are sealed. */
  secretKeys?: string[];
};
/** Upgrade and downgrade share one command; `direction` says which rule the target must meet. */
export type ChangeVersion = Timed & {
  type: 'ChangeVersion';
  direction: Direction;
  targetVersion: string;
  reason: 'manual' | 'auto';
  /** Whether the target was yanked, as its provider's stream says when the command is built. */
  targetYanked: boolean;
};
export type Redeploy = Timed & { type: 'Redeploy'; version: string };
export type Reconfigure = Timed & {
  type: 'Reconfigure';
  config?: Record<string, string>;
  /** With `config`: its keys whose values are sealed. */
  secretKeys?: string[];
  resourceTier?: ResourceTier;
  upgradePolicy?: UpgradePolicy;
};
export type Uninstall = Timed & { type: 'Uninstall' };
export type StartDeploy = Timed & { type: 'StartDeploy'; generation: number; tokenHash: string };
export type FailDeploy = Timed & { type: 'FailDeploy'; generation: number; message: string };
export type RecordRegistration = Timed & { type: 'RecordRegistration'; generation: number; version: string; endpoint: string | null; wheel?: RunningWheel };
/** The wheel a runtime reports it loaded: its METADATA Name and Version. */
export type RunningWheel = { name: string; version: string };
export type ReportHealth = Timed & { type: 'ReportHealth'; health: Health; message: string | null };
export type CompleteUninstall = Timed & { type: 'CompleteUninstall'; generation: number };
/** The tenant's rollback: back to the version serving, or to the one that served before it. */
export type Rollback = Timed & { type: 'Rollback' };
/** `version` was yanked: a rollout onto it that has not finished goes back to the version serving. */
export type CancelYankedRollout = Timed & { type: 'CancelYankedRollout'; version: string };

export type InstallationCommand =
  | InstallProvider
  | ChangeVersion
  | Redeploy
  | Reconfigure
  | Uninstall
  | StartDeploy
  | FailDeploy
  | RecordRegistration
  | ReportHealth
  | CompleteUninstall
  | Rollback
  | CancelYankedRollout;
