import * as semver from 'semver';
import { Decider, SnapshotIdentity, assertNever } from '../domain/decider';
import { DomainError, conflict, invalid } from '../domain/domain-error';
import {
  ChangeVersion,
  InstallProvider,
  InstallationCommand,
  Reconfigure,
  Redeploy,
  Uninstall,
} from './installation.commands';
import { Health, InstallRequested, InstallationEvent, LifecycleState, ResourceTier, UpgradePolicy } from './installation.events';
import { canonicalOf } from '../providers/provider-identity';
import { notInstalled } from './not-installed';
import { reservedKeysIn } from './reserved-config-keys';
import { configDiffers, secretKeysField } from './secret-config-keys';
import { decideCancelYankedRollout, decideRollback } from './installation-rollback';
import { completeUninstall, failDeploy, recordRegistration, reportHealth, startDeploy } from './installer-commands.decide';

export interface Installation {
  installationId: string;
  tenant: string;
  prefix: string;
  name: string;
  /** The version the tenant asked for. */
  installedVersion: string;
  /** The version a runtime last registered with (the one serving); null until one has. */
  currentVersion: string | null;
  /** The generation serving `currentVersion`; null until one registered. Its heartbeats are the health. */
  servingGeneration: number | null;
  /** The version that served before `currentVersion` (where a rollback goes); null if none did. */
  previousServingVersion: string | null;
  upgradePolicy: UpgradePolicy;
  resourceTier: ResourceTier;
  config: Readonly<Record<string, string>>;
  /** Keys of `config` whose values are sealed (libs/secrets); absent: none. */
  secretConfigKeys?: readonly string[];
  lifecycle: LifecycleState;
  health: Health;
  healthMessage: string | null;
  /** Deploy generation of the newest command; anything about an older one is stale. */
  generation: number;
  /** Generation of the newest deploy the installer started (0: none yet). */
  deployedGeneration: number;
  /** When the deployed generation's deploy started: the installer's registration deadline runs from it. */
  deployStartedAt?: string;
  /** Registration-token hashes by generation, so an old runtime can still be recognised. */
  tokenHashes: Readonly<Record<number, string>>;
  lastDeployMessage: string | null;
  installedAt: string;
  updatedAt: string;
}

export type InstallationState = { status: 'absent'; lastGeneration: number } | ({ status: 'present' } & Installation);
export type PresentInstallation = Extract<InstallationState, { status: 'present' }>;

function requirePresent(state: InstallationState): PresentInstallation {
  if (state.status !== 'present') throw notInstalled();
  return state;
}

function requireChangeable(state: InstallationState, what: string): PresentInstallation {
  const present = requirePresent(state);
  if (present.lifecycle === 'deleting') {
    throw conflict('installation_deleting', `Cannot ${what}: ${canonicalOf(present)} is being uninstalled.`);
  }
  return present;
}

/**
 * A tenant's config becomes its runtime's environment: names that steer the loader, the interpreters
 * or the platform's runtime are refused (422), whatever the installation's state.
 */
function requireTenantConfig(config: Readonly<Record<string, string>> | undefined): void {
  const reserved = reservedKeysIn(config ?? {});
  if (reserved.length === 0) return;
  throw new DomainError(
    'invalid',
    'reserved_config_key',
    `config may not set ${reserved.join(', ')}: ${reserved.length > 1 ? 'these names are' : 'this name is'} reserved for the platform.`,
    reserved.map((key) => ({ field: `config.${key}`, constraint: 'reservedConfigKey', message: 'is reserved for the platform', value_type: 'string' })),
  );
}

function install(command: InstallProvider, state: InstallationState): InstallationEvent[] {
  requireTenantConfig(command.config);
  if (state.status === 'present') {
    throw conflict(
      'already_installed',
      `${canonicalOf(state)} is already installed (version ${state.installedVersion}); use upgrade, downgrade or PATCH to change it.`,
    );
  }
  return [
    {
      type: 'InstallRequested',
      data: {
        installation_id: command.installationId,
        tenant: command.tenant,
        prefix: command.prefix,
        name: command.name,
        version: command.version,
        resource_tier: command.resourceTier,
        upgrade_policy: command.upgradePolicy,
        config: command.config,
        generation: state.lastGeneration + 1,
        ...secretKeysField(command.secretKeys),
        at: command.now,
      },
    },
  ];
}

