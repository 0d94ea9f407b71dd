import { ApiKeyCreated } from '../libs/api-keys/api-key';
import { RecordedEvent } from '../libs/event-store/event-store.port';
import { OrganizationEvent } from '../libs/organizations/organization';
import { JsonRow, RowProjection } from '../libs/projection-engine/row-projection';

type Folded = OrganizationEvent | ApiKeyCreated;

function isFolded(event: RecordedEvent): event is RecordedEvent & Folded {
  return event.type === 'OrganizationCreated' || event.type === 'OrganizationRenamed' || event.type === 'ApiKeyCreated';
}

/**
 * One row per organisation. Organisations were implicit before they had streams of their own (a key,
 * an installation or a provider simply named one), and every tenant that can call the API has a key:
 * so a key's creation also makes its organisation's row, named after its id, until the
 * organisation's own `OrganizationCreated` declares it (keeping the earlier creation time).
 */
export const organizationsProjection: RowProjection = {
  name: 'organizations',
  eventTypes: ['OrganizationCreated', 'OrganizationRenamed', 'ApiKeyCreated'],
  table: {
    name: 'organizations',
    key: ['id'],
    columns: {
      id: 'text',
      slug: 'text',
      name: 'text',
      /** False while the organisation is known only from its API keys. */
      declared: 'boolean',
      created_at: 'timestamptz',
      updated_at: 'timestamptz',
    },
  },
  keyOf(event: RecordedEvent) {
    if (!isFolded(event)) return undefined;
    return { id: event.type === 'ApiKeyCreated' ? event.data.org : event.data.id };
  },
  evolve(row: JsonRow | null, event: RecordedEvent): JsonRow | null {
    if (!isFolded(event)) return row;
    switch (event.type) {
      case 'ApiKeyCreated': {
        const { org, at } = event.data;
        return row ?? { id: org, slug: org, name: org, declared: false, created_at: at, updated_at: at };
      }
      case 'OrganizationCreated': {
        const { id, slug, name, at } = event.data;
        return { id, slug, name, declared: true, created_at: row?.created_at ?? at, updated_at: at };
      }
      case 'OrganizationRenamed':
        return row ? { ...row, name: event.data.name, updated_at: event.data.at } : row;
      default:
        return row;
    }
  },
};
