import { RecordedEvent } from '../event-store/event-store.port';

/**
 * Old event shapes are upcast on read, never rewritten: the log stays as it was written, and every
 * reader (deciders, projections, history) sees the current shape.
 */
type Upcaster = {
  type: string;
  fromVersion: number;
  upcast(data: Record<string, unknown>): Record<string, unknown>;
};

/** The schema version new events of each type are written with. */
export const CURRENT_SCHEMA_VERSION: Readonly<Record<string, number>> = {
  ProviderVersionPublished: 2,
};

export function schemaVersionOf(type: string): number {
  return CURRENT_SCHEMA_VERSION[type] ?? 1;
}

const UPCASTERS: readonly Upcaster[] = [
  {
    // v1 kept the publish request's `schemas` map ({ resource_type: schema }); v2 keeps the list the
    // API returns ([{ resource_type, schema }]) so its order is fixed in the log. A jsonb map has
    // lost the publisher's order, so v1 entries come out sorted by resource type.
    type: 'ProviderVersionPublished',
    fromVersion: 1,
    upcast: (data) => {
      const map = data.schemas;
      const schemas =
        map && typeof map === 'object' && !Array.isArray(map)
          ? Object.entries(map as Record<string, Record<string, unknown>>)
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([resource_type, schema]) => ({ resource_type, schema }))
          : (map ?? []);
      return { ...data, schemas };
    },
  },
];

export function upcast<E extends RecordedEvent>(event: E): E {
  let version = event.metadata.schema_version ?? 1;
  let data = event.data as Record<string, unknown>;
  const target = schemaVersionOf(event.type);
  while (version < target) {
    const step = UPCASTERS.find((u) => u.type === event.type && u.fromVersion === version);
    if (!step) break;
    data = step.upcast(data);
    version++;
  }
  if (data === event.data) return event;
  return { ...event, data, metadata: { ...event.metadata, schema_version: version } };
}
