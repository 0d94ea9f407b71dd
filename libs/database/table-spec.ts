import { createHash } from 'node:crypto';

/** An index a table needs, named `<table>_<suffix>` (so a shadow copy's indexes can take the live names). */
export interface IndexSpec {
  suffix: string;
  columns: readonly string[];
  unique?: boolean;
  /** Access method; btree unless given (`gin` for jsonb containment). */
  using?: 'btree' | 'gin';
}

/**
 * The one declaration of a table: its columns (PostgreSQL type, in table order), key, the columns
 * that may be null (every other column is NOT NULL), column defaults and indexes. The DDL, the
 * projection writer and the rebuild all derive from it.
 */
export interface TableSpec {
  name: string;
  key: readonly string[];
  columns: Readonly<Record<string, string>>;
  nullable?: readonly string[];
  /** SQL default expressions, for columns that writers may leave out. */
  defaults?: Readonly<Record<string, string>>;
  indexes?: readonly IndexSpec[];
}

/**
 * What start-up does when a table's declaration no longer matches the table in the database:
 * - `refold`: drop it, create it from the declaration and delete the consumers' checkpoints, so
 *   the runners fold the log into it again (read models are rebuildable by design);
 * - `recreate`: drop it and create it empty (telemetry, which the next reports refill);
 * - `refuse`: stop start-up (state no log can restore).
 */
export type ChangePolicy = { kind: 'refold'; consumers: readonly string[] } | { kind: 'recreate' } | { kind: 'refuse' };

/** A table start-up creates and keeps in step with its declaration. */
export interface DeclaredTable {
  spec: TableSpec;
  onChange: ChangePolicy;
}

export function indexName(table: string, index: IndexSpec): string {
  return `${table}_${index.suffix}`;
}

export function primaryKeyName(table: string): string {
  return `${table}_pkey`;
}

export function isNullable(spec: TableSpec, column: string): boolean {
  return spec.nullable?.includes(column) ?? false;
}

/** A digest of everything the DDL derives from, so that any change to the declaration shows. */
export function fingerprintOf(spec: TableSpec): string {
  const canonical = {
    name: spec.name,
    key: spec.key,
    columns: Object.entries(spec.columns),
    nullable: [...(spec.nullable ?? [])].sort(),
    defaults: Object.entries(spec.defaults ?? {}).sort(),
    indexes: (spec.indexes ?? []).map((i) => [i.suffix, i.columns, i.unique ?? false, i.using ?? 'btree']),
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}
