import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import * as yauzl from 'yauzl';

/**
 * What the platform checks inside an uploaded wheel before its version may be installed (PEP 427 /
 * the binary distribution format): a zip, a well-formed filename carrying the published version, one
 * `.dist-info` whose METADATA names the same distribution and version, and a RECORD whose hashes match
 * every file. Imports only Node and yauzl: the sample runtime reads METADATA with it too.
 */
export type WheelInspection =
  | { ok: true; name: string; version: string; packageName: string | null }
  | { ok: false; problem: string };

export interface WheelFilename {
  distribution: string;
  version: string;
}

/** METADATA and RECORD are read whole: beyond this they are not what a wheel carries. */
const MAX_TEXT_BYTES = 8 * 1024 * 1024;
const MAX_ENTRIES = 100_000;
const FILENAME = /^(?<distribution>[^\s/-]+?)-(?<version>[^\s/-]+?)(?:-(?<build>\d[^\s/-]*))?-(?<python>[^\s/-]+?)-(?<abi>[^\s/-]+?)-(?<platform>[^\s/-]+?)\.whl$/;
const HASHES: Record<string, string> = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

export function parseWheelFilename(filename: string): WheelFilename | undefined {
  const groups = FILENAME.exec(filename)?.groups;
  return groups ? { distribution: groups.distribution, version: groups.version } : undefined;
}

/** PEP 503: runs of `-`, `_`, `.` are one `-`, case does not matter. */
export function normaliseDistributionName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/**
 * Whether two spellings name the same version: a semver `1.0.0-rc.1`, its PEP 440 form `1.0.0rc1` and
 * the filename's escaped `1.0.0_rc.1` compare equal; numbers compare as numbers (`01` is `1`).
 */
export function sameVersion(a: string, b: string): boolean {
  const tokens = (v: string) =>
    (v.toLowerCase().match(/\d+|[a-z]+/g) ?? []).map((t) => (/^\d+$/.test(t) ? String(Number(t)) : ({ alpha: 'a', beta: 'b', c: 'rc', pre: 'rc', preview: 'rc' } as Record<string, string>)[t] ?? t));
  return tokens(a).join('.') === tokens(b).join('.');
}

/** Checks the wheel at `path`, uploaded as `filename` for version `expectedVersion`. */
export async function inspectWheel(path: string, filename: string, expectedVersion: string): Promise<WheelInspection> {
  const parsed = parseWheelFilename(filename);
  if (!parsed) return fail(`the filename "${filename}" does not follow the wheel naming rules ({distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl)`);
  if (!sameVersion(parsed.version, expectedVersion)) return fail(`the filename "${filename}" carries version ${parsed.version}, not the published ${expectedVersion}`);
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(path);
  } catch (error) {
    return fail(`the file is not a valid zip archive (${(error as Error).message})`);
  }
  try {
    return await inspectArchive(zip, parsed, expectedVersion);
  } catch (error) {
    return fail(`the archive could not be read (${(error as Error).message})`);
  } finally {
    zip.close();
  }
}

/** The Name and Version the wheel's METADATA declares (what a runtime reports it runs). */
export async function readWheelMetadata(path: string): Promise<{ name: string; version: string }> {
  const zip = await openZip(path);
  try {
    const entries = await listEntries(zip);
    const metadata = entries.find((e) => /^[^/]+\.dist-info\/METADATA$/.test(e.fileName));
    if (!metadata) throw new Error('the wheel has no *.dist-info/METADATA');
    const headers = parseMetadata(await readText(zip, metadata));
    if (!headers.name || !headers.version) throw new Error('METADATA lacks Name or Version');
    return { name: headers.name, version: headers.version };
  } finally {
    zip.close();
  }
}

