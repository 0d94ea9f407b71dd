import type { Response } from 'express';
import { CommandOutcome } from '../../../libs/application/command-runner';
import { encodePosition } from '../../../libs/event-store/position';

/** Every command response names the stream revision (ETag) and global position it reflects. */
export function setCommandHeaders(response: Response, outcome: Pick<CommandOutcome<unknown>, 'revision' | 'position'>): void {
  response.setHeader('ETag', `"${outcome.revision}"`);
  if (outcome.position) response.setHeader('X-Position', encodePosition(outcome.position));
}

/** `If-Match: "<revision>"` (quotes optional, W/ tolerated); anything else is a 412, never a 500. */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const match = /^(?:W\/)?"?(-?\d{1,15})"?$/.exec(header.trim());
  return match ? Number(match[1]) : Number.NaN;
}
