import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildWheel, wheelFilename } from '../../test/support/wheel-builder';
import { inspectWheel, readWheelMetadata, sameVersion } from './wheel-inspection';

describe('wheel inspection', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'wheel-inspection-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function file(bytes: Buffer): string {
    const target = path.join(dir, `${Math.random().toString(36).slice(2)}.whl`);
    writeFileSync(target, bytes);
    return target;
  }

  it('accepts a good wheel and infers its top-level package', async () => {
    const wheel = file(buildWheel({ distribution: 'acme-pkg', version: '1.0.0', files: { 'acme_pkg/__init__.py': 'X = 1\n', 'acme_pkg/core.py': 'Y = 2\n' } }));
    await expect(inspectWheel(wheel, wheelFilename('acme-pkg', '1.0.0'), '1.0.0')).resolves.toEqual({ ok: true, name: 'acme-pkg', version: '1.0.0', packageName: 'acme_pkg' });
    await expect(readWheelMetadata(wheel)).resolves.toEqual({ name: 'acme-pkg', version: '1.0.0' });
  });

  it('refuses a filename that breaks the wheel naming rules', async () => {
    const wheel = file(buildWheel({ distribution: 'acme-pkg', version: '1.0.0' }));
    const result = await inspectWheel(wheel, 'acme-pkg.whl', '1.0.0');
    expect(result).toEqual({ ok: false, problem: expect.stringContaining('naming rules') });
  });

  it('refuses a filename carrying another version', async () => {
    const wheel = file(buildWheel({ distribution: 'acme-pkg', version: '1.0.0' }));
    const result = await inspectWheel(wheel, wheelFilename('acme-pkg', '1.0.0'), '2.0.0');
    expect(result).toEqual({ ok: false, problem: expect.stringContaining('carries version 1.0.0, not the published 2.0.0') });
  });

  it('refuses METADATA with another Version or another Name', async () => {
    const wrongVersion = file(buildWheel({ distribution: 'acme-pkg', version: '1.0.0', metadataVersion: '0.9.0' }));
    expect(await inspectWheel(wrongVersion, wheelFilename('acme-pkg', '1.0.0'), '1.0.0')).toEqual({ ok: false, problem: expect.stringContaining('Version 0.9.0') });
    const wrongName = file(buildWheel({ distribution: 'acme-pkg', version: '1.0.0', metadataName: 'other' }));
    expect(await inspectWheel(wrongName, wheelFilename('acme-pkg', '1.0.0'), '1.0.0')).toEqual({ ok: false, problem: expect.stringContaining('"other"') });
  });

  it('accepts the PEP 503 spelling of the name and the PEP 440 spelling of a prerelease', async () => {
    const wheel = file(buildWheel({ distribution: 'Acme.Pkg', version: '1.0.0rc1' }));
    const result = await inspectWheel(wheel, wheelFilename('Acme.Pkg', '1.0.0rc1'), '1.0.0-rc.1');
    expect(result).toMatchObject({ ok: true });
    expect(sameVersion('1.0.10', '1.01.0')).toBe(false);
  });

  it('refuses a file whose bytes do not match RECORD, naming the file', async () => {
    const wheel = file(buildWheel({ distribution: 'acme-pkg', version: '1.0.0', tamper: { 'acme_pkg/__init__.py': 'import os; os.system("evil")\n' } }));
    const result = await inspectWheel(wheel, wheelFilename('acme-pkg', '1.0.0'), '1.0.0');
    expect(result).toEqual({ ok: false, problem: expect.stringMatching(/^RECORD mismatch: acme_pkg\/__init__\.py/) });
  });

  it('refuses a wheel without METADATA', async () => {
    const wheel = file(buildWheel({ distribution: 'acme-pkg', version: '1.0.0', withoutMetadata: true }));
    const result = await inspectWheel(wheel, wheelFilename('acme-pkg', '1.0.0'), '1.0.0');
    expect(result).toEqual({ ok: false, problem: expect.stringContaining('no acme_pkg-1.0.0.dist-info/METADATA') });
  });

  it('refuses a file that is not a zip', async () => {
    const result = await inspectWheel(file(Buffer.from('this is not a zip archive at all')), wheelFilename('acme-pkg', '1.0.0'), '1.0.0');
    expect(result).toEqual({ ok: false, problem: expect.stringContaining('not a valid zip archive') });
  });
});
