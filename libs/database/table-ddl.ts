import { quoteIdent } from './sql';
import { TableSpec, indexName, isNullable, primaryKeyName } from './table-spec';

/**
 * `CREATE TABLE` and `CREATE INDEX` statements for a table declared by `spec`, under `name` (the
 * spec's own, or a rebuild's shadow or a verify's scratch copy). Constraint and index names follow
 * `name`, so a shadow's can be renamed to the live ones when it is swapped in.
 */
export function createTableStatements(spec: TableSpec, name = spec.name, options: { fillfactor?: number } = {}): string[] {
  const columns = Object.entries(spec.columns).map(([column, type]) => {
    const nullability = isNullable(spec, column) ? '' : ' NOT NULL';
    const fallback = spec.defaults?.[column];
    return `${quoteIdent(column)} ${type}${nullability}${fallback ? ` DEFAULT ${fallback}` : ''}`;
  });
  const key = `CONSTRAINT ${quoteIdent(primaryKeyName(name))} PRIMARY KEY (${spec.key.map(quoteIdent).join(', ')})`;
  const storage = options.fillfactor ? ` WITH (fillfactor = ${Math.floor(options.fillfactor)})` : '';
  return [`CREATE TABLE ${quoteIdent(name)} (${[...columns, key].join(', ')})${storage}`, ...createIndexStatements(spec, name)];
}

export function createIndexStatements(spec: TableSpec, name = spec.name): string[] {
  return (spec.indexes ?? []).map(
    (index) =>
      `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${quoteIdent(indexName(name, index))} ON ${quoteIdent(name)}` +
      ` USING ${index.using ?? 'btree'} (${index.columns.map(quoteIdent).join(', ')})`,
  );
}

/** Renames a copy's primary key and indexes (named after `from`) to the names `to` would give them. */
export function renameIndexStatements(spec: TableSpec, from: string, to: string): string[] {
  const names: Array<[string, string]> = [
    [primaryKeyName(from), primaryKeyName(to)],
    ...(spec.indexes ?? []).map((index): [string, string] => [indexName(from, index), indexName(to, index)]),
  ];
  // IF EXISTS: a shadow an older release began (indexes named by `LIKE`) keeps those names.
  return names.map(([a, b]) => `ALTER INDEX IF EXISTS ${quoteIdent(a)} RENAME TO ${quoteIdent(b)}`);
}
