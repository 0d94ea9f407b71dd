import { given } from '../../libs/domain/given-when-then';
import { AutoUpgradeCommand, AutoUpgradeEvent, autoUpgradeRolloutDecider } from './auto-upgrade-rollout';

const NOW = '2024-03-02T12:00:00.000Z';
const T0 = '2024-03-02T11:00:00.000Z';
const target = (n: number) => ({ tenant: `t${n}`, installation_id: `00000000-0000-4000-8000-00000000000${n}` });
const facts = { prefix: 'acme', name: 'db', version: '1.1.0' };

const plan = (targets: number, waveSize: number): AutoUpgradeCommand => ({
  type: 'PlanAutoUpgrade',
  provider: { prefix: 'acme', name: 'db' },
  version: '1.1.0',
  targets: Array.from({ length: targets }, (_, i) => target(i)),
  waveSize,
  now: NOW,
});
const PLANNED: AutoUpgradeEvent = { type: 'AutoUpgradePlanned', data: { ...facts, waves: [[target(0), target(1)], [target(2)]], at: T0 } };
const waveStarted = (wave: number): AutoUpgradeEvent => ({ type: 'AutoUpgradeWaveStarted', data: { ...facts, wave, at: T0 } });

describe('auto-upgrade rollout decider', () => {
  it('plans the targets in waves of the given size', () => {
    given(autoUpgradeRolloutDecider).when(plan(3, 2)).then([{ type: 'AutoUpgradePlanned', data: { ...facts, waves: [[target(0), target(1)], [target(2)]], at: NOW } }]);
  });

  it('a second plan for the same version changes nothing', () => {
    given(autoUpgradeRolloutDecider, [PLANNED]).when(plan(3, 2)).thenNothingHappens();
  });

  it('starts the waves in order, each once', () => {
    given(autoUpgradeRolloutDecider, [PLANNED]).when({ type: 'StartWave', wave: 0, now: NOW }).then([{ type: 'AutoUpgradeWaveStarted', data: { ...facts, wave: 0, at: NOW } }]);
    given(autoUpgradeRolloutDecider, [PLANNED, waveStarted(0)]).when({ type: 'StartWave', wave: 0, now: NOW }).thenNothingHappens();
    given(autoUpgradeRolloutDecider, [PLANNED]).when({ type: 'StartWave', wave: 1, now: NOW }).thenNothingHappens();
  });

  it('never starts a wave beyond the plan', () => {
    given(autoUpgradeRolloutDecider, [PLANNED, waveStarted(0), waveStarted(1)]).when({ type: 'StartWave', wave: 2, now: NOW }).thenNothingHappens();
  });

  it('a halt says which wave failed how often, and nothing starts after it', () => {
    given(autoUpgradeRolloutDecider, [PLANNED, waveStarted(0)])
      .when({ type: 'HaltAutoUpgrade', wave: 0, failed: 2, total: 2, now: NOW })
      .then([{ type: 'AutoUpgradeHalted', data: { ...facts, wave: 0, failed: 2, total: 2, at: NOW } }]);
    const halted: AutoUpgradeEvent = { type: 'AutoUpgradeHalted', data: { ...facts, wave: 0, failed: 2, total: 2, at: NOW } };
    given(autoUpgradeRolloutDecider, [PLANNED, waveStarted(0), halted]).when({ type: 'StartWave', wave: 1, now: NOW }).thenNothingHappens();
  });

  it('a cancelled rollout (yanked) starts nothing more and cannot be cancelled twice', () => {
    const cancelled: AutoUpgradeEvent = { type: 'AutoUpgradeCancelled', data: { ...facts, reason: 'yanked', at: NOW } };
    given(autoUpgradeRolloutDecider, [PLANNED]).when({ type: 'CancelAutoUpgrade', reason: 'yanked', now: NOW }).then([cancelled]);
    given(autoUpgradeRolloutDecider, [PLANNED, cancelled]).when({ type: 'StartWave', wave: 0, now: NOW }).thenNothingHappens();
    given(autoUpgradeRolloutDecider, [PLANNED, cancelled]).when({ type: 'CancelAutoUpgrade', reason: 'yanked', now: NOW }).thenNothingHappens();
  });

  it('nothing is cancelled, halted or completed before a plan exists', () => {
    given(autoUpgradeRolloutDecider).when({ type: 'CancelAutoUpgrade', reason: 'yanked', now: NOW }).thenNothingHappens();
    given(autoUpgradeRolloutDecider).when({ type: 'CompleteAutoUpgrade', now: NOW }).thenNothingHappens();
  });
});
