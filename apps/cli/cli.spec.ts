import { parseAuditOptions } from './audit';
import { UsageError } from './io';
import { parseOrg, parseScopes } from './keys';
import { renderVerify, selectProjections } from './projections';

describe('CLI argument parsing', () => {
  it('scopes: canonical order, no repeats, unknown ones refused', () => {
    expect(parseScopes('read, publish,read')).toEqual(['publish', 'read']);
    expect(() => parseScopes('read,root')).toThrow(UsageError);
    expect(() => parseScopes(' , ')).toThrow(UsageError);
  });

  it('organisations follow the token pattern', () => {
    expect(parseOrg('acme-2')).toBe('acme-2');
    for (const bad of ['Acme', '-acme', 'a'.repeat(64), 'ac me', '']) expect(() => parseOrg(bad)).toThrow(UsageError);
  });

  it('audit options: tenant prefix, ISO times, types', () => {
    expect(parseAuditOptions({ tenant: 'acme', from: '2026-01-01', to: '2026-02-01T00:00:00Z', type: 'InstallRequested,UpgradeRequested' })).toEqual({
      streamPrefix: 'installation-acme.',
      fromMs: Date.parse('2026-01-01'),
      toMs: Date.parse('2026-02-01T00:00:00Z'),
      types: ['InstallRequested', 'UpgradeRequested'],
    });
    expect(() => parseAuditOptions({ from: 'yesterday' })).toThrow(UsageError);
    expect(() => parseAuditOptions({ from: '2026-02-01', to: '2026-01-01' })).toThrow(UsageError);
    expect(() => parseAuditOptions({ type: 'Drop Table' })).toThrow(UsageError);
    expect(() => parseAuditOptions({ tenant: 'ACME' })).toThrow(UsageError);
  });

  it('projections by name, table name or all', () => {
    expect(selectProjections('installed-providers').map((p) => p.name)).toEqual(['installed-providers']);
    expect(selectProjections('api_keys').map((p) => p.name)).toEqual(['api-keys']);
    expect(selectProjections('all').length).toBeGreaterThan(1);
    expect(() => selectProjections('nope')).toThrow(UsageError);
  });

  it('renders a verify difference with key, columns and both values', () => {
    const text = renderVerify({
      name: 'installed-providers',
      table: 'installed_providers',
      verified: true,
      position: '10:20',
      live_rows: 3,
      expected_rows: 3,
      differences: [
        {
          key: { tenant: 't3', prefix: 'acme', name: 'postgres' },
          live: { tenant: 't3', installed_version: '9.9.9' },
          expected: { tenant: 't3', installed_version: '1.1.0' },
          columns: ['installed_version'],
        },
      ],
      lag: null,
    });
    expect(text).toContain('verify installed-providers: 1 row differs at 10:20');
    expect(text).toContain('{"tenant":"t3","prefix":"acme","name":"postgres"}: installed_version');
    expect(text).toContain('installed_version: live "9.9.9", expected "1.1.0"');
  });
});
