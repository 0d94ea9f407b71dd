import { DeclaredTable } from '../database/table-spec';

/**
 * One data key per installation that holds secret config, wrapped (AES-256-GCM) by the master key
 * named by `master_key_id` (a digest of the key, never the key). The log holds only values encrypted
 * under these data keys, so deleting a row crypto-shreds every secret of that installation. No log
 * can restore a row, so a changed declaration stops start-up rather than dropping it.
 */
export const installationDataKeysTable: DeclaredTable = {
  spec: {
    name: 'installation_data_keys',
    key: ['installation_id'],
    columns: {
      installation_id: 'uuid',
      wrapped_key: 'text',
      master_key_id: 'text',
      created_at: 'timestamptz',
      rewrapped_at: 'timestamptz',
    },
    nullable: ['rewrapped_at'],
    defaults: { created_at: 'now()' },
    indexes: [{ suffix: 'master_key', columns: ['master_key_id'] }],
  },
  onChange: { kind: 'refuse' },
};

/**
 * Development and tests only (SECRETS_MASTER_KEY unset outside production): the master key generated
 * on first use, kept in the database every process of the installation shares (API, installer, CLI),
 * so they all unwrap the same data keys. It sits beside what it protects, which is why production
 * refuses to start without SECRETS_MASTER_KEY.
 */
export const generatedMasterKeyTable: DeclaredTable = {
  spec: {
    name: 'secrets_generated_master_key',
    key: ['id'],
    columns: { id: 'text', master_key: 'text', created_at: 'timestamptz' },
    defaults: { created_at: 'now()' },
  },
  onChange: { kind: 'refuse' },
};

export const SECRET_TABLES: readonly DeclaredTable[] = [installationDataKeysTable, generatedMasterKeyTable];