async function inspectArchive(zip: yauzl.ZipFile, filename: WheelFilename, expectedVersion: string): Promise<WheelInspection> {
  const entries = await listEntries(zip);
  const distInfos = [...new Set(entries.map((e) => /^([^/]+\.dist-info)\//.exec(e.fileName)?.[1]).filter((d): d is string => d !== undefined))];
  if (distInfos.length !== 1) return fail(distInfos.length === 0 ? 'the wheel has no *.dist-info folder' : `the wheel has ${distInfos.length} *.dist-info folders, not one`);
  const distInfo = distInfos[0];
  const byName = new Map(entries.map((e) => [e.fileName, e]));
  const metadataEntry = byName.get(`${distInfo}/METADATA`);
  if (!metadataEntry) return fail(`the wheel has no ${distInfo}/METADATA`);
  const metadata = parseMetadata(await readText(zip, metadataEntry));
  if (!metadata.name || !metadata.version) return fail(`${distInfo}/METADATA lacks a Name or a Version`);
  if (normaliseDistributionName(metadata.name) !== normaliseDistributionName(filename.distribution)) {
    return fail(`METADATA names the distribution "${metadata.name}", but the filename names "${filename.distribution}"`);
  }
  if (!sameVersion(metadata.version, expectedVersion)) return fail(`METADATA carries Version ${metadata.version}, not the published ${expectedVersion}`);
  const recordEntry = byName.get(`${distInfo}/RECORD`);
  if (!recordEntry) return fail(`the wheel has no ${distInfo}/RECORD`);
  const record = parseRecord(await readText(zip, recordEntry));
  const problem = await recordProblem(zip, entries, record, distInfo);
  if (problem) return fail(problem);
  return { ok: true, name: metadata.name, version: metadata.version, packageName: topLevelPackage([...record.keys()], filename.distribution) };
}

/** The first file whose bytes disagree with RECORD, or that RECORD leaves out, or that is missing. */
async function recordProblem(zip: yauzl.ZipFile, entries: yauzl.Entry[], record: Map<string, string>, distInfo: string): Promise<string | undefined> {
  const unsigned = new Set([`${distInfo}/RECORD`, `${distInfo}/RECORD.jws`, `${distInfo}/RECORD.p7s`]);
  const files = entries.filter((e) => !e.fileName.endsWith('/'));
  for (const entry of files) {
    if (unsigned.has(entry.fileName)) continue;
    const expected = record.get(entry.fileName);
    if (!expected) return `RECORD has no hash for ${entry.fileName}`;
    const [algorithm, digest] = expected.split('=', 2);
    if (!HASHES[algorithm] || !digest) return `RECORD's hash for ${entry.fileName} is not sha256/sha384/sha512=<urlsafe base64>`;
    const actual = await hashOf(zip, entry, HASHES[algorithm]);
    if (actual !== digest) return `RECORD mismatch: ${entry.fileName} hashes to ${algorithm}=${actual}, RECORD says ${expected}`;
  }
  const present = new Set(files.map((e) => e.fileName));
  const missing = [...record.keys()].find((file) => !present.has(file) && !unsigned.has(file));
  return missing ? `RECORD lists ${missing}, which is not in the wheel` : undefined;
}

/** The importable package a runtime loads: a top-level folder with `__init__.py`, else a top-level module. */
function topLevelPackage(files: string[], distribution: string): string | null {
  const topLevel = files.filter((f) => !/^[^/]+\.(dist-info|data)\//.test(f));
  const packages = [...new Set(topLevel.filter((f) => /^[^/]+\/__init__\.py$/.test(f)).map((f) => f.split('/')[0]))];
  const modules = topLevel.filter((f) => /^[^/]+\.py$/.test(f)).map((f) => f.slice(0, -3));
  const candidates = [...packages, ...modules].sort();
  const preferred = distribution.replace(/[-.]+/g, '_').toLowerCase();
  return candidates.find((c) => c.toLowerCase() === preferred) ?? candidates[0] ?? null;
}

function parseMetadata(text: string): { name?: string; version?: string } {
  const headers: { name?: string; version?: string } = {};
  // Headers end at the first blank line; the long description follows.
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    const match = /^(Name|Version):\s*(.*?)\s*$/i.exec(line);
    if (match) headers[match[1].toLowerCase() as 'name' | 'version'] ??= match[2];
  }
  return headers;
}

/** RECORD is CSV (path, hash, size); a path with a comma or a quote is quoted, quotes doubled. */
function parseRecord(text: string): Map<string, string> {
  const record = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const fields = csvFields(line);
    if (fields[0]) record.set(fields[0], fields[1] ?? '');
  }
  return record;
}

function csvFields(line: string): string[] {
  const fields: string[] = [];
  const field = /(?:^|,)(?:"((?:[^"]|"")*)"|([^,]*))/g;
  for (let m = field.exec(line); m; m = field.exec(line)) {
    fields.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]);
    if (m.index + m[0].length >= line.length) break;
  }
  return fields;
}

function fail(problem: string): WheelInspection {
  return { ok: false, problem };
}

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(path, { lazyEntries: true, autoClose: false, strictFileNames: true, validateEntrySizes: true }, (error, zip) => (error ? reject(error) : resolve(zip))),
  );
}

function listEntries(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: yauzl.Entry[] = [];
    zip.on('entry', (entry: yauzl.Entry) => {
      if (entries.push(entry) > MAX_ENTRIES) return reject(new Error(`more than ${MAX_ENTRIES} entries`));
      zip.readEntry();
    });
    zip.once('end', () => resolve(entries));
    zip.once('error', reject);
    zip.readEntry();
  });
}

function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => zip.openReadStream(entry, (error, stream) => (error ? reject(error) : resolve(stream))));
}

async function readText(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<string> {
  if (entry.uncompressedSize > MAX_TEXT_BYTES) throw new Error(`${entry.fileName} is larger than ${MAX_TEXT_BYTES} bytes`);
  const chunks: Buffer[] = [];
  for await (const chunk of await openEntry(zip, entry)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function hashOf(zip: yauzl.ZipFile, entry: yauzl.Entry, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of await openEntry(zip, entry)) hash.update(chunk as Buffer);
  return hash.digest('base64url');
}
