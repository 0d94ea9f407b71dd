import { CompleteUninstall, FailDeploy, RecordRegistration, ReportHealth, StartDeploy } from './installation.commands';
import type { InstallationState } from './installation.decider';
import { InstallationEvent } from './installation.events';

/*
 * The commands below come from the installer and the runtime. They act only on the current
 * generation: anything about a superseded one is acknowledged and changes nothing.
 */

export function startDeploy(command: StartDeploy, state: InstallationState): InstallationEvent[] {
  // Only a pending generation starts: a redelivered start after the deploy failed or the
  // runtime already registered must not move the installation back to processing.
  if (state.status !== 'present' || state.lifecycle !== 'pending') return [];
  if (command.generation !== state.generation || state.deployedGeneration >= command.generation) return [];
  return [{ type: 'DeployStarted', data: { generation: command.generation, version: state.installedVersion, token_hash: command.tokenHash, at: command.now } }];
}

export function failDeploy(command: FailDeploy, state: InstallationState): InstallationEvent[] {
  if (state.status !== 'present' || command.generation !== state.generation) return [];
  // A removal that keeps failing fails the uninstall too: the installation shows `failed` with
  // the reason and the tenant can ask again, rather than staying `deleting` for ever.
  if (state.lifecycle !== 'pending' && state.lifecycle !== 'processing' && state.lifecycle !== 'deleting') return [];
  return [{ type: 'DeployFailed', data: { generation: command.generation, message: command.message, at: command.now } }];
}

export function recordRegistration(command: RecordRegistration, state: InstallationState): InstallationEvent[] {
  // A runtime that comes up after its deploy was declared failed (a slow start) is still up:
  // failed → ready is accepted for the current generation.
  if (state.status !== 'present' || command.generation !== state.generation || state.lifecycle === 'deleting') return [];
  if (state.lifecycle === 'ready' && state.currentVersion === command.version) return [];
  const wheel = command.wheel ? { wheel_name: command.wheel.name, wheel_version: command.wheel.version } : {};
  return [{ type: 'RegistrationReceived', data: { generation: command.generation, version: command.version, endpoint: command.endpoint, ...wheel, at: command.now } }];
}

export function reportHealth(command: ReportHealth, state: InstallationState): InstallationEvent[] {
  if (state.status !== 'present' || state.lifecycle === 'deleting') return [];
  if (state.health === command.health && state.healthMessage === command.message) return [];
  return [{ type: 'HealthChanged', data: { health: command.health, message: command.message, at: command.now } }];
}

export function completeUninstall(command: CompleteUninstall, state: InstallationState): InstallationEvent[] {
  if (state.status !== 'present' || state.lifecycle !== 'deleting' || command.generation !== state.generation) return [];
  return [{ type: 'Uninstalled', data: { generation: command.generation, at: command.now } }];
}
