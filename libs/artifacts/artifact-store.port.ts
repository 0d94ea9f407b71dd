import { Readable } from 'node:stream';

/** A stored artifact's address: the lowercase hex sha256 of its bytes. */
export type Sha256 = string;

const SHA256 = /^[0-9a-f]{64}$/;

/** Whether `value` is a sha256 as the store names artifacts (64 lowercase hex digits). */
export function isSha256(value: string): value is Sha256 {
  return SHA256.test(value);
}

export interface PutOptions {
  /** The most bytes accepted: one more and the put fails with ArtifactTooLarge, storing nothing. */
  maxBytes: number;
}

export interface PutResult {
  sha256: Sha256;
  size: number;
  /**
   * false when the same bytes were stored already (content addressing stores them once). Of
   * concurrent puts of the same bytes, PostgreSQL answers true to exactly one; S3 to at least one.
   */
  created: boolean;
}

export interface DeleteOptions {
  storedBefore?: Date;
}

export interface StoredArtifact {
  sha256: Sha256;
  size: number;
  /** A fresh stream of the bytes, read as they are consumed (never the whole file in memory). */
  stream(): Readable;
}

export interface ArtifactSummary {
  sha256: Sha256;
  size: number;
  /** The last time a put stored or confirmed these bytes: what the collector's grace period counts from. */
  storedAt: Date;
}

/**
 * A content-addressed store of immutable blobs (wheels). Every adapter hashes while it stores and
 * never holds a whole file in memory; when `put` resolves the bytes are durable and `open` on any
 * replica sees them.
 */
export interface ArtifactStore {
  /**
   * Streams `source` in, hashing it. Rejects with ArtifactTooLarge past `maxBytes` (the source is
   * not read further and nothing is stored), or with the source's own error. A put of bytes already
   * stored resolves `created: false` and refreshes their `storedAt`.
   */
  put(source: Readable, options: PutOptions): Promise<PutResult>;
  /** The artifact, or undefined for a digest the store does not hold (or that is not a sha256). */
  open(sha256: string): Promise<StoredArtifact | undefined>;
  has(sha256: string): Promise<boolean>;
  /**
   * Removes the artifact; true when it was removed. With `storedBefore`, only when its `storedAt` is
   * older (the collector's guard: a put confirming the bytes meanwhile keeps them).
   */
  delete(sha256: string, options?: DeleteOptions): Promise<boolean>;
  /** Every stored artifact (for garbage collection). */
  list(): AsyncIterable<ArtifactSummary>;
  /** Removes what uploads cut off by a crash left behind, when begun before `before`; how many pieces. */
  collectAbandonedUploads(before: Date): Promise<number>;
  close(): Promise<void>;
}

/** The upload exceeded the configured cap; nothing was stored. */
export class ArtifactTooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`The artifact is larger than the limit of ${maxBytes} bytes.`);
    this.name = 'ArtifactTooLarge';
  }
}

export function isArtifactTooLarge(error: unknown): error is ArtifactTooLarge {
  return error instanceof ArtifactTooLarge;
}
