import { conflict } from '../domain/domain-error';
import { canonicalOf } from '../providers/provider-identity';
import { CancelYankedRollout, Rollback } from './installation.commands';
import { RollbackRequested } from './installation.events';

/** What a rollback needs to know of an installation (the decider's present state). */
export interface RollbackSubject {
  prefix: string;
  name: string;
  installedVersion: string;
  currentVersion: string | null;
  previousServingVersion: string | null;
  lifecycle: string;
  generation: number;
}

/**
 * Where a rollback goes: while a rollout to another version is in flight or has failed, back to the
 * version still serving; once the installed version serves, to the version that served before it.
 */
export function rollbackTarget(subject: RollbackSubject): string | null {
  if (subject.currentVersion !== null && subject.currentVersion !== subject.installedVersion) return subject.currentVersion;
  return subject.previousServingVersion;
}

export function decideRollback(command: Rollback, subject: RollbackSubject): RollbackRequested[] {
  const to = rollbackTarget(subject);
  if (to === null) {
    throw conflict('nothing_to_roll_back', `${canonicalOf(subject)} has no earlier serving version to roll back to.`);
  }
  return [rollbackTo(subject, to, 'manual', command.now)];
}

/**
 * A yanked version must not finish rolling out: an installation moving onto it (pending, processing,
 * or failed there) goes back to the version serving as a new generation. One already serving the
 * yanked version, or one that never served anything, is left to its tenant.
 */
export function decideCancelYankedRollout(command: CancelYankedRollout, subject: RollbackSubject): RollbackRequested[] {
  if (subject.lifecycle === 'deleting' || subject.installedVersion !== command.version) return [];
  if (subject.currentVersion === null || subject.currentVersion === command.version) return [];
  return [rollbackTo(subject, subject.currentVersion, 'yanked', command.now)];
}

function rollbackTo(subject: RollbackSubject, to: string, reason: RollbackRequested['data']['reason'], at: string): RollbackRequested {
  return {
    type: 'RollbackRequested',
    data: { from_version: subject.installedVersion, to_version: to, generation: subject.generation + 1, reason, at },
  };
}
