import { fold } from '../domain/decider';
import { DomainError, DomainErrorKind } from '../domain/domain-error';
import { given } from '../domain/given-when-then';
import {
  ChangeVersion,
  CompleteUninstall,
  FailDeploy,
  InstallProvider,
  InstallationCommand,
  Reconfigure,
  RecordRegistration,
  Redeploy,
  ReportHealth,
  StartDeploy,
  Uninstall,
} from './installation.commands';
import { InstallationState, PresentInstallation, installationDecider } from './installation.decider';
import {
  DeployFailed,
  DeployStarted,
  Direction,
  Health,
  HealthChanged,
  InstallRequested,
  InstallationEvent,
  InstallationReconfigured,
  RedeployRequested,
  RegistrationReceived,
  ResourceTier,
  UninstallRequested,
  Uninstalled,
  UpgradePolicy,
  UpgradeRequested,
} from './installation.events';

// ---------------------------------------------------------------------------------------------
// Fixtures: a fixed clock and one tenant's installation of acme/db.
// ---------------------------------------------------------------------------------------------

const T0 = '2024-03-01T09:00:00.000Z';
const T1 = '2024-03-01T09:01:00.000Z';
const T2 = '2024-03-01T09:02:00.000Z';
const T3 = '2024-03-01T09:03:00.000Z';
const T4 = '2024-03-01T09:04:00.000Z';
const T5 = '2024-03-01T09:05:00.000Z';
const T6 = '2024-03-01T09:06:00.000Z';
const NOW = '2024-03-02T12:00:00.000Z';

const INSTALLATION_ID = '7f0c1a52-2b5e-4c0e-9a36-0d3f4c8b9e11';
const CONFIG = { DB_SIZE: 'small', REGION: 'eu-west-1' };

// --- commands -----------------------------------------------------------------------------------

const install = (overrides: Partial<InstallProvider> = {}): InstallProvider => ({
  type: 'InstallProvider',
  installationId: INSTALLATION_ID,
  tenant: 'tenant-a',
  prefix: 'acme',
  name: 'db',
  version: '1.0.0',
  resourceTier: 'standard',
  upgradePolicy: 'manual',
  config: CONFIG,
  now: NOW,
  ...overrides,
});
const changeVersion = (direction: Direction, targetVersion: string, reason: 'manual' | 'auto' = 'manual'): ChangeVersion => ({
  type: 'ChangeVersion',
  direction,
  targetVersion,
  reason,
  targetYanked: false,
  now: NOW,
});
const upgrade = (targetVersion: string, reason: 'manual' | 'auto' = 'manual') => changeVersion('up', targetVersion, reason);
const downgrade = (targetVersion: string) => changeVersion('down', targetVersion);
const redeploy = (version = '1.0.0'): Redeploy => ({ type: 'Redeploy', version, now: NOW });
const reconfigure = (changes: Omit<Reconfigure, 'type' | 'now'> = {}): Reconfigure => ({ type: 'Reconfigure', ...changes, now: NOW });
const uninstall = (): Uninstall => ({ type: 'Uninstall', now: NOW });
const startDeploy = (generation: number, tokenHash = `hash-${generation}`): StartDeploy => ({ type: 'StartDeploy', generation, tokenHash, now: NOW });
const failDeploy = (generation: number, message = 'image pull failed'): FailDeploy => ({ type: 'FailDeploy', generation, message, now: NOW });
const recordRegistration = (generation: number, version = '1.0.0', endpoint: string | null = 'http://10.0.0.7:8080'): RecordRegistration => ({
  type: 'RecordRegistration',
  generation,
  version,
  endpoint,
  now: NOW,
});
const reportHealth = (health: Health, message: string | null = null): ReportHealth => ({ type: 'ReportHealth', health, message, now: NOW });
const completeUninstall = (generation: number): CompleteUninstall => ({ type: 'CompleteUninstall', generation, now: NOW });

// --- events -------------------------------------------------------------------------------------

const installRequested = (generation = 1, at = T0, overrides: Partial<InstallRequested['data']> = {}): InstallRequested => ({
  type: 'InstallRequested',
  data: {
    installation_id: INSTALLATION_ID,
    tenant: 'tenant-a',
    prefix: 'acme',
    name: 'db',
    version: '1.0.0',
    resource_tier: 'standard',
    upgrade_policy: 'manual',
    config: CONFIG,
    generation,
    at,
    ...overrides,
  },
});
const upgradeRequested = (
  from: string,
  to: string,
  generation: number,
  at = NOW,
  direction: Direction = 'up',
  reason: 'manual' | 'auto' = 'manual',
): UpgradeRequested => ({
  type: 'UpgradeRequested',
  data: { from_version: from, to_version: to, direction, generation, reason, at },
});
const redeployRequested = (version: string, generation: number, at = NOW): RedeployRequested => ({
  type: 'RedeployRequested',
  data: { version, generation, at },
});
const reconfigured = (
  generation: number | null,
  data: { config?: Record<string, string>; resource_tier?: ResourceTier; upgrade_policy?: UpgradePolicy } = {},
  at = NOW,
): InstallationReconfigured => ({
  type: 'InstallationReconfigured',
  data: { config: CONFIG, resource_tier: 'standard', upgrade_policy: 'manual', ...data, generation, at },
});
const deployStarted = (generation: number, version = '1.0.0', at = NOW): DeployStarted => ({
  type: 'DeployStarted',
  data: { generation, version, token_hash: `hash-${generation}`, at },
});
const deployFailed = (generation: number, message = 'image pull failed', at = NOW): DeployFailed => ({
  type: 'DeployFailed',
  data: { generation, message, at },
});
const registrationReceived = (generation: number, version = '1.0.0', at = NOW, endpoint: string | null = 'http://10.0.0.7:8080'): RegistrationReceived => ({
  type: 'RegistrationReceived',
  data: { generation, version, endpoint, at },
});
const healthChanged = (health: Health, message: string | null, at = NOW): HealthChanged => ({ type: 'HealthChanged', data: { health, message, at } });
const uninstallRequested = (generation: number, at = NOW): UninstallRequested => ({ type: 'UninstallRequested', data: { generation, at } });
const uninstalled = (generation: number, at = NOW): Uninstalled => ({ type: 'Uninstalled', data: { generation, at } });

