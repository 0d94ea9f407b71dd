import { RecordedEvent } from '../event-store/event-store.port';
import { schemaVersionOf, upcast } from './upcasters';

const stored = (schemaVersion: number, data: Record<string, unknown>): RecordedEvent => ({
  id: '00000000-0000-4000-8000-000000000001',
  type: 'ProviderVersionPublished',
  data,
  metadata: { schema_version: schemaVersion, correlation_id: 'c', causation_id: null, actor: 'a', occurred_at: '2026-01-01T00:00:00.000Z' },
  streamName: 'provider-acme.legacy',
  revision: 0,
  position: { commit: 1n, prepare: 1n },
});

describe('upcasting ProviderVersionPublished', () => {
  it('is written at schema version 2', () => {
    expect(schemaVersionOf('ProviderVersionPublished')).toBe(2);
    expect(schemaVersionOf('InstallRequested')).toBe(1);
  });

  it('turns a v1 schemas map into the v2 list, sorted by resource type, and says so in the metadata', () => {
    const v1 = stored(1, { version: '1.0.0', schemas: { db: { type: 'object' }, cache: { type: 'string' } } });
    const v2 = upcast(v1);
    expect(v2.data).toEqual({
      version: '1.0.0',
      schemas: [
        { resource_type: 'cache', schema: { type: 'string' } },
        { resource_type: 'db', schema: { type: 'object' } },
      ],
    });
    expect(v2.metadata.schema_version).toBe(2);
    expect(v1.data).toEqual({ version: '1.0.0', schemas: { db: { type: 'object' }, cache: { type: 'string' } } });
  });

  it('gives a v1 event without schemas an empty list', () => {
    expect(upcast(stored(1, { version: '1.0.0' })).data).toEqual({ version: '1.0.0', schemas: [] });
  });

  it('leaves current-shape events and other types untouched (same object)', () => {
    const v2 = stored(2, { version: '1.0.0', schemas: [] });
    expect(upcast(v2)).toBe(v2);
    const other = { ...stored(1, { x: 1 }), type: 'InstallRequested' };
    expect(upcast(other)).toBe(other);
  });
});
