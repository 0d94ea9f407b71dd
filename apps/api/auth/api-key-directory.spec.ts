import { EventStore, RecordedEvent } from '../../../libs/event-store/event-store.port';
import { ApiKeyDirectory } from './api-key-directory';

function recorded(type: string, data: unknown, revision: number): RecordedEvent {
  return {
    id: `e${revision}`,
    type,
    data,
    metadata: { schema_version: 1, correlation_id: 'c', causation_id: null, actor: 'cli:test', occurred_at: '2026-01-01T00:00:00.000Z' },
    streamName: 'apikey-0123456789abcdef',
    revision,
    position: { commit: BigInt(revision + 1), prepare: BigInt(revision + 1) },
  };
}

const CREATED = recorded('ApiKeyCreated', { key_id: '0123456789abcdef', org: 'acme', scopes: ['read'], platform_admin: false, secret_hash: 'ab'.repeat(32), label: null, created_by: 'cli', at: '2026-01-01T00:00:00.000Z' }, 0);
const REVOKED = recorded('ApiKeyRevoked', { key_id: '0123456789abcdef', at: '2026-01-01T00:01:00.000Z' }, 1);

/** A store whose key stream is whatever `events` holds now, counting reads. */
function storeWith(events: RecordedEvent[]): { store: EventStore; reads: () => number } {
  let reads = 0;
  const store = {
    readStream: async () => {
      reads++;
      return [...events];
    },
  } as unknown as EventStore;
  return { store, reads: () => reads };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ApiKeyDirectory', () => {
  it('given a created key, when it is looked up, then its organisation, scopes and hash come from its own stream', async () => {
    const { store } = storeWith([CREATED]);
    await expect(new ApiKeyDirectory(store).find('0123456789abcdef')).resolves.toEqual({ org: 'acme', scopes: ['read'], platformAdmin: false, secretHash: 'ab'.repeat(32), revoked: false });
  });

  it('given a revocation appended after a lookup, when the TTL has passed, then the key reads as revoked', async () => {
    const events = [CREATED];
    const { store } = storeWith(events);
    const directory = new ApiKeyDirectory(store, 50);
    expect((await directory.find('0123456789abcdef'))?.revoked).toBe(false);
    events.push(REVOKED);
    expect((await directory.find('0123456789abcdef'))?.revoked).toBe(false); // still cached
    await sleep(60);
    expect((await directory.find('0123456789abcdef'))?.revoked).toBe(true);
  });

  it('given an unknown key id, when it is presented repeatedly and concurrently, then the stream is read once per TTL', async () => {
    const { store, reads } = storeWith([]);
    const directory = new ApiKeyDirectory(store, 10_000);
    const found = await Promise.all(Array.from({ length: 20 }, () => directory.find('ffffffffffffffff')));
    expect(found).toEqual(Array(20).fill(null));
    expect(await directory.find('ffffffffffffffff')).toBeNull();
    expect(reads()).toBe(1);
  });

  it('given a failed read, when the key is looked up again, then it is read again (failures are not cached)', async () => {
    let fail = true;
    const store = { readStream: async () => (fail ? Promise.reject(new Error('down')) : [CREATED]) } as unknown as EventStore;
    const directory = new ApiKeyDirectory(store, 10_000);
    await expect(directory.find('0123456789abcdef')).rejects.toThrow('down');
    fail = false;
    await expect(directory.find('0123456789abcdef')).resolves.toMatchObject({ org: 'acme' });
  });
});
