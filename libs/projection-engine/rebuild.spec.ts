import { KeyFilter, indexSignature, quoteIdent } from './rebuild';

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

  it('indexSignature ignores the index and table names, so a copy matches its original', () => {
    expect(indexSignature('CREATE UNIQUE INDEX installed_providers_installation_id ON public.installed_providers USING btree (installation_id)')).toBe(
      'UNIQUE USING btree (installation_id)',
    );
    expect(indexSignature('CREATE UNIQUE INDEX installed_providers__rebuild_installation_id_idx ON public.installed_providers__rebuild USING btree (installation_id)')).toBe(
      'UNIQUE USING btree (installation_id)',
    );
    expect(indexSignature('CREATE INDEX "odd ""name""" ON public."odd table" USING gin (tags)')).toBe('USING gin (tags)');
  });

  it('quoteIdent doubles quotes', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
  });
});
