import { CommandOutcome } from '../../../libs/application/command-runner';
import { Position, encodePosition } from '../../../libs/event-store/position';
import { HttpResponse } from './http-types';

/** The position each command response reflects, for `ReadModelCatchUpInterceptor` to wait on. */
const commandPositions = new WeakMap<HttpResponse, Position>();

/** Every command response names the stream revision (ETag) and global position it reflects. */
export function setCommandHeaders(response: HttpResponse, outcome: Pick<CommandOutcome<unknown>, 'revision' | 'position'>): void {
  response.header('ETag', `"${outcome.revision}"`);
  if (outcome.position) {
    response.header('X-Position', encodePosition(outcome.position));
    commandPositions.set(response, outcome.position);
  }
}

/** The position a command answered with on this response, if it was a command. */
export function commandPositionOf(response: HttpResponse): Position | undefined {
  return commandPositions.get(response);
}

/** Names the read models that had not reached the command's position when it answered. */
export const READ_MODEL_LAGGING_HEADER = 'X-Read-Model-Lagging';

/** `If-Match: "<revision>"` (quotes optional, W/ tolerated); anything else is a 412, never a 500. */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const match = /^(?:W\/)?"?(-?\d{1,15})"?$/.exec(header.trim());
  return match ? Number(match[1]) : Number.NaN;
}
