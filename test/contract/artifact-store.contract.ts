import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { ArtifactStore, ArtifactTooLarge } from '../../libs/artifacts/artifact-store.port';
import { collectUnreferenced } from '../../libs/artifacts/collect-unreferenced';

export interface ArtifactStoreTarget {
  store: ArtifactStore;
  /** How many pieces of bytes the backend holds in all (chunks, objects): nothing stored means 0. */
  storedPieces(): Promise<number>;
  /** Whether concurrent puts of the same bytes report `created` exactly once (true) or at least once. */
  createsExactlyOnce: boolean;
  teardown(): Promise<void>;
}

const MiB = 1024 * 1024;
const LARGE = 11 * MiB + 123; // several PostgreSQL chunks and S3 parts, the last one partial

/** Bytes as a stream of uneven pieces, as a network upload arrives. */
function streamOf(bytes: Buffer, piece = 64 * 1024 + 7): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < bytes.length; at += piece) yield bytes.subarray(at, at + piece);
    })(),
  );
}

async function readAll(stream: Readable): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of stream) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
}

async function digestsIn(store: ArtifactStore): Promise<string[]> {
  const digests: string[] = [];
  for await (const artifact of store.list()) digests.push(artifact.sha256);
  return digests.sort();
}

const sha256Of = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

