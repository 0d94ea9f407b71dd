import { EventStore } from '../event-store.port';
import { Position, comparePositions } from '../position';
import { CheckpointStore } from './checkpoint-store';
import { WaitOptions, waitUntil } from './wait-until';

/**
 * Whether a consumer that follows only `eventTypes` has seen everything up to `target`. Its
 * checkpoint moves only on events it follows, so a checkpoint below the target still counts as
 * caught up when none of its events lies between the two.
 */
export async function isCaughtUp(
  store: EventStore,
  checkpoint: Position | undefined,
  target: Position,
  eventTypes: readonly string[],
): Promise<boolean> {
  if (checkpoint && comparePositions(checkpoint, target) >= 0) return true;
  // "None of its events up to the target" means something only once the target itself is visible:
  // while an older transaction is still open the log reads nothing past it, and an empty read would
  // pass a consumer that has not yet seen the target.
  const head = await store.headPosition();
  if (!head || comparePositions(head, target) < 0) return false;
  const next = await store.readAll({ fromPosition: checkpoint, limit: 1, filter: { eventTypes } });
  return next.length === 0 || comparePositions(next[0].position, target) > 0;
}

/**
 * Waits (bounded) until `consumer`, which follows `eventTypes`, has caught up with `target`: what a
 * read-after-write request and a process manager reading a read model wait for. True when it has.
 */
export async function waitUntilCaughtUp(
  store: EventStore,
  checkpoints: Pick<CheckpointStore, 'load'>,
  consumer: { name: string; eventTypes: readonly string[] },
  target: Position,
  options: WaitOptions,
): Promise<boolean> {
  // Written in each append's transaction: current at any position a caller holds (it is committed).
  if (store.inlineProjections?.includes(consumer.name)) return true;
  return waitUntil(async () => isCaughtUp(store, await checkpoints.load(consumer.name), target, consumer.eventTypes), options);
}
