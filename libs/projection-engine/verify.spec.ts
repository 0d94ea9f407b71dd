import { differingColumns } from './verify-report';

describe('differingColumns', () => {
  const columns = ['tenant', 'installed_version', 'config', 'generation'];

  it('names the columns whose values differ, comparing JSON values deeply', () => {
    const live = { tenant: 'acme', installed_version: '9.9.9', config: { a: 'b' }, generation: 2 };
    const expected = { tenant: 'acme', installed_version: '1.0.0', config: { a: 'b' }, generation: 2 };
    expect(differingColumns(columns, live, expected)).toEqual(['installed_version']);
    expect(differingColumns(columns, { ...live, config: { a: 'c' } }, expected)).toEqual(['installed_version', 'config']);
  });

  it('names every column when a row is missing on either side, and treats absent as null', () => {
    expect(differingColumns(columns, null, { tenant: 'acme' })).toEqual(columns);
    expect(differingColumns(columns, { tenant: 'acme' }, null)).toEqual(columns);
    expect(differingColumns(columns, { tenant: 'acme', config: null }, { tenant: 'acme' })).toEqual([]);
  });
});
