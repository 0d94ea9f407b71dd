import type { Pool } from 'pg';
import { PgThrottlerStorage } from './pg-throttler-storage';
import { addressBucket } from './rate-limit';
import { trustProxySetting } from './trust-proxy';

/** A pool whose every query fails with the given error (the table creation's client too). */
function failingPool(error: Error & { code?: string }): Pool {
  const fail = () => Promise.reject(error);
  return { query: fail, connect: () => Promise.resolve({ query: fail, release: () => undefined }) } as unknown as Pool;
}

describe('PgThrottlerStorage', () => {
  it('lets a request through uncounted while the database cannot be reached', async () => {
    const storage = new PgThrottlerStorage(failingPool(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })));
    await expect(storage.increment('k', 60_000, 10)).resolves.toEqual({ totalHits: 0, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });
  });

  it('passes any other database error on', async () => {
    const storage = new PgThrottlerStorage(failingPool(Object.assign(new Error('permission denied'), { code: '42501' })));
    await expect(storage.increment('k', 60_000, 10)).rejects.toThrow('permission denied');
  });
});

describe('addressBucket', () => {
  it('keeps IPv4 as is, unwraps IPv4-mapped addresses and groups IPv6 by /64', () => {
    expect(addressBucket('203.0.113.7')).toBe('203.0.113.7');
    expect(addressBucket('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressBucket('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8:1:2:bbbb::9')).toBe(addressBucket('2001:db8:1:2:aaaa::1'));
    expect(addressBucket(undefined)).toBe('unknown');
  });
});

describe('trustProxySetting', () => {
  it('is off unless set, and accepts hop counts, true and lists of addresses, ranges and names', () => {
    expect(trustProxySetting({})).toBe(false);
    expect(trustProxySetting({ TRUST_PROXY: 'false' })).toBe(false);
    expect(trustProxySetting({ TRUST_PROXY: 'true' })).toBe(true);
    expect(trustProxySetting({ TRUST_PROXY: '2' })).toBe(2);
    expect(trustProxySetting({ TRUST_PROXY: 'loopback, 10.0.0.0/8,192.0.2.1' })).toEqual(['loopback', '10.0.0.0/8', '192.0.2.1']);
  });

  it('refuses anything else at start-up', () => {
    expect(() => trustProxySetting({ TRUST_PROXY: 'proxy.internal' })).toThrow(/TRUST_PROXY: "proxy.internal"/);
  });
});
