import { Inject, Injectable } from '@nestjs/common';
import { ServiceUnavailableException } from '@nestjs/common';
import { CheckpointStore } from '../../../libs/event-store/consumers/checkpoint-store';
import { decodePosition, Position } from '../../../libs/event-store/position';
import { waitUntilCaughtUp } from '../../../libs/event-store/consumers/caught-up';
import { EventStore } from '../../../libs/event-store/event-store.port';
import { PROJECTIONS } from '../../../projections/projections';
import { DomainError } from '../../../libs/domain/domain-error';
import { Infrastructure } from '../../../libs/infrastructure/infrastructure';
import { HttpRequest, isRecord } from './http-types';
import { INFRASTRUCTURE } from './tokens';

/**
 * The read models a command's answer waits for. EventStoreDB cannot share a transaction with them:
 * commands wait instead. (PostgreSQL with INLINE_PROJECTIONS=false, a bench/diagnostic mode, answers
 * without waiting.)
 */
export function readModelsCommandsAwait(infrastructure: Pick<Infrastructure, 'config' | 'eventStore'>): ReadonlyArray<{ name: string; eventTypes: readonly string[] }> {
  const inline = infrastructure.eventStore.inlineProjections ?? [];
  return infrastructure.config.eventStoreUrl ? PROJECTIONS.filter((p) => !inline.includes(p.name)) : [];
}

/**
 * Read-your-writes: a query given `min_position` (or `X-Min-Position`) waits, bounded, until the
 * read model's checkpoint has reached that position, then answers; past the bound it says so (503).
 */
@Injectable()
export class ReadModelWaiter {
  private readonly checkpoints: CheckpointStore;
  private readonly waitMs: number;

  constructor(@Inject(INFRASTRUCTURE) infrastructure: Infrastructure) {
    this.checkpoints = infrastructure.checkpoints;
    this.waitMs = infrastructure.config.readModelWaitMs;
    this.store = infrastructure.eventStore;
    this.awaitedByCommands = readModelsCommandsAwait(infrastructure);
  }

  private readonly awaitedByCommands: ReadonlyArray<{ name: string; eventTypes: readonly string[] }>;

  /** Whether a command's response waits for read models (`waitForCommand`). */
  get commandsWait(): boolean {
    return this.awaitedByCommands.length > 0;
  }

  /**
   * Waits, bounded by READ_MODEL_WAIT_MS, until every read model not written inline has passed a
   * command's position; returns the names of those still behind at the bound.
   */
  async waitForCommand(position: Position): Promise<string[]> {
    const options = { timeoutMs: this.waitMs, intervalMs: 5, maxIntervalMs: 50 };
    const reached = await Promise.all(
      this.awaitedByCommands.map((readModel) => waitUntilCaughtUp(this.store, this.checkpoints, readModel, position, options)),
    );
    return this.awaitedByCommands.filter((_, i) => !reached[i]).map((readModel) => readModel.name);
  }

  private readonly store: EventStore;

  private eventTypesOf(consumer: string): readonly string[] {
    const projection = PROJECTIONS.find((p) => p.name === consumer);
    if (!projection) throw new Error(`unknown read model ${consumer}`);
    return projection.eventTypes;
  }

  async waitIfAsked(request: HttpRequest, consumer: string, ...alsoConsumers: string[]): Promise<void> {
    const fromQuery = isRecord(request.query) ? request.query.min_position : undefined;
    const raw = fromQuery ?? request.headers['x-min-position'];
    if (raw === undefined || raw === '') return;
    const target = typeof raw === 'string' ? decodePosition(raw) : undefined;
    if (!target) {
      throw new DomainError('invalid', 'invalid_min_position', 'min_position must be a position as returned in X-Position, e.g. "1234:56".');
    }
    for (const each of [consumer, ...alsoConsumers]) await this.waitFor(each, target);
  }

  async waitFor(consumer: string, target: Position): Promise<void> {
    // Written in the append's transaction: a position a client holds is committed, hence reflected.
    if (this.store.inlineProjections?.includes(consumer)) return;
    const followed = { name: consumer, eventTypes: this.eventTypesOf(consumer) };
    const caughtUp = await waitUntilCaughtUp(this.store, this.checkpoints, followed, target, { timeoutMs: this.waitMs, intervalMs: 5, maxIntervalMs: 100 });
    if (!caughtUp) {
      throw new ServiceUnavailableException({
        code: 'read_model_lagging',
        message: `The ${consumer} read model has not reached position yet; retry shortly.`,
      });
    }
  }
}
