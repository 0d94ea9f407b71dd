import { RecordedEvent } from '../../libs/event-store/event-store.port';

/** Why the installer stopped trying an event's effect. */
export interface SpentAttempts {
  attempts: number;
  /** The last attempt's error, as the platform saw it. */
  reason: string;
}

/**
 * The installer's answer to one event type: guard (is there still something to do?), command,
 * effect on the deployer, and what it appends. `react` throws when the effect could not be done; the
 * consumer tries again a bounded number of times, then calls `giveUp` and moves on.
 */
export interface Reaction<E extends RecordedEvent> {
  react(event: E): Promise<void>;
  /** Records on the event's installation that its effect could not be done. */
  giveUp(event: E, spent: SpentAttempts): Promise<void>;
}

export function attemptsText(attempts: number): string {
  return `${attempts} attempt${attempts === 1 ? '' : 's'}`;
}
