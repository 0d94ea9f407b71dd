import { Inject, Injectable } from '@nestjs/common';
import { isCaughtUp } from '../event-store/consumers/caught-up';
import { ConsumerRunner } from '../event-store/consumers/consumer-runner';
import { Position, comparePositions, encodePosition } from '../event-store/position';
import { Infrastructure } from '../infrastructure/infrastructure';
import { INFRASTRUCTURE } from '../application/infrastructure-token';

/** The checkpoint a runner was last seen at, and since when it has been there while behind. */
interface Progress {
  checkpoint: string | undefined;
  since: number;
}

/**
 * The log consumers running in this process (none in an API-only replica), for readiness: a runner
 * that gave up (`stopped`) fails it, and so does one that holds its lock but sits behind the log
 * without its checkpoint moving for longer than `consumerStallMs` — a consumer wedged on one event
 * looks alive by its state alone. Progress is judged between readiness probes.
 */
@Injectable()
export class WorkerStatus {
  private runners: ConsumerRunner[] = [];
  private readonly progress = new Map<ConsumerRunner, Progress>();

  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'config' | 'eventStore' | 'checkpoints'>) {}

  track(runners: ConsumerRunner[]): void {
    this.runners.push(...runners);
  }

  get tracked(): readonly ConsumerRunner[] {
    return this.runners;
  }

  failing(): string[] {
    return this.runners.filter((r) => r.state === 'stopped').map((r) => r.consumer.name);
  }

  /** Active consumers behind the log whose checkpoint has not moved for longer than the threshold. */
  async stalled(now = Date.now()): Promise<string[]> {
    const active = this.runners.filter((r) => r.isActive);
    for (const runner of this.progress.keys()) if (!active.includes(runner)) this.progress.delete(runner);
    if (active.length === 0) return [];
    const head = await this.infrastructure.eventStore.headPosition();
    const stalled: string[] = [];
    for (const runner of active) {
      const checkpoint = await this.infrastructure.checkpoints.load(runner.consumer.name);
      const behind = head !== undefined && !(await this.caughtUp(runner, checkpoint, head));
      const at = checkpoint && encodePosition(checkpoint);
      const seen = this.progress.get(runner);
      if (!behind || !seen || seen.checkpoint !== at) {
        this.progress.set(runner, { checkpoint: at, since: now });
        continue;
      }
      if (now - seen.since > this.infrastructure.config.consumerStallMs) stalled.push(runner.consumer.name);
    }
    return stalled;
  }

  summary(): Record<string, string> {
    return Object.fromEntries(this.runners.map((r) => [r.consumer.name, r.state]));
  }

  private caughtUp(runner: ConsumerRunner, checkpoint: Position | undefined, head: Position): Promise<boolean> | boolean {
    const eventTypes = runner.consumer.filter?.eventTypes;
    if (eventTypes) return isCaughtUp(this.infrastructure.eventStore, checkpoint, head, eventTypes);
    return checkpoint !== undefined && comparePositions(checkpoint, head) >= 0;
  }
}
