import { Decider, assertNever } from '../../libs/domain/decider';
import { ProviderId } from '../../libs/providers/provider-identity';

/** One installation an auto-upgrade rollout moves. */
export interface RolloutTarget {
  tenant: string;
  installation_id: string;
}

interface RolloutFacts {
  prefix: string;
  name: string;
  version: string;
  at: string;
}

/** The rollout's plan: who is upgraded in which wave, fixed when the version is published. */
export type AutoUpgradePlanned = { type: 'AutoUpgradePlanned'; data: RolloutFacts & { waves: RolloutTarget[][] } };
export type AutoUpgradeWaveStarted = { type: 'AutoUpgradeWaveStarted'; data: RolloutFacts & { wave: number } };
/** A wave failed too often: the waves after it are not started (their installations keep `upgrade_available`). */
export type AutoUpgradeHalted = { type: 'AutoUpgradeHalted'; data: RolloutFacts & { wave: number; failed: number; total: number } };
export type AutoUpgradeCompleted = { type: 'AutoUpgradeCompleted'; data: RolloutFacts };
/** The version may no longer roll out: yanked, or no longer published. */
export type AutoUpgradeCancelled = { type: 'AutoUpgradeCancelled'; data: RolloutFacts & { reason: string } };

export type AutoUpgradeEvent = AutoUpgradePlanned | AutoUpgradeWaveStarted | AutoUpgradeHalted | AutoUpgradeCompleted | AutoUpgradeCancelled;
export const AUTO_UPGRADE_EVENT_TYPES: ReadonlyArray<AutoUpgradeEvent['type']> = [
  'AutoUpgradePlanned',
  'AutoUpgradeWaveStarted',
  'AutoUpgradeHalted',
  'AutoUpgradeCompleted',
  'AutoUpgradeCancelled',
];

type Timed = { now: string };
export type AutoUpgradeCommand =
  | (Timed & { type: 'PlanAutoUpgrade'; provider: ProviderId; version: string; targets: RolloutTarget[]; waveSize: number })
  | (Timed & { type: 'StartWave'; wave: number })
  | (Timed & { type: 'HaltAutoUpgrade'; wave: number; failed: number; total: number })
  | (Timed & { type: 'CompleteAutoUpgrade' })
  | (Timed & { type: 'CancelAutoUpgrade'; reason: string });

export type RolloutStatus = 'rolling' | 'halted' | 'completed' | 'cancelled';
export interface Rollout {
  status: RolloutStatus;
  prefix: string;
  name: string;
  version: string;
  waves: RolloutTarget[][];
  /** Index of the newest wave started; -1 before the first. */
  wave: number;
  plannedAt: string;
  waveStartedAt: string | null;
}
export type RolloutState = { status: 'none' } | Rollout;

/** One stream per (provider, version): the rollout's whole story, so waves survive any restart. */
export function autoUpgradeStream(provider: ProviderId, version: string): string {
  return `auto-upgrade-${provider.prefix}.${provider.name}@${version}`;
}

function facts(state: Rollout, now: string): RolloutFacts {
  return { prefix: state.prefix, name: state.name, version: state.version, at: now };
}

/** Every command but the plan acts only on a rollout still going; anything else is a replay and changes nothing. */
function decide(command: AutoUpgradeCommand, state: RolloutState): AutoUpgradeEvent[] {
  if (command.type === 'PlanAutoUpgrade') {
    if (state.status !== 'none') return [];
    const waves: RolloutTarget[][] = [];
    for (let i = 0; i < command.targets.length; i += command.waveSize) waves.push(command.targets.slice(i, i + command.waveSize));
    const { prefix, name } = command.provider;
    return [{ type: 'AutoUpgradePlanned', data: { prefix, name, version: command.version, waves, at: command.now } }];
  }
  if (state.status !== 'rolling') return [];
  switch (command.type) {
    case 'StartWave':
      if (command.wave !== state.wave + 1 || command.wave >= state.waves.length) return [];
      return [{ type: 'AutoUpgradeWaveStarted', data: { ...facts(state, command.now), wave: command.wave } }];
    case 'HaltAutoUpgrade':
      return [{ type: 'AutoUpgradeHalted', data: { ...facts(state, command.now), wave: command.wave, failed: command.failed, total: command.total } }];
    case 'CompleteAutoUpgrade':
      return [{ type: 'AutoUpgradeCompleted', data: facts(state, command.now) }];
    case 'CancelAutoUpgrade':
      return [{ type: 'AutoUpgradeCancelled', data: { ...facts(state, command.now), reason: command.reason } }];
    default:
      return assertNever(command);
  }
}

function evolve(state: RolloutState, event: AutoUpgradeEvent): RolloutState {
  if (event.type === 'AutoUpgradePlanned') {
    const { prefix, name, version, waves, at } = event.data;
    return { status: 'rolling', prefix, name, version, waves, wave: -1, plannedAt: at, waveStartedAt: null };
  }
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'AutoUpgradeWaveStarted':
      return { ...state, wave: event.data.wave, waveStartedAt: event.data.at };
    case 'AutoUpgradeHalted':
      return { ...state, status: 'halted' };
    case 'AutoUpgradeCompleted':
      return { ...state, status: 'completed' };
    case 'AutoUpgradeCancelled':
      return { ...state, status: 'cancelled' };
    default:
      return state;
  }
}

export const autoUpgradeRolloutDecider: Decider<AutoUpgradeCommand, RolloutState, AutoUpgradeEvent> = {
  initialState: { status: 'none' },
  decide,
  evolve,
};