// --- histories by lifecycle (generation 1 unless said otherwise) ---------------------------------

const PENDING: InstallationEvent[] = [installRequested(1, T0)];
const PROCESSING: InstallationEvent[] = [...PENDING, deployStarted(1, '1.0.0', T1)];
const READY: InstallationEvent[] = [...PROCESSING, registrationReceived(1, '1.0.0', T2)];
const FAILED: InstallationEvent[] = [...PROCESSING, deployFailed(1, 'image pull failed', T2)];
/** Ready at 1.0.0, then asked to uninstall: generation 2. */
const DELETING: InstallationEvent[] = [...READY, uninstallRequested(2, T3)];
/** Uninstalled at generation 2. */
const REMOVED: InstallationEvent[] = [...DELETING, uninstalled(2, T4)];

// --- helpers ------------------------------------------------------------------------------------

function present(state: InstallationState): PresentInstallation {
  if (state.status !== 'present') throw new Error(`expected a present installation, got ${state.status}`);
  return state;
}

const stateOf = (events: InstallationEvent[]) => fold(installationDecider, events);

function expectDomainError(events: InstallationEvent[], command: InstallationCommand, code: string, kind: DomainErrorKind): void {
  let error: unknown;
  try {
    installationDecider.decide(command, stateOf(events));
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(DomainError);
  expect((error as DomainError).code).toBe(code);
  expect((error as DomainError).kind).toBe(kind);
}

// ---------------------------------------------------------------------------------------------

describe('installation decider', () => {
  it('starts absent with no generation used', () => {
    expect(installationDecider.initialState).toEqual({ status: 'absent', lastGeneration: 0 });
  });

  describe('when absent', () => {
    it('install emits InstallRequested with generation 1', () => {
      given(installationDecider)
        .when(install())
        .then([installRequested(1, NOW)]);
    });

    it('install carries tier, policy and config from the command', () => {
      given(installationDecider)
        .when(install({ version: '2.1.0', resourceTier: 'performance', upgradePolicy: 'auto', config: { A: '1' } }))
        .then([installRequested(1, NOW, { version: '2.1.0', resource_tier: 'performance', upgrade_policy: 'auto', config: { A: '1' } })]);
    });

    it('an installed provider starts pending, healthy, not yet deployed nor registered', () => {
      const state = present(given(installationDecider).when(install()).thenState());
      expect(state).toEqual({
        status: 'present',
        installationId: INSTALLATION_ID,
        tenant: 'tenant-a',
        prefix: 'acme',
        name: 'db',
        installedVersion: '1.0.0',
        currentVersion: null,
        servingGeneration: null,
        previousServingVersion: null,
        upgradePolicy: 'manual',
        resourceTier: 'standard',
        config: CONFIG,
        lifecycle: 'pending',
        health: 'healthy',
        healthMessage: null,
        generation: 1,
        deployedGeneration: 0,
        tokenHashes: {},
        lastDeployMessage: null,
        installedAt: NOW,
        updatedAt: NOW,
      });
    });

    it.each<[string, InstallationCommand]>([
      ['upgrade', upgrade('2.0.0')],
      ['downgrade', downgrade('0.9.0')],
      ['redeploy', redeploy()],
      ['reconfigure', reconfigure({ config: { A: '1' } })],
      ['reconfigure with nothing to change', reconfigure()],
      ['uninstall', uninstall()],
    ])('%s fails with not_installed', (_label, command) => {
      given(installationDecider).when(command).thenFails('not_installed');
    });

    it('not_installed is a not_found error (404)', () => {
      expectDomainError([], upgrade('2.0.0'), 'not_installed', 'not_found');
    });

    it.each<[string, InstallationCommand]>([
      ['StartDeploy', startDeploy(1)],
      ['FailDeploy', failDeploy(1)],
      ['RecordRegistration', recordRegistration(1)],
      ['ReportHealth', reportHealth('degraded', 'no heartbeat')],
      ['CompleteUninstall', completeUninstall(1)],
    ])('%s from the installer or runtime is acknowledged and does nothing', (_label, command) => {
      given(installationDecider).when(command).thenNothingHappens();
    });
  });

  describe('when pending', () => {
    it('install fails with already_installed', () => {
      given(installationDecider, PENDING).when(install()).thenFails('already_installed');
    });

    it('already_installed is a conflict (409)', () => {
      expectDomainError(PENDING, install(), 'already_installed', 'conflict');
    });

    it('StartDeploy for the current generation emits DeployStarted with the installed version', () => {
      given(installationDecider, PENDING)
        .when(startDeploy(1, 'sha256:abc'))
        .then([{ type: 'DeployStarted', data: { generation: 1, version: '1.0.0', token_hash: 'sha256:abc', at: NOW } }]);
    });

    it('DeployStarted moves pending → processing and records the generation and token hash', () => {
      const state = present(given(installationDecider, PENDING).when(startDeploy(1, 'sha256:abc')).thenState());
      expect(state.lifecycle).toBe('processing');
      expect(state.deployedGeneration).toBe(1);
      expect(state.tokenHashes).toEqual({ 1: 'sha256:abc' });
      expect(state.updatedAt).toBe(NOW);
    });

    it.each([0, 2])('StartDeploy for another generation (%i) does nothing', (generation) => {
      given(installationDecider, PENDING).when(startDeploy(generation)).thenNothingHappens();
    });

    it('FailDeploy for the current generation emits DeployFailed (the installer could not even start)', () => {
      given(installationDecider, PENDING).when(failDeploy(1, 'no such image')).then([deployFailed(1, 'no such image')]);
    });

    it('FailDeploy for another generation does nothing', () => {
      given(installationDecider, PENDING).when(failDeploy(0)).thenNothingHappens();
      given(installationDecider, PENDING).when(failDeploy(2)).thenNothingHappens();
    });

    it('RecordRegistration for the current generation emits RegistrationReceived', () => {
      given(installationDecider, PENDING).when(recordRegistration(1)).then([registrationReceived(1)]);
    });

    it('RecordRegistration for another generation does nothing', () => {
      given(installationDecider, PENDING).when(recordRegistration(0)).thenNothingHappens();
      given(installationDecider, PENDING).when(recordRegistration(2)).thenNothingHappens();
    });

    it('CompleteUninstall does nothing (no uninstall was asked for)', () => {
      given(installationDecider, PENDING).when(completeUninstall(1)).thenNothingHappens();
    });

    it('upgrade supersedes the pending generation: UpgradeRequested with generation 2', () => {
      given(installationDecider, PENDING).when(upgrade('2.0.0')).then([upgradeRequested('1.0.0', '2.0.0', 2)]);
    });

    it('after a superseding upgrade the installation is pending at generation 2 with the new installed version', () => {
      const state = present(given(installationDecider, PENDING).when(upgrade('2.0.0')).thenState());
      expect(state.lifecycle).toBe('pending');
      expect(state.generation).toBe(2);
      expect(state.installedVersion).toBe('2.0.0');
      expect(state.currentVersion).toBeNull();
    });

    it('after a superseding upgrade, StartDeploy for the old generation does nothing', () => {
      given(installationDecider, [...PENDING, upgradeRequested('1.0.0', '2.0.0', 2)])
        .when(startDeploy(1))
        .thenNothingHappens();
    });

    it('after a superseding upgrade, StartDeploy for the new generation deploys the new version', () => {
      given(installationDecider, [...PENDING, upgradeRequested('1.0.0', '2.0.0', 2)])
        .when(startDeploy(2))
        .then([{ type: 'DeployStarted', data: { generation: 2, version: '2.0.0', token_hash: 'hash-2', at: NOW } }]);
    });

    it('downgrade supersedes the pending generation', () => {
      given(installationDecider, PENDING).when(downgrade('0.9.0')).then([upgradeRequested('1.0.0', '0.9.0', 2, NOW, 'down')]);
    });

    it('redeploy supersedes the pending generation', () => {
      given(installationDecider, PENDING).when(redeploy('1.0.0')).then([redeployRequested('1.0.0', 2)]);
    });

    it('a config change supersedes the pending generation', () => {
      given(installationDecider, PENDING)
        .when(reconfigure({ config: { DB_SIZE: 'large' } }))
        .then([reconfigured(2, { config: { DB_SIZE: 'large' } })]);
    });

    it('uninstall emits UninstallRequested with the next generation and the installation is deleting', () => {
      given(installationDecider, PENDING).when(uninstall()).then([uninstallRequested(2)]);
      const state = present(given(installationDecider, PENDING).when(uninstall()).thenState());
      expect(state.lifecycle).toBe('deleting');
      expect(state.generation).toBe(2);
    });

    it('ReportHealth reports a transition (health is independent of lifecycle)', () => {
      given(installationDecider, PENDING).when(reportHealth('degraded', 'no heartbeat')).then([healthChanged('degraded', 'no heartbeat')]);
    });
  });

  describe('when processing', () => {
    it('install fails with already_installed', () => {
      given(installationDecider, PROCESSING).when(install()).thenFails('already_installed');
    });

    it('a duplicate StartDeploy for the same generation does nothing', () => {
      given(installationDecider, PROCESSING).when(startDeploy(1, 'hash-again')).thenNothingHappens();
    });

    it('StartDeploy for another generation does nothing', () => {
      given(installationDecider, PROCESSING).when(startDeploy(0)).thenNothingHappens();
      given(installationDecider, PROCESSING).when(startDeploy(2)).thenNothingHappens();
    });

    it('FailDeploy for the current generation emits DeployFailed', () => {
      given(installationDecider, PROCESSING).when(failDeploy(1, 'CrashLoopBackOff')).then([deployFailed(1, 'CrashLoopBackOff')]);
    });

    it('DeployFailed moves processing → failed and keeps the message', () => {
      const state = present(given(installationDecider, PROCESSING).when(failDeploy(1, 'CrashLoopBackOff')).thenState());
      expect(state.lifecycle).toBe('failed');
      expect(state.lastDeployMessage).toBe('CrashLoopBackOff');
      expect(state.currentVersion).toBeNull();
    });

    it('FailDeploy for a stale or future generation does nothing', () => {
      given(installationDecider, PROCESSING).when(failDeploy(0)).thenNothingHappens();
      given(installationDecider, PROCESSING).when(failDeploy(2)).thenNothingHappens();
    });

    it('RecordRegistration for the current generation emits RegistrationReceived', () => {
      given(installationDecider, PROCESSING)
        .when(recordRegistration(1, '1.0.0', null))
        .then([registrationReceived(1, '1.0.0', NOW, null)]);
    });

    it('RegistrationReceived moves processing → ready, sets the current version and makes health healthy', () => {
      const state = present(
        given(installationDecider, [...PROCESSING, healthChanged('degraded', 'no heartbeat', T2)])
          .when(recordRegistration(1, '1.0.0'))
          .thenState(),
      );
      expect(state.lifecycle).toBe('ready');
      expect(state.currentVersion).toBe('1.0.0');
      expect(state.health).toBe('healthy');
      expect(state.healthMessage).toBeNull();
      expect(state.lastDeployMessage).toBeNull();
    });

    it('RecordRegistration for another generation does nothing', () => {
      given(installationDecider, PROCESSING).when(recordRegistration(0)).thenNothingHappens();
      given(installationDecider, PROCESSING).when(recordRegistration(2)).thenNothingHappens();
    });

    it('upgrade supersedes the generation in flight: pending at generation 2', () => {
      given(installationDecider, PROCESSING).when(upgrade('1.1.0')).then([upgradeRequested('1.0.0', '1.1.0', 2)]);
      const state = present(given(installationDecider, PROCESSING).when(upgrade('1.1.0')).thenState());
      expect(state.lifecycle).toBe('pending');
      expect(state.generation).toBe(2);
    });

    describe('after being superseded by an upgrade', () => {
      const SUPERSEDED: InstallationEvent[] = [...PROCESSING, upgradeRequested('1.0.0', '1.1.0', 2, T2)];

      it('StartDeploy for the old generation does nothing', () => {
        given(installationDecider, SUPERSEDED).when(startDeploy(1)).thenNothingHappens();
      });

      it('FailDeploy for the old generation does nothing', () => {
        given(installationDecider, SUPERSEDED).when(failDeploy(1)).thenNothingHappens();
      });

      it('RecordRegistration for the old generation does nothing', () => {
        given(installationDecider, SUPERSEDED).when(recordRegistration(1, '1.0.0')).thenNothingHappens();
      });

      it('StartDeploy for the new generation moves it to processing', () => {
        const state = present(given(installationDecider, SUPERSEDED).when(startDeploy(2)).thenState());
        expect(state.lifecycle).toBe('processing');
        expect(state.deployedGeneration).toBe(2);
        expect(state.tokenHashes).toEqual({ 1: 'hash-1', 2: 'hash-2' });
      });
    });

    it('downgrade supersedes the generation in flight', () => {
      given(installationDecider, PROCESSING).when(downgrade('0.9.0')).then([upgradeRequested('1.0.0', '0.9.0', 2, NOW, 'down')]);
    });

    it('redeploy supersedes the generation in flight', () => {
      given(installationDecider, PROCESSING).when(redeploy()).then([redeployRequested('1.0.0', 2)]);
    });

    it('a tier change supersedes the generation in flight', () => {
      const state = present(given(installationDecider, PROCESSING).when(reconfigure({ resourceTier: 'free' })).thenState());
      expect(state.lifecycle).toBe('pending');
      expect(state.generation).toBe(2);
      expect(state.resourceTier).toBe('free');
    });

    it('a policy-only change leaves the deploy in flight alone', () => {
      const state = present(given(installationDecider, PROCESSING).when(reconfigure({ upgradePolicy: 'auto' })).thenState());
      expect(state.lifecycle).toBe('processing');
      expect(state.generation).toBe(1);
      expect(state.upgradePolicy).toBe('auto');
    });

    it('uninstall emits UninstallRequested', () => {
      given(installationDecider, PROCESSING).when(uninstall()).then([uninstallRequested(2)]);
    });

    it('CompleteUninstall does nothing', () => {
      given(installationDecider, PROCESSING).when(completeUninstall(1)).thenNothingHappens();
    });
  });

  describe('when ready', () => {
    it('install fails with already_installed', () => {
      given(installationDecider, READY).when(install()).thenFails('already_installed');
    });

    it('install of another version still fails with already_installed', () => {
      given(installationDecider, READY).when(install({ version: '2.0.0' })).thenFails('already_installed');
    });

    describe('upgrade', () => {
      it('to the same version fails with already_at_version', () => {
        given(installationDecider, READY).when(upgrade('1.0.0')).thenFails('already_at_version');
      });

      it('already_at_version is a conflict (409)', () => {
        expectDomainError(READY, upgrade('1.0.0'), 'already_at_version', 'conflict');
      });

      it('to a semver-equal version (build metadata only) fails with already_at_version', () => {
        given(installationDecider, READY).when(upgrade('1.0.0+build.7')).thenFails('already_at_version');
      });

      it('to a lower version fails with not_an_upgrade', () => {
        given(installationDecider, READY).when(upgrade('0.9.0')).thenFails('not_an_upgrade');
      });

      it('not_an_upgrade is an invalid error (422)', () => {
        expectDomainError(READY, upgrade('0.9.0'), 'not_an_upgrade', 'invalid');
      });

      it('to a prerelease of the installed version fails with not_an_upgrade (1.0.0-rc.1 < 1.0.0)', () => {
        given(installationDecider, READY).when(upgrade('1.0.0-rc.1')).thenFails('not_an_upgrade');
      });

      it('compares by semver, not as strings (1.10.0 > 1.9.0)', () => {
        given(installationDecider, [installRequested(1, T0, { version: '1.9.0' })])
          .when(upgrade('1.10.0'))
          .then([upgradeRequested('1.9.0', '1.10.0', 2)]);
      });

      it('to a newer version emits UpgradeRequested with from, to, direction up and the next generation', () => {
        given(installationDecider, READY).when(upgrade('2.0.0')).then([upgradeRequested('1.0.0', '2.0.0', 2)]);
      });

      it('carries the reason (auto upgrades)', () => {
        given(installationDecider, READY).when(upgrade('2.0.0', 'auto')).then([upgradeRequested('1.0.0', '2.0.0', 2, NOW, 'up', 'auto')]);
      });

      it('puts the installation back to pending; the current version stays until a runtime registers', () => {
        const state = present(given(installationDecider, READY).when(upgrade('2.0.0')).thenState());
        expect(state.lifecycle).toBe('pending');
        expect(state.generation).toBe(2);
        expect(state.installedVersion).toBe('2.0.0');
        expect(state.currentVersion).toBe('1.0.0');
      });
    });

    describe('downgrade', () => {
      it('to the same version fails with already_at_version', () => {
        given(installationDecider, READY).when(downgrade('1.0.0')).thenFails('already_at_version');
      });

      it('to a higher version fails with not_a_downgrade', () => {
        given(installationDecider, READY).when(downgrade('1.0.1')).thenFails('not_a_downgrade');
      });

      it('not_a_downgrade is an invalid error (422)', () => {
        expectDomainError(READY, downgrade('2.0.0'), 'not_a_downgrade', 'invalid');
      });

      it('to a lower version emits UpgradeRequested with direction down and the next generation', () => {
        given(installationDecider, READY).when(downgrade('0.9.0')).then([upgradeRequested('1.0.0', '0.9.0', 2, NOW, 'down')]);
      });

      it('to a prerelease of the installed version is a downgrade', () => {
        given(installationDecider, READY).when(downgrade('1.0.0-rc.1')).then([upgradeRequested('1.0.0', '1.0.0-rc.1', 2, NOW, 'down')]);
      });

      it('puts the installation back to pending at the lower installed version', () => {
        const state = present(given(installationDecider, READY).when(downgrade('0.9.0')).thenState());
        expect(state.lifecycle).toBe('pending');
        expect(state.generation).toBe(2);
        expect(state.installedVersion).toBe('0.9.0');
        expect(state.currentVersion).toBe('1.0.0');
      });
    });

    describe('redeploy', () => {
      it('emits RedeployRequested with the next generation', () => {
        given(installationDecider, READY).when(redeploy('1.0.0')).then([redeployRequested('1.0.0', 2)]);
      });

      it('puts the installation back to pending', () => {
        const state = present(given(installationDecider, READY).when(redeploy('1.0.0')).thenState());
        expect(state.lifecycle).toBe('pending');
        expect(state.generation).toBe(2);
        expect(state.installedVersion).toBe('1.0.0');
      });

      it('of a given version makes it the installed version', () => {
        const state = present(given(installationDecider, READY).when(redeploy('1.2.0')).thenState());
        expect(state.installedVersion).toBe('1.2.0');
      });
    });

    describe('reconfigure', () => {
      it('a config change emits InstallationReconfigured with the next generation', () => {
        given(installationDecider, READY)
          .when(reconfigure({ config: { DB_SIZE: 'large', REGION: 'eu-west-1' } }))
          .then([reconfigured(2, { config: { DB_SIZE: 'large', REGION: 'eu-west-1' } })]);
      });

      it('a config change puts the installation back to pending with the new config', () => {
        const state = present(given(installationDecider, READY).when(reconfigure({ config: { DB_SIZE: 'large' } })).thenState());
        expect(state.lifecycle).toBe('pending');
        expect(state.generation).toBe(2);
        expect(state.config).toEqual({ DB_SIZE: 'large' });
      });

      it('removing every config key is a change', () => {
        given(installationDecider, READY).when(reconfigure({ config: {} })).then([reconfigured(2, { config: {} })]);
      });

      it('the same config in another key order is no change', () => {
        given(installationDecider, READY)
          .when(reconfigure({ config: { REGION: 'eu-west-1', DB_SIZE: 'small' } }))
          .thenNothingHappens();
      });

      it('a tier change emits InstallationReconfigured with the next generation', () => {
        given(installationDecider, READY)
          .when(reconfigure({ resourceTier: 'performance' }))
          .then([reconfigured(2, { resource_tier: 'performance' })]);
      });

      it('a tier change puts the installation back to pending', () => {
        const state = present(given(installationDecider, READY).when(reconfigure({ resourceTier: 'performance' })).thenState());
        expect(state.lifecycle).toBe('pending');
        expect(state.generation).toBe(2);
        expect(state.resourceTier).toBe('performance');
      });

      it('a policy-only change emits InstallationReconfigured with generation null', () => {
        given(installationDecider, READY)
          .when(reconfigure({ upgradePolicy: 'auto' }))
          .then([reconfigured(null, { upgrade_policy: 'auto' })]);
      });

      it('a policy-only change leaves lifecycle and generation unchanged', () => {
        const state = present(given(installationDecider, READY).when(reconfigure({ upgradePolicy: 'auto' })).thenState());
        expect(state.lifecycle).toBe('ready');
        expect(state.generation).toBe(1);
        expect(state.upgradePolicy).toBe('auto');
        expect(state.updatedAt).toBe(NOW);
      });

      it('a policy change together with a config change redeploys with the new policy', () => {
        given(installationDecider, READY)
          .when(reconfigure({ upgradePolicy: 'auto', config: { DB_SIZE: 'large' } }))
          .then([reconfigured(2, { upgrade_policy: 'auto', config: { DB_SIZE: 'large' } })]);
      });

      it('the same values as now is no change', () => {
        given(installationDecider, READY)
          .when(reconfigure({ config: { ...CONFIG }, resourceTier: 'standard', upgradePolicy: 'manual' }))
          .thenNothingHappens();
      });

      it('an empty reconfigure is no change', () => {
        given(installationDecider, READY).when(reconfigure()).thenNothingHappens();
      });
    });

    it('uninstall emits UninstallRequested with the next generation; the installation is deleting', () => {
      given(installationDecider, READY).when(uninstall()).then([uninstallRequested(2)]);
      const state = present(given(installationDecider, READY).when(uninstall()).thenState());
      expect(state.lifecycle).toBe('deleting');
      expect(state.generation).toBe(2);
      expect(state.currentVersion).toBe('1.0.0');
    });

    it('StartDeploy for the generation already deployed does nothing', () => {
      given(installationDecider, READY).when(startDeploy(1)).thenNothingHappens();
    });

    it('FailDeploy for the current generation does nothing once ready', () => {
      given(installationDecider, READY).when(failDeploy(1)).thenNothingHappens();
    });

    it('a duplicate RecordRegistration (same generation and version) does nothing', () => {
      given(installationDecider, READY).when(recordRegistration(1, '1.0.0')).thenNothingHappens();
    });

    it('RecordRegistration for an old generation does nothing', () => {
      const readyAt2: InstallationEvent[] = [...READY, upgradeRequested('1.0.0', '2.0.0', 2, T3), deployStarted(2, '2.0.0', T4), registrationReceived(2, '2.0.0', T5)];
      given(installationDecider, readyAt2).when(recordRegistration(1, '1.0.0')).thenNothingHappens();
    });

    it('a successful upgrade ends ready at the new current version', () => {
      const state = present(
        given(installationDecider, [...READY, upgradeRequested('1.0.0', '2.0.0', 2, T3), deployStarted(2, '2.0.0', T4)])
          .when(recordRegistration(2, '2.0.0'))
          .thenState(),
      );
      expect(state.lifecycle).toBe('ready');
      expect(state.installedVersion).toBe('2.0.0');
      expect(state.currentVersion).toBe('2.0.0');
      expect(state.generation).toBe(2);
    });

    it('CompleteUninstall does nothing', () => {
      given(installationDecider, READY).when(completeUninstall(1)).thenNothingHappens();
    });

    describe('health', () => {
      it('a health transition emits HealthChanged', () => {
        given(installationDecider, READY).when(reportHealth('degraded', 'no heartbeat for 90s')).then([healthChanged('degraded', 'no heartbeat for 90s')]);
      });

      it('HealthChanged changes health and message, not the lifecycle', () => {
        const state = present(given(installationDecider, READY).when(reportHealth('degraded', 'no heartbeat for 90s')).thenState());
        expect(state.health).toBe('degraded');
        expect(state.healthMessage).toBe('no heartbeat for 90s');
        expect(state.lifecycle).toBe('ready');
      });

      it('the same health and message does nothing', () => {
        given(installationDecider, [...READY, healthChanged('degraded', 'no heartbeat for 90s', T3)])
          .when(reportHealth('degraded', 'no heartbeat for 90s'))
          .thenNothingHappens();
      });

      it('healthy with no message when already so does nothing', () => {
        given(installationDecider, READY).when(reportHealth('healthy')).thenNothingHappens();
      });

      it('the same health with another message emits HealthChanged', () => {
        given(installationDecider, [...READY, healthChanged('degraded', 'no heartbeat for 90s', T3)])
          .when(reportHealth('degraded', 'no heartbeat for 180s'))
          .then([healthChanged('degraded', 'no heartbeat for 180s')]);
      });

      it('recovering emits HealthChanged back to healthy', () => {
        given(installationDecider, [...READY, healthChanged('degraded', 'no heartbeat for 90s', T3)])
          .when(reportHealth('healthy'))
          .then([healthChanged('healthy', null)]);
      });
    });
  });

  describe('when failed', () => {
    it('install fails with already_installed', () => {
      given(installationDecider, FAILED).when(install()).thenFails('already_installed');
    });

    it('upgrade emits UpgradeRequested and puts the installation back to pending, clearing the deploy message', () => {
      given(installationDecider, FAILED).when(upgrade('1.0.1')).then([upgradeRequested('1.0.0', '1.0.1', 2)]);
      const state = present(given(installationDecider, FAILED).when(upgrade('1.0.1')).thenState());
      expect(state.lifecycle).toBe('pending');
      expect(state.generation).toBe(2);
      expect(state.lastDeployMessage).toBeNull();
    });

    it('upgrade to the same version fails with already_at_version', () => {
      given(installationDecider, FAILED).when(upgrade('1.0.0')).thenFails('already_at_version');
    });

    it('upgrade to a lower version fails with not_an_upgrade', () => {
      given(installationDecider, FAILED).when(upgrade('0.1.0')).thenFails('not_an_upgrade');
    });

    it('downgrade emits UpgradeRequested (down) and puts the installation back to pending', () => {
      given(installationDecider, FAILED).when(downgrade('0.9.0')).then([upgradeRequested('1.0.0', '0.9.0', 2, NOW, 'down')]);
      expect(present(given(installationDecider, FAILED).when(downgrade('0.9.0')).thenState()).lifecycle).toBe('pending');
    });

    it('downgrade to a higher version fails with not_a_downgrade', () => {
      given(installationDecider, FAILED).when(downgrade('1.0.1')).thenFails('not_a_downgrade');
    });

    it('redeploy (the retry) puts the installation back to pending with the next generation', () => {
      given(installationDecider, FAILED).when(redeploy()).then([redeployRequested('1.0.0', 2)]);
      const state = present(given(installationDecider, FAILED).when(redeploy()).thenState());
      expect(state.lifecycle).toBe('pending');
      expect(state.generation).toBe(2);
      expect(state.lastDeployMessage).toBeNull();
    });

    it('a config change puts the installation back to pending', () => {
      const state = present(given(installationDecider, FAILED).when(reconfigure({ config: { DB_SIZE: 'tiny' } })).thenState());
      expect(state.lifecycle).toBe('pending');
      expect(state.generation).toBe(2);
      expect(state.lastDeployMessage).toBeNull();
    });

    it('a policy-only change leaves it failed, with its message', () => {
      const state = present(given(installationDecider, FAILED).when(reconfigure({ upgradePolicy: 'auto' })).thenState());
      expect(state.lifecycle).toBe('failed');
      expect(state.generation).toBe(1);
      expect(state.lastDeployMessage).toBe('image pull failed');
    });

    it('a second FailDeploy for the same generation does nothing', () => {
      given(installationDecider, FAILED).when(failDeploy(1, 'again')).thenNothingHappens();
    });

    it('a duplicate StartDeploy for the failed generation does nothing', () => {
      given(installationDecider, FAILED).when(startDeploy(1)).thenNothingHappens();
    });

    it('uninstall emits UninstallRequested', () => {
      given(installationDecider, FAILED).when(uninstall()).then([uninstallRequested(2)]);
    });

    it('ReportHealth still reports transitions', () => {
      given(installationDecider, FAILED).when(reportHealth('degraded', 'down')).then([healthChanged('degraded', 'down')]);
    });

    describe('after a failed upgrade', () => {
      const FAILED_UPGRADE: InstallationEvent[] = [
        ...READY,
        upgradeRequested('1.0.0', '2.0.0', 2, T3),
        deployStarted(2, '2.0.0', T4),
        deployFailed(2, 'migration failed', T5),
      ];

      it('the current version stays at the old version and the installed version is the target', () => {
        const state = present(stateOf(FAILED_UPGRADE));
        expect(state.lifecycle).toBe('failed');
        expect(state.currentVersion).toBe('1.0.0');
        expect(state.installedVersion).toBe('2.0.0');
        expect(state.lastDeployMessage).toBe('migration failed');
      });

      it('FailDeploy itself leaves the current version alone', () => {
        const state = present(
          given(installationDecider, FAILED_UPGRADE.slice(0, -1))
            .when(failDeploy(2, 'migration failed'))
            .thenState(),
        );
        expect(state.currentVersion).toBe('1.0.0');
      });

      it('upgrading to the same target again fails with already_at_version (rules use installed_version)', () => {
        given(installationDecider, FAILED_UPGRADE).when(upgrade('2.0.0')).thenFails('already_at_version');
      });

      it('downgrading back to the running version is allowed', () => {
        given(installationDecider, FAILED_UPGRADE).when(downgrade('1.0.0')).then([upgradeRequested('2.0.0', '1.0.0', 3, NOW, 'down')]);
      });

      it('a late registration of the old generation does nothing', () => {
        given(installationDecider, FAILED_UPGRADE).when(recordRegistration(1, '1.0.0')).thenNothingHappens();
      });
    });
  });

  describe('when deleting', () => {
    it('install fails with already_installed', () => {
      given(installationDecider, DELETING).when(install()).thenFails('already_installed');
    });

    it.each<[string, InstallationCommand]>([
      ['upgrade', upgrade('2.0.0')],
      ['upgrade to the same version', upgrade('1.0.0')],
      ['upgrade to a lower version', upgrade('0.9.0')],
      ['downgrade', downgrade('0.9.0')],
      ['downgrade to a higher version', downgrade('2.0.0')],
      ['redeploy', redeploy()],
      ['reconfigure config', reconfigure({ config: { DB_SIZE: 'large' } })],
      ['reconfigure tier', reconfigure({ resourceTier: 'free' })],
      ['reconfigure policy', reconfigure({ upgradePolicy: 'auto' })],
      ['reconfigure with nothing to change', reconfigure()],
    ])('%s fails with installation_deleting', (_label, command) => {
      given(installationDecider, DELETING).when(command).thenFails('installation_deleting');
    });

    it('installation_deleting is a conflict (409)', () => {
      expectDomainError(DELETING, redeploy(), 'installation_deleting', 'conflict');
    });

    it('uninstall again does nothing (and is not an error)', () => {
      given(installationDecider, DELETING).when(uninstall()).thenNothingHappens();
    });

    it('a removal that failed for good fails the uninstall generation, so it can be asked for again', () => {
      const state = given(installationDecider, DELETING).when(failDeploy(2, 'namespace is terminating')).thenState();
      expect(state).toMatchObject({ status: 'present', lifecycle: 'failed', lastDeployMessage: 'namespace is terminating' });
      const failed = [...DELETING, { type: 'DeployFailed' as const, data: { generation: 2, message: 'namespace is terminating', at: NOW } }];
      given(installationDecider, failed).when(uninstall()).then([{ type: 'UninstallRequested', data: { generation: 3, at: NOW } }]);
    });

    it.each<[string, InstallationCommand]>([
      ['StartDeploy for the uninstall generation', startDeploy(2)],
      ['StartDeploy for the old generation', startDeploy(1)],
      ['FailDeploy for the old generation', failDeploy(1)],
      ['RecordRegistration for the uninstall generation', recordRegistration(2, '1.0.0')],
      ['RecordRegistration for the old generation', recordRegistration(1, '2.0.0')],
      ['ReportHealth degraded', reportHealth('degraded', 'shutting down')],
      ['ReportHealth healthy', reportHealth('healthy', 'still here')],
      ['CompleteUninstall for a stale generation', completeUninstall(1)],
      ['CompleteUninstall for a future generation', completeUninstall(3)],
    ])('%s does nothing', (_label, command) => {
      given(installationDecider, DELETING).when(command).thenNothingHappens();
    });

    it('an uninstall asked while a deploy is in flight ignores that deploy’s late events', () => {
      const history: InstallationEvent[] = [...PROCESSING, uninstallRequested(2, T2)];
      given(installationDecider, history).when(recordRegistration(1, '1.0.0')).thenNothingHappens();
      given(installationDecider, history).when(failDeploy(1)).thenNothingHappens();
      given(installationDecider, history).when(startDeploy(1)).thenNothingHappens();
    });

    it('CompleteUninstall for the uninstall generation emits Uninstalled', () => {
      given(installationDecider, DELETING).when(completeUninstall(2)).then([uninstalled(2)]);
    });

    it('Uninstalled makes the installation absent, remembering the last generation', () => {
      expect(given(installationDecider, DELETING).when(completeUninstall(2)).thenState()).toEqual({ status: 'absent', lastGeneration: 2 });
    });
  });

  describe('when removed (after Uninstalled)', () => {
    it('is absent and remembers its last generation', () => {
      expect(stateOf(REMOVED)).toEqual({ status: 'absent', lastGeneration: 2 });
    });

    it('reinstall is allowed, with generation lastGeneration + 1', () => {
      given(installationDecider, REMOVED).when(install({ version: '2.0.0' })).then([installRequested(3, NOW, { version: '2.0.0' })]);
    });

    it('a reinstalled installation starts afresh: pending, no current version, healthy', () => {
      const state = present(
        given(installationDecider, [...REMOVED.slice(0, -2), healthChanged('degraded', 'x', T3), uninstallRequested(2, T3), uninstalled(2, T4)])
          .when(install({ version: '2.0.0' }))
          .thenState(),
      );
      expect(state.lifecycle).toBe('pending');
      expect(state.generation).toBe(3);
      expect(state.deployedGeneration).toBe(0);
      expect(state.tokenHashes).toEqual({});
      expect(state.currentVersion).toBeNull();
      expect(state.installedVersion).toBe('2.0.0');
      expect(state.health).toBe('healthy');
      expect(state.healthMessage).toBeNull();
      expect(state.installedAt).toBe(NOW);
    });

    it('generations keep growing over several install/uninstall cycles', () => {
      const history: InstallationEvent[] = [
        ...REMOVED,
        installRequested(3, T5),
        uninstallRequested(4, T6),
        uninstalled(4, T6),
      ];
      given(installationDecider, history).when(install()).then([installRequested(5, NOW)]);
    });

    it.each<[string, InstallationCommand]>([
      ['upgrade', upgrade('2.0.0')],
      ['downgrade', downgrade('0.9.0')],
      ['redeploy', redeploy()],
      ['reconfigure', reconfigure({ upgradePolicy: 'auto' })],
      ['uninstall', uninstall()],
    ])('%s fails with not_installed', (_label, command) => {
      given(installationDecider, REMOVED).when(command).thenFails('not_installed');
    });

    it.each<[string, InstallationCommand]>([
      ['StartDeploy of the old generation', startDeploy(1)],
      ['FailDeploy of the uninstall generation', failDeploy(2)],
      ['RecordRegistration of an old runtime', recordRegistration(1, '1.0.0')],
      ['ReportHealth', reportHealth('degraded', 'gone')],
      ['CompleteUninstall redelivered', completeUninstall(2)],
    ])('%s does nothing', (_label, command) => {
      given(installationDecider, REMOVED).when(command).thenNothingHappens();
    });

    it('a runtime of the previous life cannot register against the reinstalled installation', () => {
      given(installationDecider, [...REMOVED, installRequested(3, T5)])
        .when(recordRegistration(1, '1.0.0'))
        .thenNothingHappens();
    });
  });

  describe('whole lifecycle', () => {
    it('install → deploy → register → upgrade → deploy → register → uninstall → removed', () => {
      const events: InstallationEvent[] = [];
      const step = (command: InstallationCommand) => {
        const produced = installationDecider.decide(command, stateOf(events));
        events.push(...produced);
        return stateOf(events);
      };
      expect(present(step(install())).lifecycle).toBe('pending');
      expect(present(step(startDeploy(1))).lifecycle).toBe('processing');
      expect(present(step(recordRegistration(1, '1.0.0'))).lifecycle).toBe('ready');
      expect(present(step(upgrade('1.1.0'))).lifecycle).toBe('pending');
      expect(present(step(startDeploy(2))).lifecycle).toBe('processing');
      const ready = present(step(recordRegistration(2, '1.1.0')));
      expect(ready.lifecycle).toBe('ready');
      expect(ready.currentVersion).toBe('1.1.0');
      expect(present(step(uninstall())).lifecycle).toBe('deleting');
      expect(step(completeUninstall(3))).toEqual({ status: 'absent', lastGeneration: 3 });
      expect(events.map((e) => e.type)).toEqual([
        'InstallRequested',
        'DeployStarted',
        'RegistrationReceived',
        'UpgradeRequested',
        'DeployStarted',
        'RegistrationReceived',
        'UninstallRequested',
        'Uninstalled',
      ]);
    });
  });

  describe('evolve', () => {
    const unknownEvent = { type: 'SomethingElse', data: { at: T6 } } as unknown as InstallationEvent;

    it.each<[string, InstallationEvent[]]>([
      ['absent', []],
      ['pending', PENDING],
      ['ready', READY],
      ['deleting', DELETING],
      ['removed', REMOVED],
    ])('is total: an unknown event type leaves a %s installation as it was', (_label, history) => {
      const state = stateOf(history);
      expect(installationDecider.evolve(state, unknownEvent)).toBe(state);
    });

    it.each<[string, InstallationEvent]>([
      ['UpgradeRequested', upgradeRequested('1.0.0', '2.0.0', 2)],
      ['RedeployRequested', redeployRequested('1.0.0', 2)],
      ['InstallationReconfigured', reconfigured(2)],
      ['DeployStarted', deployStarted(1)],
      ['DeployFailed', deployFailed(1)],
      ['RegistrationReceived', registrationReceived(1)],
      ['HealthChanged', healthChanged('degraded', 'x')],
      ['UninstallRequested', uninstallRequested(2)],
      ['Uninstalled', uninstalled(2)],
    ])('ignores %s on an absent installation', (_label, event) => {
      const state = stateOf(REMOVED);
      expect(installationDecider.evolve(state, event)).toBe(state);
    });

    it('does not mutate the previous state', () => {
      const state = stateOf(READY);
      const snapshot = JSON.parse(JSON.stringify(state));
      for (const event of [
        upgradeRequested('1.0.0', '2.0.0', 2),
        reconfigured(2, { config: { X: 'y' } }),
        deployStarted(2, '2.0.0'),
        healthChanged('degraded', 'x'),
        uninstallRequested(2),
        uninstalled(2),
      ]) {
        installationDecider.evolve(state, event);
      }
      expect(state).toEqual(snapshot);
    });

    it('updatedAt follows the event time', () => {
      expect(present(stateOf(PROCESSING)).updatedAt).toBe(T1);
      expect(present(stateOf(READY)).updatedAt).toBe(T2);
      expect(present(stateOf(READY)).installedAt).toBe(T0);
    });
  });

  describe('reserved config keys (the runtime environment is the platform\'s)', () => {
    it('install with NODE_OPTIONS fails with reserved_config_key, a 422', () => {
      given(installationDecider).when(install({ config: { NODE_OPTIONS: '--import=/tmp/x.mjs' } })).thenFails('reserved_config_key');
      expectDomainError([], install({ config: { NODE_OPTIONS: '--import=/tmp/x.mjs' } }), 'reserved_config_key', 'invalid');
    });

    it('the message names every reserved key, and only those', () => {
      expect(() => installationDecider.decide(install({ config: { LD_PRELOAD: '/tmp/x.so', REGION: 'eu', pythonpath: '/tmp' } }), stateOf([]))).toThrow(
        'config may not set LD_PRELOAD, pythonpath: these names are reserved for the platform.',
      );
    });

    it('install with ordinary keys (a reserved name inside one is fine) is accepted', () => {
      given(installationDecider)
        .when(install({ config: { REGION: 'eu', DB_NODE_PATH: '/data' } }))
        .then([installRequested(1, NOW, { config: { REGION: 'eu', DB_NODE_PATH: '/data' } })]);
    });

    it.each<[string, InstallationEvent[]]>([
      ['pending', PENDING],
      ['ready', READY],
      ['failed', FAILED],
    ])('reconfigure of a %s installation with LD_PRELOAD fails with reserved_config_key', (_label, events) => {
      given(installationDecider, events).when(reconfigure({ config: { ...CONFIG, LD_PRELOAD: '/tmp/x.so' } })).thenFails('reserved_config_key');
    });

    it('reconfigure without config (tier or policy only) is not affected', () => {
      given(installationDecider, READY).when(reconfigure({ upgradePolicy: 'auto' })).then([reconfigured(null, { upgrade_policy: 'auto' })]);
    });
  });
});
