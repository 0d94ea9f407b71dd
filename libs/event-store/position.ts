/**
 * A place in the global log. EventStoreDB names it with a commit/prepare pair; the PostgreSQL store
 * uses (transaction id, sequence), so that a transaction committing late can never be ordered before
 * an event a reader has already passed. Both order lexicographically: commit first, then prepare.
 */
export interface Position {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

/** Wire form, `"<commit>:<prepare>"`: what `X-Position` carries and `min_position` accepts. */
export function encodePosition(position: Position): string {
  return `${position.commit}:${position.prepare}`;
}

const POSITION_PATTERN = /^(\d{1,19}):(\d{1,19})$/;

export function decodePosition(text: string): Position | undefined {
  const match = POSITION_PATTERN.exec(text.trim());
  if (!match) return undefined;
  return { commit: BigInt(match[1]), prepare: BigInt(match[2]) };
}

export function maxPosition(a: Position, b: Position): Position {
  return comparePositions(a, b) >= 0 ? a : b;
}
