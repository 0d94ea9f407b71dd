import { RecordedEvent } from '../../libs/event-store/event-store.port';
import { Position } from '../../libs/event-store/position';

export interface InstallationQueuesOptions {
  /** Runs one event's effect; a rejection means it did not finish. */
  run(event: RecordedEvent): Promise<void>;
  /** Whether a rejection of `run` is tried again here (a store outage) or ends the epoch (deactivation). */
  retryable(error: unknown): boolean;
  /** Pause before trying an event again; doubles up to `MAX_RETRY_PAUSE_MS`. */
  retryBaseMs: number;
  /** Saves the checkpoint: every event up to and including `position` is finished. */
  save(position: Position): Promise<void>;
  /** How many installations have an effect running at once. */
  concurrency: number;
  /** How many events may be taken from the log and not yet finished (memory bound). */
  maxOutstanding: number;
}

const MAX_RETRY_PAUSE_MS = 5_000;

interface Entry {
  event: RecordedEvent;
  done: boolean;
}

/**
 * One queue per installation, fed from the log: each installation's events run strictly in log order,
 * different installations independently (at most `concurrency` at once), and taking the next events
 * from the log never waits for a slow effect — a deploy that hangs holds up its own installation only.
 * The checkpoint advances to the end of the finished prefix, so it never passes an unfinished event.
 *
 * An effect that did not finish (the store not answering) is tried again in place, so its
 * installation's order holds and nothing waits for a redelivery that an idle log would never bring.
 * One that must not be tried again (this replica was deactivated) ends the epoch: the next `enqueue`
 * rejects and the runner redelivers from the checkpoint. `reset` starts an epoch; work of an older
 * epoch still running keeps its place in its installation's order but no longer moves the checkpoint.
 */
export class InstallationQueues {
  private outstanding: Entry[] = [];
  private readonly tails = new Map<string, Promise<void>>();
  private readonly running = new Set<Promise<void>>();
  private readonly waitingForSlot: Array<() => void> = [];
  private readonly waitingForRoom: Array<() => void> = [];
  private active = 0;
  private epoch = 0;
  private failure: { error: unknown } | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly options: InstallationQueuesOptions) {}

  /** Queues the events; resolves once they are queued (not done). Rejects with an earlier failure. */
  async enqueue(events: readonly RecordedEvent[]): Promise<void> {
    for (const event of events) {
      this.throwIfFailed();
      while (this.outstanding.length >= this.options.maxOutstanding) await new Promise<void>((resolve) => this.waitingForRoom.push(resolve));
      this.throwIfFailed();
      this.queue(event);
    }
    this.throwIfFailed();
  }

  /** Forgets what is queued (the runner will redeliver from the checkpoint); running effects finish. */
  reset(): void {
    this.epoch++;
    this.outstanding = [];
    this.failure = undefined;
    this.wakeAll(this.waitingForRoom);
  }

  /** Waits for every running effect, at most `ms`. */
  async settle(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([Promise.allSettled([...this.running]), timeout]);
    clearTimeout(timer);
  }

  private queue(event: RecordedEvent): void {
    const epoch = this.epoch;
    const entry: Entry = { event, done: false };
    this.outstanding.push(entry);
    const stream = event.streamName;
    const before = this.tails.get(stream) ?? Promise.resolve();
    const work = before.then(() => this.runInSlot(event, epoch)).then(
      () => this.finished(entry, epoch),
      (error: unknown) => this.failed(error, epoch),
    );
    this.running.add(work);
    this.tails.set(stream, work);
    void work.then(() => {
      this.running.delete(work);
      if (this.tails.get(stream) === work) this.tails.delete(stream);
    });
  }

  private async runInSlot(event: RecordedEvent, epoch: number): Promise<void> {
    // After a failure nothing more of this epoch runs: the installation's later events wait for the
    // redelivery of the one that failed.
    if (epoch !== this.epoch || this.failure) throw new Skipped();
    while (this.active >= this.options.concurrency) await new Promise<void>((resolve) => this.waitingForSlot.push(resolve));
    if (epoch !== this.epoch || this.failure) throw new Skipped();
    this.active++;
    try {
      for (let pause = this.options.retryBaseMs; ; pause = Math.min(pause * 2, MAX_RETRY_PAUSE_MS)) {
        try {
          return await this.options.run(event);
        } catch (error) {
          if (!this.options.retryable(error) || epoch !== this.epoch) throw error;
          await new Promise((resolve) => setTimeout(resolve, pause));
        }
      }
    } finally {
      this.active--;
      this.waitingForSlot.shift()?.();
    }
  }

  private finished(entry: Entry, epoch: number): void {
    if (epoch !== this.epoch) return;
    entry.done = true;
    let last: RecordedEvent | undefined;
    while (this.outstanding.length > 0 && this.outstanding[0].done) last = this.outstanding.shift()?.event;
    if (!last) return;
    const position = last.position;
    // A save that fails (the store not answering) is made good by the next one; until then a restart
    // only redelivers events whose effects are idempotent.
    this.saving = this.saving.then(() => this.options.save(position)).catch(() => undefined);
    this.wakeAll(this.waitingForRoom);
  }

  private failed(error: unknown, epoch: number): void {
    if (epoch !== this.epoch || error instanceof Skipped) return;
    this.failure ??= { error };
    this.wakeAll(this.waitingForRoom);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  private wakeAll(waiting: Array<() => void>): void {
    for (const wake of waiting.splice(0)) wake();
  }
}

/** An event not run because an earlier one of its epoch failed; it is redelivered with it. */
class Skipped extends Error {
  constructor() {
    super('skipped after an earlier failure');
    this.name = 'Skipped';
  }
}