function changeVersion(command: ChangeVersion, state: InstallationState): InstallationEvent[] {
  const verb = command.direction === 'up' ? 'upgrade' : 'downgrade';
  const present = requireChangeable(state, verb);
  const from = present.installedVersion;
  const to = command.targetVersion;
  if (command.targetYanked) {
    throw invalid('version_yanked', `${canonicalOf(present)} ${to} was yanked; choose another version.`);
  }
  if (semver.eq(from, to)) {
    throw conflict('already_at_version', `${canonicalOf(present)} is already at version ${to}.`);
  }
  if (command.direction === 'up' && !semver.gt(to, from)) {
    throw invalid('not_an_upgrade', `${to} is not newer than the installed ${from}; use downgrade to go back.`);
  }
  if (command.direction === 'down' && !semver.lt(to, from)) {
    throw invalid('not_a_downgrade', `${to} is not older than the installed ${from}; use upgrade to go forward.`);
  }
  return [
    {
      type: 'UpgradeRequested',
      data: { from_version: from, to_version: to, direction: command.direction, generation: present.generation + 1, reason: command.reason, at: command.now },
    },
  ];
}

function reconfigure(command: Reconfigure, state: InstallationState): InstallationEvent[] {
  requireTenantConfig(command.config);
  const present = requireChangeable(state, 'reconfigure');
  const config = command.config ?? present.config;
  const secretKeys = command.config ? (command.secretKeys ?? []) : (present.secretConfigKeys ?? []);
  const resourceTier = command.resourceTier ?? present.resourceTier;
  const upgradePolicy = command.upgradePolicy ?? present.upgradePolicy;
  const configChanged = configDiffers(config, secretKeys, present);
  const redeploy = configChanged || resourceTier !== present.resourceTier;
  if (!redeploy && upgradePolicy === present.upgradePolicy) return [];
  return [
    {
      type: 'InstallationReconfigured',
      data: {
        config: { ...config },
        resource_tier: resourceTier,
        upgrade_policy: upgradePolicy,
        generation: redeploy ? present.generation + 1 : null,
        ...secretKeysField(secretKeys),
        at: command.now,
      },
    },
  ];
}

function redeploy(command: Redeploy, state: InstallationState): InstallationEvent[] {
  const present = requireChangeable(state, 'redeploy');
  return [{ type: 'RedeployRequested', data: { version: command.version, generation: present.generation + 1, at: command.now } }];
}

function uninstall(command: Uninstall, state: InstallationState): InstallationEvent[] {
  const present = requirePresent(state);
  // Asking again while the uninstall runs changes nothing and is not an error.
  if (present.lifecycle === 'deleting') return [];
  return [{ type: 'UninstallRequested', data: { generation: present.generation + 1, at: command.now } }];
}

function decide(command: InstallationCommand, state: InstallationState): InstallationEvent[] {
  switch (command.type) {
    case 'InstallProvider':
      return install(command, state);
    case 'ChangeVersion':
      return changeVersion(command, state);
    case 'Redeploy':
      return redeploy(command, state);
    case 'Reconfigure':
      return reconfigure(command, state);
    case 'Uninstall':
      return uninstall(command, state);
    case 'StartDeploy':
      return startDeploy(command, state);
    case 'FailDeploy':
      return failDeploy(command, state);
    case 'RecordRegistration':
      return recordRegistration(command, state);
    case 'ReportHealth':
      return reportHealth(command, state);
    case 'CompleteUninstall':
      return completeUninstall(command, state);
    case 'Rollback':
      return decideRollback(command, requireChangeable(state, 'roll back'));
    case 'CancelYankedRollout':
      return state.status === 'present' ? decideCancelYankedRollout(command, state) : [];
    default:
      return assertNever(command);
  }
}

/**
 * `secretConfigKeys` absent rather than undefined when there are none, so the state stays plain JSON
 * and a snapshot of it folds on exactly as the state itself (libs/application/aggregate-snapshots.ts).
 * A reconfiguration names the whole new set (or none), replacing the previous one.
 */
