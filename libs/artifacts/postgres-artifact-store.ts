import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { Pool } from 'pg';
import { ArtifactStore, ArtifactSummary, DeleteOptions, PutOptions, PutResult, StoredArtifact, isSha256 } from './artifact-store.port';
import { artifactChunksTable, artifactsTable } from './artifact-tables';
import { MeasuredChunks } from './measured-chunks';

const ARTIFACTS = artifactsTable.spec.name;
const CHUNKS = artifactChunksTable.spec.name;
/** 1 MiB: small enough to hold one in memory per upload, large enough that a wheel is few rows. */
export const POSTGRES_CHUNK_BYTES = 1024 * 1024;

/**
 * Artifacts in PostgreSQL, so every API replica and the installer see the same bytes with no other
 * infrastructure. Each chunk is written in its own short statement as it arrives (no connection is
 * held for the length of an upload), under a fresh blob id; the upload is published by one insert
 * into `artifacts` at the end, which is also where two uploads of the same bytes meet: the first
 * insert wins, the other removes its own chunks.
 */
export class PostgresArtifactStore implements ArtifactStore {
  constructor(
    private readonly pool: Pool,
    private readonly chunkBytes = POSTGRES_CHUNK_BYTES,
  ) {}

  async put(source: Readable, { maxBytes }: PutOptions): Promise<PutResult> {
    const blobId = randomUUID();
    const chunks = new MeasuredChunks(source, this.chunkBytes, maxBytes);
    try {
      let seq = 0;
      for await (const chunk of chunks) {
        await this.pool.query(`INSERT INTO ${CHUNKS} (blob_id, seq, bytes) VALUES ($1, $2, $3)`, [blobId, seq++, chunk]);
      }
      const { sha256, size } = chunks.result();
      // Inserting, or refreshing the stored bytes' stored_at, in one statement: a collector's
      // conditional delete cannot slip in between finding the bytes and confirming them. The blob
      // is published only whole: an upload outlasting the grace period may have lost its first
      // chunks to the collector, and then fails rather than storing a truncated file.
      const { rows } = await this.pool.query<{ blob_id: string }>(
        `INSERT INTO ${ARTIFACTS} (sha256, blob_id, size)
         SELECT $1, $2, $3 WHERE (SELECT count(*) FROM ${CHUNKS} WHERE blob_id = $2) = $4
         ON CONFLICT (sha256) DO UPDATE SET stored_at = now()
         RETURNING blob_id`,
        [sha256, blobId, size, seq],
      );
      if (!rows[0]) throw new Error('The upload took longer than the artifact grace period and lost chunks to the collector; upload it again.');
      const created = rows[0].blob_id === blobId;
      if (!created) await this.discard(blobId);
      return { sha256, size, created };
    } catch (error) {
      await this.discard(blobId).catch(() => undefined);
      throw error;
    }
  }

  async open(sha256: string): Promise<StoredArtifact | undefined> {
    if (!isSha256(sha256)) return undefined;
    const { rows } = await this.pool.query<{ blob_id: string; size: string }>(`SELECT blob_id, size FROM ${ARTIFACTS} WHERE sha256 = $1`, [sha256]);
    if (!rows[0]) return undefined;
    const { blob_id: blobId, size } = rows[0];
    return { sha256, size: Number(size), stream: () => Readable.from(this.chunksOf(blobId, Number(size))) };
  }

  async has(sha256: string): Promise<boolean> {
    if (!isSha256(sha256)) return false;
    const { rows } = await this.pool.query(`SELECT 1 FROM ${ARTIFACTS} WHERE sha256 = $1`, [sha256]);
    return rows.length > 0;
  }

  async delete(sha256: string, options: DeleteOptions = {}): Promise<boolean> {
    if (!isSha256(sha256)) return false;
    const { rows } = await this.pool.query<{ deleted: string }>(
      `WITH gone AS (
         DELETE FROM ${ARTIFACTS} WHERE sha256 = $1 AND ($2::timestamptz IS NULL OR stored_at < $2) RETURNING blob_id
       ), chunks AS (
         DELETE FROM ${CHUNKS} WHERE blob_id IN (SELECT blob_id FROM gone)
       )
       SELECT count(*) AS deleted FROM gone`,
      [sha256, options.storedBefore ?? null],
    );
    return Number(rows[0].deleted) > 0;
  }

  async *list(): AsyncIterable<ArtifactSummary> {
    // Paged by key, so a large store is never read in one result.
    let after = '';
    for (;;) {
      const { rows } = await this.pool.query<{ sha256: string; size: string; stored_at: Date }>(
        `SELECT sha256, size, stored_at FROM ${ARTIFACTS} WHERE sha256 > $1 ORDER BY sha256 LIMIT 500`,
        [after],
      );
      for (const row of rows) yield { sha256: row.sha256, size: Number(row.size), storedAt: row.stored_at };
      if (rows.length < 500) return;
      after = rows[rows.length - 1].sha256;
    }
  }

  /** Removes chunks of uploads that never became an artifact (cut off by a crash) written before `before`. */
  async collectAbandonedUploads(before: Date): Promise<number> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM ${CHUNKS} c WHERE c.written_at < $1 AND NOT EXISTS (SELECT 1 FROM ${ARTIFACTS} a WHERE a.blob_id = c.blob_id)`,
      [before],
    );
    return rowCount ?? 0;
  }

  async close(): Promise<void> {
    // The pool belongs to the infrastructure, which ends it.
  }

  private async discard(blobId: string): Promise<void> {
    await this.pool.query(`DELETE FROM ${CHUNKS} WHERE blob_id = $1`, [blobId]);
  }

  /** One query per chunk, so a reader holds one chunk at a time; a blob deleted under it fails the stream. */
  private async *chunksOf(blobId: string, size: number): AsyncGenerator<Buffer> {
    for (let seq = 0, read = 0; read < size; seq++) {
      const { rows } = await this.pool.query<{ bytes: Buffer }>(`SELECT bytes FROM ${CHUNKS} WHERE blob_id = $1 AND seq = $2`, [blobId, seq]);
      if (!rows[0]) throw new Error(`Artifact chunk ${seq} of blob ${blobId} is missing (deleted while being read).`);
      read += rows[0].bytes.length;
      yield rows[0].bytes;
    }
  }
}
