import { createHash } from 'node:crypto';
import { crc32, deflateRawSync } from 'node:zlib';

/**
 * Builds real wheels for tests: a zip (deflated entries, a central directory) with a `.dist-info`
 * holding METADATA, WHEEL and a RECORD of every file's sha256, as `pip wheel` would write them.
 */
export interface WheelSpec {
  distribution: string;
  version: string;
  /** Files besides the dist-info ones, path → content. */
  files?: Record<string, string>;
  /** Overrides METADATA's Name / Version (to build inconsistent wheels). */
  metadataName?: string;
  metadataVersion?: string;
  /** Replaces these files' bytes after RECORD was written (a tampered wheel). */
  tamper?: Record<string, string>;
  /** Leaves METADATA out. */
  withoutMetadata?: boolean;
}

export function wheelFilename(distribution: string, version: string): string {
  return `${distribution.replace(/[-.]/g, '_')}-${version.replace(/-/g, '_')}-py3-none-any.whl`;
}

export function buildWheel(spec: WheelSpec): Buffer {
  const distInfo = `${spec.distribution.replace(/[-.]/g, '_')}-${spec.version.replace(/-/g, '_')}.dist-info`;
  const files: Record<string, string> = {
    ...(spec.files ?? { [`${spec.distribution.replace(/[-.]/g, '_')}/__init__.py`]: 'VALUE = 1\n' }),
    [`${distInfo}/WHEEL`]: 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
  };
  if (!spec.withoutMetadata) {
    files[`${distInfo}/METADATA`] = `Metadata-Version: 2.1\nName: ${spec.metadataName ?? spec.distribution}\nVersion: ${spec.metadataVersion ?? spec.version}\n\nA test wheel.\n`;
  }
  const record = Object.entries(files)
    .map(([path, content]) => `${path},sha256=${createHash('sha256').update(content).digest('base64url')},${Buffer.byteLength(content)}`)
    .concat(`${distInfo}/RECORD,,`)
    .join('\n');
  const entries = { ...files, ...(spec.tamper ?? {}), [`${distInfo}/RECORD`]: `${record}\n` };
  return zip(Object.entries(entries).map(([name, content]) => ({ name, data: Buffer.from(content) })));
}

/** A minimal zip writer (deflate, no extras): enough for yauzl and for pip. */
export function zip(entries: Array<{ name: string; data: Buffer }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const { name, data } of entries) {
    const nameBytes = Buffer.from(name);
    const compressed = deflateRawSync(data);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, compressed);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + compressed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
