import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { ArtifactStore, ArtifactSummary, DeleteOptions, PutOptions, PutResult, StoredArtifact, isSha256 } from './artifact-store.port';
import { bytesOf } from './bytes-of';
import { MeasuredChunks } from './measured-chunks';
import { S3Location, s3LocationOf } from './s3-location';

export { s3LocationOf };

/** 8 MiB parts: above S3's 5 MiB minimum, and the most an upload holds in memory at once. */
export const S3_PART_BYTES = 8 * 1024 * 1024;

/**
 * Artifacts as objects `<prefix>sha256/<hex>` in an S3-compatible bucket; credentials come from the
 * standard AWS environment. The digest is only known at the end of an upload, so an upload larger
 * than one part goes to a staging key `<prefix>uploads/<uuid>` by multipart upload and is copied to
 * its digest's key once complete; a one-part upload is written straight to it.
 */
export class S3ArtifactStore implements ArtifactStore {
  private readonly client: S3Client;

  constructor(
    private readonly location: S3Location,
    private readonly partBytes = S3_PART_BYTES,
  ) {
    this.client = new S3Client({ region: location.region, endpoint: location.endpoint, forcePathStyle: location.endpoint !== undefined });
  }

  async put(source: Readable, { maxBytes }: PutOptions): Promise<PutResult> {
    const parts = new MeasuredChunks(source, this.partBytes, maxBytes);
    const iterator = parts[Symbol.asyncIterator]();
    const first = await iterator.next();
    const second = first.done ? first : await iterator.next();
    if (second.done) {
      const { sha256, size } = parts.result();
      const body = first.done ? Buffer.alloc(0) : first.value;
      if (await this.touch(sha256)) return { sha256, size, created: false };
      await this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: this.keyOf(sha256), Body: body, ContentLength: body.length }));
      return { sha256, size, created: true };
    }
    const staging = `${this.location.prefix}uploads/${randomUUID()}`;
    await this.uploadInParts(staging, [first.value, second.value], iterator);
    try {
      const { sha256, size } = parts.result();
      if (await this.touch(sha256)) return { sha256, size, created: false };
      await this.client.send(
        new CopyObjectCommand({ Bucket: this.location.bucket, Key: this.keyOf(sha256), CopySource: `${this.location.bucket}/${encodeURI(staging)}` }),
      );
      return { sha256, size, created: true };
    } finally {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: staging })).catch(() => undefined);
    }
  }

  async open(sha256: string): Promise<StoredArtifact | undefined> {
    const head = await this.head(sha256);
    if (!head) return undefined;
    const key = this.keyOf(sha256);
    const fetchBody = async function* (client: S3Client, bucket: string): AsyncGenerator<Buffer> {
      const { Body } = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!(Body instanceof Readable)) throw new Error(`The S3 client returned no stream for ${key}.`);
      for await (const piece of Body) yield bytesOf(piece);
    };
    return { sha256, size: head.size, stream: () => Readable.from(fetchBody(this.client, this.location.bucket)) };
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.head(sha256)) !== undefined;
  }

  async delete(sha256: string, options: DeleteOptions = {}): Promise<boolean> {
    const head = await this.head(sha256);
    if (!head) return false;
    // S3 has no conditional delete on age: a put confirming these bytes between the check and the
    // delete is lost. The collector's grace period makes that window matter only for bytes no
    // version has referenced for the whole period.
    if (options.storedBefore && head.storedAt >= options.storedBefore) return false;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.keyOf(sha256) }));
    return true;
  }

  async *list(): AsyncIterable<ArtifactSummary> {
    const prefix = `${this.location.prefix}sha256/`;
    for await (const object of this.objectsUnder(prefix)) {
      const sha256 = object.key.slice(prefix.length);
      if (isSha256(sha256)) yield { sha256, size: object.size, storedAt: object.lastModified };
    }
  }

  /**
   * Deletes staging objects older than `before` (a crash between completing an upload and copying
   * it). Incomplete multipart uploads are the bucket's lifecycle rule's to abort
   * (AbortIncompleteMultipartUpload): listing them is not part of every S3-compatible server.
   */
  async collectAbandonedUploads(before: Date): Promise<number> {
    let removed = 0;
    for await (const object of this.objectsUnder(`${this.location.prefix}uploads/`)) {
      if (object.lastModified >= before) continue;
      await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: object.key }));
      removed++;
    }
    return removed;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private keyOf(sha256: string): string {
    return `${this.location.prefix}sha256/${sha256}`;
  }

  private async uploadInParts(key: string, firstParts: Buffer[], rest: AsyncIterator<Buffer>): Promise<void> {
    const bucket = this.location.bucket;
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const etags: Array<{ ETag: string | undefined; PartNumber: number }> = [];
    try {
      const send = async (body: Buffer): Promise<void> => {
        const PartNumber = etags.length + 1;
        const { ETag } = await this.client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber, Body: body, ContentLength: body.length }));
        etags.push({ ETag, PartNumber });
      };
      for (const part of firstParts) await send(part);
      for (let next = await rest.next(); !next.done; next = await rest.next()) await send(next.value);
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: etags } }));
    } catch (error) {
      // Best effort: not every S3-compatible server aborts; the bucket's lifecycle rule is the backstop.
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => undefined);
      throw error;
    }
  }

  /** Refreshes a stored object's date (a copy onto itself) so the collector's grace period restarts; false when absent. */
  private async touch(sha256: string): Promise<boolean> {
    if (!(await this.head(sha256))) return false;
    const key = this.keyOf(sha256);
    await this.client.send(
      new CopyObjectCommand({
        Bucket: this.location.bucket,
        Key: key,
        CopySource: `${this.location.bucket}/${encodeURI(key)}`,
        MetadataDirective: 'REPLACE',
        Metadata: { 'confirmed-at': new Date().toISOString() },
      }),
    );
    return true;
  }

  private async head(sha256: string): Promise<{ size: number; storedAt: Date } | undefined> {
    if (!isSha256(sha256)) return undefined;
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.keyOf(sha256) }));
      return { size: head.ContentLength ?? 0, storedAt: head.LastModified ?? new Date(0) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private async *objectsUnder(prefix: string): AsyncGenerator<{ key: string; size: number; lastModified: Date }> {
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: prefix, ContinuationToken }));
      for (const object of page.Contents ?? []) {
        if (object.Key) yield { key: object.Key, size: object.Size ?? 0, lastModified: object.LastModified ?? new Date(0) };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }
}

/** The SDK's errors carry the HTTP status in `$metadata`; a HEAD's 404 has no body to name it. */
function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.name === 'NotFound' || error.name === 'NoSuchKey' || error.$metadata.httpStatusCode === 404;
}
