import { fold } from '../domain/decider';
import { given } from '../domain/given-when-then';
import { CancelYankedRollout, ChangeVersion, Rollback } from './installation.commands';
import { InstallationState, PresentInstallation, installationDecider } from './installation.decider';
import { InstallationEvent, RollbackReason, RollbackRequested } from './installation.events';

const T = (minute: number) => `2024-03-01T09:${String(minute).padStart(2, '0')}:00.000Z`;
const NOW = '2024-03-02T12:00:00.000Z';

const rollback = (): Rollback => ({ type: 'Rollback', now: NOW });
const cancelYanked = (version: string): CancelYankedRollout => ({ type: 'CancelYankedRollout', version, now: NOW });
const upgrade = (targetVersion: string, targetYanked = false): ChangeVersion => ({
  type: 'ChangeVersion',
  direction: 'up',
  targetVersion,
  reason: 'auto',
  targetYanked,
  now: NOW,
});

const installed = (version = '1.0.0'): InstallationEvent => ({
  type: 'InstallRequested',
  data: {
    installation_id: '7f0c1a52-2b5e-4c0e-9a36-0d3f4c8b9e11',
    tenant: 'tenant-a',
    prefix: 'acme',
    name: 'db',
    version,
    resource_tier: 'standard',
    upgrade_policy: 'auto',
    config: {},
    generation: 1,
    at: T(0),
  },
});
const started = (generation: number, version: string): InstallationEvent => ({ type: 'DeployStarted', data: { generation, version, token_hash: `h${generation}`, at: T(generation * 3 + 1) } });
const registered = (generation: number, version: string): InstallationEvent => ({
  type: 'RegistrationReceived',
  data: { generation, version, endpoint: null, at: T(generation * 3 + 2) },
});
const failed = (generation: number): InstallationEvent => ({ type: 'DeployFailed', data: { generation, message: 'no registration within 30000 ms', at: T(generation * 3 + 2) } });
const upgraded = (from: string, to: string, generation: number): InstallationEvent => ({
  type: 'UpgradeRequested',
  data: { from_version: from, to_version: to, direction: 'up', generation, reason: 'auto', at: T(generation * 3) },
});
const rolledBack = (from: string, to: string, generation: number, reason: RollbackReason = 'manual'): RollbackRequested => ({
  type: 'RollbackRequested',
  data: { from_version: from, to_version: to, generation, reason, at: NOW },
});

/** 1.0.0 ready at generation 1. */
const READY_1 = [installed(), started(1, '1.0.0'), registered(1, '1.0.0')];
/** 1.0.0 serving (generation 1), upgrade to 1.1.0 (generation 2) in flight. */
const UPGRADING = [...READY_1, upgraded('1.0.0', '1.1.0', 2), started(2, '1.1.0')];
/** The upgrade to 1.1.0 failed; 1.0.0 (generation 1) still serves. */
const UPGRADE_FAILED = [...UPGRADING, failed(2)];
/** 1.1.0 serves at generation 2; 1.0.0 served before it. */
const UPGRADED = [...UPGRADING, registered(2, '1.1.0')];

function present(state: InstallationState): PresentInstallation {
  if (state.status !== 'present') throw new Error(`expected a present installation, got ${state.status}`);
  return state;
}

describe('installation decider: the serving generation', () => {
  it('nothing serves before a runtime registered', () => {
    const state = present(fold(installationDecider, [installed(), started(1, '1.0.0')]));
    expect(state.servingGeneration).toBeNull();
    expect(state.currentVersion).toBeNull();
  });

  it('a registration makes its generation the serving one', () => {
    const state = present(fold(installationDecider, READY_1));
    expect(state.servingGeneration).toBe(1);
    expect(state.currentVersion).toBe('1.0.0');
    expect(state.previousServingVersion).toBeNull();
  });

  it('while an upgrade is in flight the old generation keeps serving', () => {
    const state = present(fold(installationDecider, UPGRADING));
    expect(state).toMatchObject({ lifecycle: 'processing', generation: 2, installedVersion: '1.1.0', servingGeneration: 1, currentVersion: '1.0.0' });
  });

  it('a failed upgrade says failed while current_version names what still serves', () => {
    const state = present(fold(installationDecider, UPGRADE_FAILED));
    expect(state).toMatchObject({ lifecycle: 'failed', lastDeployMessage: 'no registration within 30000 ms', servingGeneration: 1, currentVersion: '1.0.0' });
  });

  it('a finished upgrade serves the new generation and remembers the version it replaced', () => {
    const state = present(fold(installationDecider, UPGRADED));
    expect(state).toMatchObject({ servingGeneration: 2, currentVersion: '1.1.0', previousServingVersion: '1.0.0' });
  });

  it('a redeploy of the same version keeps the version to roll back to', () => {
    const redeployed: InstallationEvent = { type: 'RedeployRequested', data: { version: '1.1.0', generation: 3, at: T(9) } };
    const state = present(fold(installationDecider, [...UPGRADED, redeployed, started(3, '1.1.0'), registered(3, '1.1.0')]));
    expect(state).toMatchObject({ servingGeneration: 3, currentVersion: '1.1.0', previousServingVersion: '1.0.0' });
  });
});

