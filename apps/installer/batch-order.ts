import { RecordedEvent } from '../../libs/event-store/event-store.port';

/** Each stream's events in log order; the groups ordered by their first event. */
export function groupByStream(events: readonly RecordedEvent[]): RecordedEvent[][] {
  const groups = new Map<string, RecordedEvent[]>();
  for (const event of events) {
    const group = groups.get(event.streamName);
    if (group) group.push(event);
    else groups.set(event.streamName, [event]);
  }
  return [...groups.values()];
}

/** Runs `run` over the items with at most `limit` in flight; results in the items' order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await run(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/**
 * How many events of the batch, from its start in log order, are finished: everything before the
 * first event whose effect did not finish. `unfinished` holds, per group, the index of its first
 * unfinished event (undefined when the whole group finished).
 */
export function finishedPrefix(events: readonly RecordedEvent[], groups: readonly RecordedEvent[][], unfinished: ReadonlyArray<number | undefined>): number {
  const pending = new Set<RecordedEvent>();
  unfinished.forEach((from, i) => {
    if (from !== undefined) for (const event of groups[i].slice(from)) pending.add(event);
  });
  const first = events.findIndex((e) => pending.has(e));
  return first === -1 ? events.length : first;
}