export function artifactStoreContract(label: string, setup: () => Promise<ArtifactStoreTarget>): void {
  describe(`ArtifactStore contract: ${label}`, () => {
    let target: ArtifactStoreTarget;
    let store: ArtifactStore;

    beforeEach(async () => {
      target = await setup();
      store = target.store;
    });
    afterEach(async () => {
      await target.teardown();
    });

    it('given a multi-chunk file, when it is put and opened, then the same bytes come back under their sha256', async () => {
      const bytes = randomBytes(LARGE);
      const put = await store.put(streamOf(bytes), { maxBytes: 64 * MiB });
      expect(put).toEqual({ sha256: sha256Of(bytes), size: LARGE, created: true });
      const opened = await store.open(put.sha256);
      expect(opened?.size).toBe(LARGE);
      expect((await readAll(opened!.stream())).equals(bytes)).toBe(true);
      // A second stream reads the bytes again from the start.
      expect(sha256Of(await readAll(opened!.stream()))).toBe(put.sha256);
      expect(await store.has(put.sha256)).toBe(true);
    });

    it('given an empty file, when it is put, then it is stored and opens as zero bytes', async () => {
      const put = await store.put(Readable.from([]), { maxBytes: MiB });
      expect(put).toEqual({ sha256: sha256Of(Buffer.alloc(0)), size: 0, created: true });
      expect((await readAll((await store.open(put.sha256))!.stream())).length).toBe(0);
    });

    it('given bytes already stored, when they are put again, then they are stored once and created is false', async () => {
      const bytes = randomBytes(3 * MiB + 5);
      await store.put(streamOf(bytes), { maxBytes: 64 * MiB });
      const piecesAfterFirst = await target.storedPieces();
      const again = await store.put(streamOf(bytes), { maxBytes: 64 * MiB });
      expect(again).toEqual({ sha256: sha256Of(bytes), size: bytes.length, created: false });
      expect(await digestsIn(store)).toEqual([sha256Of(bytes)]);
      expect(await target.storedPieces()).toBe(piecesAfterFirst);
    });

    it('given a cap, when an endless upload passes it, then ArtifactTooLarge and nothing is stored', async () => {
      let produced = 0;
      const endless = Readable.from(
        (function* () {
          for (;;) {
            produced += MiB;
            yield randomBytes(MiB);
          }
        })(),
      );
      // Past several chunks and parts already written: they must all be taken back.
      await expect(store.put(endless, { maxBytes: 12 * MiB })).rejects.toBeInstanceOf(ArtifactTooLarge);
      // The source was not read much past the cap.
      expect(produced).toBeLessThanOrEqual(14 * MiB);
      expect(await digestsIn(store)).toEqual([]);
      expect(await target.storedPieces()).toBe(0);
    });

    it('given a file exactly at the cap, when it is put, then it is accepted; one byte more is refused', async () => {
      const bytes = randomBytes(2 * MiB);
      await expect(store.put(streamOf(Buffer.concat([bytes, Buffer.from([1])])), { maxBytes: bytes.length })).rejects.toBeInstanceOf(ArtifactTooLarge);
      expect((await store.put(streamOf(bytes), { maxBytes: bytes.length })).size).toBe(bytes.length);
    });

    it('given a source that fails midway, when it is put, then the error surfaces and nothing is stored', async () => {
      const failing = Readable.from(
        (function* () {
          yield randomBytes(2 * MiB);
          throw new Error('connection reset by client');
        })(),
      );
      await expect(store.put(failing, { maxBytes: 64 * MiB })).rejects.toThrow('connection reset by client');
      expect(await target.storedPieces()).toBe(0);
    });

    it('given the same bytes put concurrently, then every put answers their digest and they are stored once', async () => {
      const bytes = randomBytes(3 * MiB + 11);
      const puts = await Promise.all([1, 2, 3, 4].map(() => store.put(streamOf(bytes), { maxBytes: 64 * MiB })));
      for (const put of puts) expect(put.sha256).toBe(sha256Of(bytes));
      const created = puts.filter((p) => p.created).length;
      if (target.createsExactlyOnce) expect(created).toBe(1);
      else expect(created).toBeGreaterThanOrEqual(1);
      expect(await digestsIn(store)).toEqual([sha256Of(bytes)]);
      expect(sha256Of(await readAll((await store.open(sha256Of(bytes)))!.stream()))).toBe(sha256Of(bytes));
    });

    it('given an unknown digest or a string that is no digest, when opened, then undefined', async () => {
      expect(await store.open(sha256Of(randomBytes(8)))).toBeUndefined();
      expect(await store.open('../../etc/passwd')).toBeUndefined();
      expect(await store.has(sha256Of(randomBytes(8)))).toBe(false);
    });

    it('given a stored artifact, when deleted, then it is gone and a second delete answers false', async () => {
      const { sha256 } = await store.put(streamOf(randomBytes(2 * MiB + 1)), { maxBytes: 64 * MiB });
      expect(await store.delete(sha256)).toBe(true);
      expect(await store.open(sha256)).toBeUndefined();
      expect(await store.delete(sha256)).toBe(false);
      expect(await target.storedPieces()).toBe(0);
    });

    it('given a delete guarded by age, when the artifact is younger, then it is kept', async () => {
      const { sha256 } = await store.put(streamOf(randomBytes(1000)), { maxBytes: MiB });
      expect(await store.delete(sha256, { storedBefore: new Date(Date.now() - 3_600_000) })).toBe(false);
      expect(await store.has(sha256)).toBe(true);
    });

    it('given referenced and unreferenced artifacts, when collected, then only unreferenced ones past the grace period go', async () => {
      const kept = await store.put(streamOf(randomBytes(1500)), { maxBytes: MiB });
      const orphan = await store.put(streamOf(randomBytes(2 * MiB + 3)), { maxBytes: 64 * MiB });
      const referenced = new Set([kept.sha256]);
      const withinGrace = await collectUnreferenced(store, referenced, { graceMs: 3_600_000, now: new Date() });
      expect(withinGrace.deleted).toEqual([]);
      const later = await collectUnreferenced(store, referenced, { graceMs: 3_600_000, now: new Date(Date.now() + 2 * 3_600_000) });
      expect(later.deleted).toEqual([orphan.sha256]);
      expect(await digestsIn(store)).toEqual([kept.sha256]);
      expect(await store.has(kept.sha256)).toBe(true);
    });
  });
}
