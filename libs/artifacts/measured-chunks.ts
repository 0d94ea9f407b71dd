import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ArtifactTooLarge } from './artifact-store.port';
import { bytesOf } from './bytes-of';

/**
 * Reads a source as chunks of `chunkSize` bytes (the last one shorter), hashing and counting as it
 * goes, so an adapter can store each chunk as it arrives and learn the digest at the end. Past
 * `maxBytes` it throws ArtifactTooLarge and stops reading the source.
 */
export class MeasuredChunks implements AsyncIterable<Buffer> {
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private finished = false;

  constructor(
    private readonly source: Readable,
    private readonly chunkSize: number,
    private readonly maxBytes: number,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for await (const piece of this.source) {
      const buffer = bytesOf(piece);
      this.bytes += buffer.length;
      // Leaving the loop destroys the source: an oversized upload is not read to its end.
      if (this.bytes > this.maxBytes) throw new ArtifactTooLarge(this.maxBytes);
      this.hash.update(buffer);
      pending.push(buffer);
      pendingBytes += buffer.length;
      while (pendingBytes >= this.chunkSize) {
        const joined = Buffer.concat(pending, pendingBytes);
        yield joined.subarray(0, this.chunkSize);
        const rest = joined.subarray(this.chunkSize);
        pending = rest.length > 0 ? [rest] : [];
        pendingBytes = rest.length;
      }
    }
    if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
    this.finished = true;
  }

  /** The digest and size of everything read; only once the iteration has completed. */
  result(): { sha256: string; size: number } {
    if (!this.finished) throw new Error('The source has not been read to its end.');
    return { sha256: this.hash.digest('hex'), size: this.bytes };
  }
}
