import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readWheelMetadata } from '../../../libs/wheels/wheel-inspection';

/** What the runtime was handed about its wheel (PROVIDER_WHEEL_URL / PROVIDER_WHEEL_SHA256). */
export interface WheelSource {
  url: string;
  sha256: string;
}

export interface RuntimeIdentity {
  storeUrl: string;
  installationId: string;
  generation: number;
  token: string;
}

/** The wheel a runtime loaded, as its METADATA names it. */
export interface LoadedWheel {
  name: string;
  version: string;
}

/** Whether the wheel is served by the store this runtime calls back (an upload), not by a publisher's host. */
export function isStoredWheel(source: WheelSource | undefined, storeUrl: string): source is WheelSource {
  return source !== undefined && source.url.startsWith(`${storeUrl}/artifacts/`);
}

/** The digest did not match: the runtime must not run (nor register) what it downloaded. */
export class WheelDigestMismatch extends Error {
  constructor(expected: string, actual: string) {
    super(`the downloaded wheel's sha256 is ${actual}, not the expected ${expected}`);
    this.name = 'WheelDigestMismatch';
  }
}

/**
 * Downloads the wheel with the runtime's registration token (into TMPDIR, the runtime's own work
 * folder), verifies its sha256 before anything reads it, and reads its METADATA Name and Version.
 */
export async function fetchStoredWheel(source: WheelSource, identity: RuntimeIdentity, signal: AbortSignal): Promise<LoadedWheel> {
  const response = await fetch(source.url, {
    headers: { authorization: `Bearer ${identity.token}`, 'x-installation-id': identity.installationId, 'x-generation': String(identity.generation) },
    signal,
  });
  if (!response.ok || !response.body) {
    await response.arrayBuffer().catch(() => undefined);
    throw new Error(`the wheel download answered ${response.status}`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'wheel-'));
  try {
    const file = path.join(dir, 'provider.whl');
    const hash = createHash('sha256');
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(response.body), hashing, createWriteStream(file, { mode: 0o600 }));
    const actual = hash.digest('hex');
    if (source.sha256 && actual !== source.sha256) throw new WheelDigestMismatch(source.sha256, actual);
    return await readWheelMetadata(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
