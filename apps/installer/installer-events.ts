import { RecordedEvent } from '../../libs/event-store/event-store.port';
import {
  DeployStarted,
  InstallRequested,
  InstallationReconfigured,
  RedeployRequested,
  RegistrationReceived,
  RollbackRequested,
  UninstallRequested,
  UpgradeRequested,
} from '../../libs/installations/installation.events';

/** An installation event as the log hands it over: its data and type, plus stream, position and metadata. */
export type Recorded<E extends { type: string; data: unknown }> = RecordedEvent<E['type'], E['data']>;

/** The events that ask for a generation to be deployed (a policy-only reconfiguration carries none). */
export type DeployRequest = InstallRequested | UpgradeRequested | RedeployRequested | InstallationReconfigured | RollbackRequested;

/** The events the installer acts on; DeployStarted and the like are its own output. */
export type InstallerInput = DeployRequest | UninstallRequested | RegistrationReceived;

export const DEPLOY_REQUEST_TYPES: readonly DeployRequest['type'][] = [
  'InstallRequested',
  'UpgradeRequested',
  'RedeployRequested',
  'InstallationReconfigured',
  'RollbackRequested',
];

export const INSTALLER_EVENT_TYPES: readonly InstallerInput['type'][] = [...DEPLOY_REQUEST_TYPES, 'UninstallRequested', 'RegistrationReceived'];

function generationOf(event: RecordedEvent): unknown {
  return typeof event.data === 'object' && event.data !== null ? (event.data as { generation?: unknown }).generation : undefined;
}

function hasGeneration(event: RecordedEvent): boolean {
  const generation = generationOf(event);
  return typeof generation === 'number' && Number.isInteger(generation) && generation > 0;
}

export function isDeployRequest(event: RecordedEvent): event is Recorded<DeployRequest> {
  if (!(DEPLOY_REQUEST_TYPES as readonly string[]).includes(event.type)) return false;
  // A reconfiguration that changed only the upgrade policy names no generation: nothing to deploy.
  return hasGeneration(event) || (event.type === 'InstallationReconfigured' && generationOf(event) === null);
}

export function isUninstallRequested(event: RecordedEvent): event is Recorded<UninstallRequested> {
  return event.type === 'UninstallRequested' && hasGeneration(event);
}

export function isRegistrationReceived(event: RecordedEvent): event is Recorded<RegistrationReceived> {
  return event.type === 'RegistrationReceived' && hasGeneration(event);
}

export function isDeployStarted(event: RecordedEvent): event is Recorded<DeployStarted> {
  return event.type === 'DeployStarted' && hasGeneration(event);
}

/** When the installer started deploying `generation`, by the log (the newest start of it). */
export function deployStartedAt(events: readonly RecordedEvent[], generation: number): string | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i];
    if (isDeployStarted(event) && event.data.generation === generation) return event.data.at;
  }
  return undefined;
}
