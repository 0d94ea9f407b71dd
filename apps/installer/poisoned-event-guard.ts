import type { Logger } from 'pino';
import { EventStore, RecordedEvent } from '../../libs/event-store/event-store.port';
import { encodePosition } from '../../libs/event-store/position';
import { Reaction, SpentAttempts, attemptsText } from './reaction';

/** This replica stopped being the active installer while an effect waited to be tried again. */
export class Deactivated extends Error {
  constructor() {
    super('installer deactivated');
    this.name = 'Deactivated';
  }
}

export interface AttemptPolicy {
  maxAttempts: number;
  /** First pause between attempts; doubles each time. */
  retryBaseMs: number;
}

type Exclusively = (work: () => Promise<void>) => Promise<void>;

/**
 * Keeps one event whose effect fails every time (a hostile tenant's, a deployer that always refuses
 * one installation) from stopping the installer: the effect is tried a bounded number of times with
 * backoff, then the failure is recorded on that event's installation and the event counts as done,
 * so the checkpoint moves past it and every other tenant's deploys go on.
 */
export class PoisonedEventGuard {
  private abort = new AbortController();

  constructor(
    private readonly store: EventStore,
    private readonly logger: Logger,
    private readonly policy: AttemptPolicy,
  ) {}

  /** Resolves when the effect is done or given up on; rejects when the event must be redelivered. */
  async handle(event: RecordedEvent, reaction: Reaction<RecordedEvent> | undefined, exclusively: Exclusively): Promise<void> {
    if (!reaction) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await exclusively(() => reaction.react(event));
        return;
      } catch (error) {
        // A failure while the store does not answer is the platform's (a database restarting), not
        // the event's: it does not count, and the runner redelivers from the checkpoint later.
        if (error instanceof Deactivated || !(await this.storeAnswers())) throw error;
        if (attempt >= this.policy.maxAttempts) {
          await this.giveUp(event, reaction, { attempts: attempt, reason: errorMessage(error) }, exclusively);
          return;
        }
        this.logger.warn({ stream: event.streamName, type: event.type, attempt, err: errorMessage(error) }, 'installer effect failed; trying again');
        await this.pause(this.policy.retryBaseMs * 2 ** (attempt - 1));
      }
    }
  }

  /** Ends every pause at once (with Deactivated): another replica takes over from the checkpoint. */
  abortPauses(): void {
    this.abort.abort();
    this.abort = new AbortController();
  }

  private async giveUp(event: RecordedEvent, reaction: Reaction<RecordedEvent>, spent: SpentAttempts, exclusively: Exclusively): Promise<void> {
    this.logger.warn({ stream: event.streamName, type: event.type, eventId: event.id, err: spent.reason }, `installer gave up after ${attemptsText(spent.attempts)}`);
    try {
      await exclusively(() => reaction.giveUp(event, spent));
    } catch (error) {
      if (!(await this.storeAnswers())) throw error;
      // The store answers, yet the failure cannot be recorded on the installation either (its stream
      // refuses the record). Holding the checkpoint here would stop every tenant's deploys for this
      // one event, which is what this guard exists to prevent: the event is passed, and this error
      // line is what an operator acts on.
      this.logger.error(
        { stream: event.streamName, type: event.type, eventId: event.id, position: encodePosition(event.position), reason: spent.reason, err: errorMessage(error) },
        'installer effect given up and its failure could not be recorded; event skipped',
      );
    }
  }

  private async storeAnswers(): Promise<boolean> {
    try {
      await this.store.headPosition();
      return true;
    } catch {
      return false;
    }
  }

  private pause(ms: number): Promise<void> {
    const signal = this.abort.signal;
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new Deactivated());
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(new Deactivated());
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
