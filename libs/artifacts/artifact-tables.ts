import { DeclaredTable } from '../database/table-spec';

/**
 * The PostgreSQL artifact store's tables. Uploaded bytes are state no log can restore, so a changed
 * declaration stops start-up rather than dropping them.
 *
 * Bytes live in `artifact_chunks` under a blob id chosen when an upload starts (its sha256 is only
 * known at the end); `artifacts` maps a digest to the one blob that holds it. Chunks of a blob no
 * artifact names are an upload in progress, failed or cut off by a crash: the collector removes
 * them once older than its grace period.
 */
export const artifactsTable: DeclaredTable = {
  spec: {
    name: 'artifacts',
    key: ['sha256'],
    columns: {
      sha256: 'text',
      blob_id: 'uuid',
      size: 'bigint',
      created_at: 'timestamptz',
      stored_at: 'timestamptz',
    },
    defaults: { created_at: 'now()', stored_at: 'now()' },
    indexes: [{ suffix: 'blob', columns: ['blob_id'], unique: true }],
  },
  onChange: { kind: 'refuse' },
};

export const artifactChunksTable: DeclaredTable = {
  spec: {
    name: 'artifact_chunks',
    key: ['blob_id', 'seq'],
    columns: {
      blob_id: 'uuid',
      seq: 'integer',
      bytes: 'bytea',
      written_at: 'timestamptz',
    },
    defaults: { written_at: 'now()' },
    indexes: [{ suffix: 'written', columns: ['written_at'] }],
  },
  onChange: { kind: 'refuse' },
};

export const ARTIFACT_TABLES: readonly DeclaredTable[] = [artifactsTable, artifactChunksTable];
