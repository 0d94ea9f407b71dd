import { EventStore } from '../event-store/event-store.port';
import { Position, comparePositions } from '../event-store/position';
import { DEFAULT_BATCH_SIZE } from './admin-deps';

/**
 * How many of the given event types lie after `after` (and up to `upTo`): counted by the store when
 * it can, else by paging up to `pageLimit` pages of the log; undefined when that is not enough.
 */
export async function countMatchingEvents(
  store: EventStore,
  eventTypes: readonly string[],
  after: Position | undefined,
  options: { upTo?: Position; pageLimit?: number } = {},
): Promise<number | undefined> {
  if (store.countEvents) return store.countEvents({ eventTypes, after, upTo: options.upTo });
  const upTo = options.upTo;
  let count = 0;
  let position = after;
  for (let pages = 0; pages < (options.pageLimit ?? 0); pages++) {
    const page = await store.readAll({ fromPosition: position, filter: { eventTypes }, limit: DEFAULT_BATCH_SIZE });
    const within = upTo ? page.filter((e) => comparePositions(e.position, upTo) <= 0) : page;
    count += within.length;
    if (page.length < DEFAULT_BATCH_SIZE || within.length < page.length) return count;
    position = page[page.length - 1].position;
  }
  return undefined;
}
