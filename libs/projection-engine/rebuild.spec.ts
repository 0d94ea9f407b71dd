import { quoteIdent } from '../database/sql';
import { createTableStatements, renameIndexStatements } from '../database/table-ddl';
import { TableSpec, fingerprintOf } from '../database/table-spec';
import { copyLines } from './copy-in';
import { KeyFilter } from './key-filter';

const spec: TableSpec = {
  name: 'things',
  key: ['tenant', 'id'],
  columns: { tenant: 'text', id: 'uuid', tags: 'jsonb', note: 'text' },
  nullable: ['note'],
  indexes: [{ suffix: 'tags', columns: ['tags'], using: 'gin' }, { suffix: 'id', columns: ['id'], unique: true }],
};

describe('rebuild helpers', () => {
  it('KeyFilter never forgets a key it was given, and rejects most keys it was not', () => {
    const filter = new KeyFilter(20);
    const added = Array.from({ length: 20_000 }, (_, i) => JSON.stringify([`tenant-${i}`, 'acme', `p${i % 97}`]));
    for (const key of added) filter.add(key);
    expect(added.every((key) => filter.mightContain(key))).toBe(true);
    const others = Array.from({ length: 20_000 }, (_, i) => JSON.stringify([`other-${i}`, 'acme', `p${i % 97}`]));
    const falsePositives = others.filter((key) => filter.mightContain(key)).length;
    expect(falsePositives).toBeLessThan(others.length * 0.01);
  });

  it('derives the table, its key and its indexes from the declaration, named after the table made', () => {
    expect(createTableStatements(spec, 'things__rebuild', { fillfactor: 70 })).toEqual([
      'CREATE TABLE "things__rebuild" ("tenant" text NOT NULL, "id" uuid NOT NULL, "tags" jsonb NOT NULL, "note" text, ' +
        'CONSTRAINT "things__rebuild_pkey" PRIMARY KEY ("tenant", "id")) WITH (fillfactor = 70)',
      'CREATE INDEX IF NOT EXISTS "things__rebuild_tags" ON "things__rebuild" USING gin ("tags")',
      'CREATE UNIQUE INDEX IF NOT EXISTS "things__rebuild_id" ON "things__rebuild" USING btree ("id")',
    ]);
  });

  it('gives a swapped-in copy the live index names', () => {
    expect(renameIndexStatements(spec, 'things__rebuild', 'things')).toEqual([
      'ALTER INDEX IF EXISTS "things__rebuild_pkey" RENAME TO "things_pkey"',
      'ALTER INDEX IF EXISTS "things__rebuild_tags" RENAME TO "things_tags"',
      'ALTER INDEX IF EXISTS "things__rebuild_id" RENAME TO "things_id"',
    ]);
  });

  it('fingerprints change with any column, nullability or index, and not with the order of the nullable list', () => {
    const base = fingerprintOf(spec);
    expect(fingerprintOf({ ...spec, nullable: ['note'] })).toBe(base);
    expect(fingerprintOf({ ...spec, columns: { ...spec.columns, note: 'jsonb' } })).not.toBe(base);
    expect(fingerprintOf({ ...spec, nullable: [] })).not.toBe(base);
    expect(fingerprintOf({ ...spec, indexes: [] })).not.toBe(base);
  });

  it('encodes rows as COPY text: declared columns only, JSON for jsonb, \\N for null', () => {
    const rows = [{ tenant: 'a\tb', id: 'x', tags: ['t'], note: null, extra: 1 }];
    expect(copyLines(rows, ['tenant', 'id', 'tags', 'note'], ['text', 'uuid', 'jsonb', 'text'])).toEqual(['a\\tb\tx\t["t"]\t\\N\n']);
  });

  it('quoteIdent doubles quotes', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
  });
});
