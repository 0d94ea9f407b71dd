import { Injectable } from '@nestjs/common';
import { ConsumerRunner } from '../../../libs/event-store/consumers/consumer-runner';

/** The log consumers running in this process (none in an API-only replica), for readiness. */
@Injectable()
export class WorkerStatus {
  private runners: ConsumerRunner[] = [];

  track(runners: ConsumerRunner[]): void {
    this.runners.push(...runners);
  }

  failing(): string[] {
    return this.runners.filter((r) => r.state === 'stopped').map((r) => r.consumer.name);
  }

  summary(): Record<string, string> {
    return Object.fromEntries(this.runners.map((r) => [r.consumer.name, r.state]));
  }
}