describe('installation decider: rollback', () => {
  it('after a failed upgrade, goes back to the version serving as a new generation', () => {
    given(installationDecider, UPGRADE_FAILED).when(rollback()).then([rolledBack('1.1.0', '1.0.0', 3)]);
  });

  it('during an upgrade in flight, goes back to the version serving', () => {
    given(installationDecider, UPGRADING).when(rollback()).then([rolledBack('1.1.0', '1.0.0', 3)]);
  });

  it('after a finished upgrade, goes back to the version that served before', () => {
    given(installationDecider, UPGRADED).when(rollback()).then([rolledBack('1.1.0', '1.0.0', 3)]);
  });

  it('puts the installation back to pending on the earlier version; the serving generation stays until it registers', () => {
    const state = present(given(installationDecider, UPGRADE_FAILED).when(rollback()).thenState());
    expect(state).toMatchObject({ lifecycle: 'pending', generation: 3, installedVersion: '1.0.0', servingGeneration: 1, currentVersion: '1.0.0', lastDeployMessage: null });
  });

  it('the rolled-back generation registering makes it serve', () => {
    const state = present(fold(installationDecider, [...UPGRADE_FAILED, rolledBack('1.1.0', '1.0.0', 3), started(3, '1.0.0'), registered(3, '1.0.0')]));
    expect(state).toMatchObject({ lifecycle: 'ready', servingGeneration: 3, currentVersion: '1.0.0', installedVersion: '1.0.0' });
  });

  it('fails with nothing_to_roll_back when nothing ever served', () => {
    given(installationDecider, [installed(), started(1, '1.0.0')]).when(rollback()).thenFails('nothing_to_roll_back');
  });

  it('fails with nothing_to_roll_back when only one version ever served', () => {
    given(installationDecider, READY_1).when(rollback()).thenFails('nothing_to_roll_back');
  });

  it('nothing_to_roll_back is a conflict (409)', () => {
    expect(() => installationDecider.decide(rollback(), fold(installationDecider, READY_1))).toThrow(expect.objectContaining({ kind: 'conflict' }));
  });

  it('fails with not_installed when absent', () => {
    given(installationDecider, []).when(rollback()).thenFails('not_installed');
  });

  it('fails with installation_deleting while uninstalling', () => {
    const deleting: InstallationEvent = { type: 'UninstallRequested', data: { generation: 3, at: T(9) } };
    given(installationDecider, [...UPGRADED, deleting]).when(rollback()).thenFails('installation_deleting');
  });
});

describe('installation decider: yanked versions', () => {
  it('refuses an upgrade onto a yanked version', () => {
    given(installationDecider, READY_1).when(upgrade('1.1.0', true)).thenFails('version_yanked');
  });

  it('a yank cancels a rollout of that version in flight: back to the serving version, reason yanked', () => {
    given(installationDecider, UPGRADING).when(cancelYanked('1.1.0')).then([rolledBack('1.1.0', '1.0.0', 3, 'yanked')]);
  });

  it('a yank cancels a pending rollout of that version', () => {
    given(installationDecider, [...READY_1, upgraded('1.0.0', '1.1.0', 2)]).when(cancelYanked('1.1.0')).then([rolledBack('1.1.0', '1.0.0', 3, 'yanked')]);
  });

  it('a yank cancels a failed rollout of that version too (a new generation on the serving version)', () => {
    given(installationDecider, UPGRADE_FAILED).when(cancelYanked('1.1.0')).then([rolledBack('1.1.0', '1.0.0', 3, 'yanked')]);
  });

  it('a finished rollout of the yanked version is left to its tenant', () => {
    given(installationDecider, UPGRADED).when(cancelYanked('1.1.0')).thenNothingHappens();
  });

  it('a rollout of another version is left alone', () => {
    given(installationDecider, UPGRADING).when(cancelYanked('1.2.0')).thenNothingHappens();
  });

  it('an installation that never served anything is left alone', () => {
    given(installationDecider, [installed('1.1.0'), started(1, '1.1.0')]).when(cancelYanked('1.1.0')).thenNothingHappens();
  });

  it('nothing happens to an absent installation', () => {
    given(installationDecider, []).when(cancelYanked('1.1.0')).thenNothingHappens();
  });
});

describe('installation decider: uninstalling', () => {
  it('nothing serves once an uninstall is asked for, even if the removal then fails', () => {
    const deleting: InstallationEvent = { type: 'UninstallRequested', data: { generation: 3, at: T(9) } };
    const state = present(fold(installationDecider, [...UPGRADED, deleting, failed(3)]));
    expect(state).toMatchObject({ lifecycle: 'failed', servingGeneration: null });
  });
});
