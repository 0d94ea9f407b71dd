import { AggregateCache } from './aggregate-cache';
import { LoadedAggregate } from './snapshot-loader';

const at = (revision: number, state = `state@${revision}`): LoadedAggregate<string> => ({
  state,
  revision,
  lastEventId: `event-${revision}`,
  position: undefined,
  snapshotRevision: -1,
  occurredUntil: null,
  tail: [],
});

describe('AggregateCache', () => {
  it('given a remembered aggregate, when asked for its stream, then answers it without the events its load read', () => {
    const cache = new AggregateCache<string>(10);
    cache.remember('s', { ...at(3), tail: [{ id: 'e', type: 'T', data: {}, metadata: { schema_version: 1, correlation_id: 'c', causation_id: null, actor: 'a', occurred_at: 'now' }, streamName: 's', revision: 3, position: { commit: 1n, prepare: 1n } }] });
    expect(cache.get('s')).toMatchObject({ state: 'state@3', revision: 3, tail: [] });
    expect(cache.get('other')).toBeUndefined();
  });

  it('given a later revision remembered first, when an earlier one finishes after it, then keeps the later', () => {
    const cache = new AggregateCache<string>(10);
    cache.remember('s', at(5));
    cache.remember('s', at(4));
    expect(cache.get('s')?.revision).toBe(5);
    cache.remember('s', at(6));
    expect(cache.get('s')?.revision).toBe(6);
  });

  it('given a full cache, when another stream is remembered, then the least recently used one goes', () => {
    const cache = new AggregateCache<string>(2);
    cache.remember('a', at(1));
    cache.remember('b', at(1));
    cache.get('a'); // now b is the least recently used
    cache.remember('c', at(1));
    expect(cache.size).toBe(2);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
    expect(cache.get('c')).toBeDefined();
  });

  it('given capacity 0, then keeps nothing; and a forgotten stream is gone', () => {
    const off = new AggregateCache<string>(0);
    off.remember('s', at(1));
    expect(off.get('s')).toBeUndefined();
    const cache = new AggregateCache<string>(5);
    cache.remember('s', at(1));
    cache.forget('s');
    expect(cache.get('s')).toBeUndefined();
  });
});