function secretKeysOf(keys: readonly string[] | undefined): Pick<Installation, 'secretConfigKeys'> {
  return keys === undefined ? {} : { secretConfigKeys: keys };
}

function installed(d: InstallRequested['data']): PresentInstallation {
  return {
    status: 'present',
    installationId: d.installation_id,
    tenant: d.tenant,
    prefix: d.prefix,
    name: d.name,
    installedVersion: d.version,
    currentVersion: null,
    servingGeneration: null,
    previousServingVersion: null,
    upgradePolicy: d.upgrade_policy,
    resourceTier: d.resource_tier,
    config: d.config,
    ...secretKeysOf(d.secret_keys),
    lifecycle: 'pending',
    health: 'healthy',
    healthMessage: null,
    generation: d.generation,
    deployedGeneration: 0,
    tokenHashes: {},
    lastDeployMessage: null,
    installedAt: d.at,
    updatedAt: d.at,
  };
}

function evolve(state: InstallationState, event: InstallationEvent): InstallationState {
  if (event.type === 'InstallRequested') return installed(event.data);
  if (state.status !== 'present') return state;
  const at = event.data.at;
  switch (event.type) {
    case 'UpgradeRequested':
    case 'RollbackRequested':
      return newGeneration(state, event.data.to_version, event.data.generation, at);
    case 'RedeployRequested':
      return newGeneration(state, event.data.version, event.data.generation, at);
    case 'InstallationReconfigured': {
      const { secretConfigKeys: _replaced, ...unsealed } = state;
      const next = { ...unsealed, config: event.data.config, ...secretKeysOf(event.data.secret_keys), resourceTier: event.data.resource_tier, upgradePolicy: event.data.upgrade_policy, updatedAt: at };
      return event.data.generation === null ? next : { ...next, generation: event.data.generation, lifecycle: 'pending', lastDeployMessage: null };
    }
    case 'DeployStarted':
      return {
        ...state,
        lifecycle: 'processing',
        deployedGeneration: event.data.generation,
        deployStartedAt: event.data.at,
        tokenHashes: { ...state.tokenHashes, [event.data.generation]: event.data.token_hash },
        updatedAt: at,
      };
    case 'DeployFailed':
      return { ...state, lifecycle: 'failed', lastDeployMessage: event.data.message, updatedAt: at };
    case 'RegistrationReceived':
      return { ...registered(state, event.data), lifecycle: 'ready', health: 'healthy', healthMessage: null, lastDeployMessage: null, updatedAt: at };
    case 'HealthChanged':
      return { ...state, health: event.data.health, healthMessage: event.data.message, updatedAt: at };
    case 'UninstallRequested':
      // Nothing is to serve any more, even if the removal fails: reconciliation must not bring it back.
      return { ...state, lifecycle: 'deleting', generation: event.data.generation, servingGeneration: null, updatedAt: at };
    case 'Uninstalled':
      return { status: 'absent', lastGeneration: state.generation };
    default:
      return state;
  }
}

/** A new generation of `version` is wanted: pending until the installer starts it. */
function newGeneration(state: PresentInstallation, version: string, generation: number, at: string): PresentInstallation {
  return { ...state, installedVersion: version, generation, lifecycle: 'pending', lastDeployMessage: null, updatedAt: at };
}

/** A generation registered: it serves now, and the version it replaced becomes the one to roll back to. */
function registered(state: PresentInstallation, data: { generation: number; version: string }): PresentInstallation {
  const replaced = state.currentVersion !== null && state.currentVersion !== data.version ? state.currentVersion : state.previousServingVersion;
  return { ...state, currentVersion: data.version, servingGeneration: data.generation, previousServingVersion: replaced };
}

// Bump on any change to `evolve` or to InstallationState: older snapshots then stop being used.
export const installationSnapshot: SnapshotIdentity = { name: 'installation', version: 2 };

export const installationDecider: Decider<InstallationCommand, InstallationState, InstallationEvent> = {
  initialState: { status: 'absent', lastGeneration: 0 },
  decide,
  evolve,
  snapshot: installationSnapshot,
};
