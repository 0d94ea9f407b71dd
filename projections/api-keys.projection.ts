import { ApiKeyEvent } from '../libs/api-keys/api-key';
import { RecordedEvent } from '../libs/event-store/event-store.port';
import { JsonRow, RowProjection } from '../libs/projection-engine/row-projection';

/** What the auth guard looks keys up in: hashes and scopes, never a secret. */
export const apiKeysProjection: RowProjection = {
  name: 'api-keys',
  eventTypes: ['ApiKeyCreated', 'ApiKeyRevoked'],
  table: {
    name: 'api_keys',
    key: ['key_id'],
    columns: {
      key_id: 'text',
      org: 'text',
      scopes: 'jsonb',
      platform_admin: 'boolean',
      secret_hash: 'text',
      label: 'text',
      created_by: 'text',
      created_at: 'timestamptz',
      revoked_at: 'timestamptz',
    },
    nullable: ['label', 'revoked_at'],
    // An organisation's keys are listed by org.
    indexes: [{ suffix: 'org', columns: ['org'] }],
  },
  keyOf: (event: RecordedEvent) => ({ key_id: (event.data as { key_id: string }).key_id }),
  evolve(row: JsonRow | null, event: RecordedEvent): JsonRow | null {
    const e = event as unknown as ApiKeyEvent;
    switch (e.type) {
      case 'ApiKeyCreated':
        return { ...e.data, created_at: e.data.at, revoked_at: null };
      case 'ApiKeyRevoked':
        return row ? { ...row, revoked_at: e.data.at } : row;
      default:
        return row;
    }
  },
};
