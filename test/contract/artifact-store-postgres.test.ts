import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { collectUnreferenced } from '../../libs/artifacts/collect-unreferenced';
import { PostgresArtifactStore } from '../../libs/artifacts/postgres-artifact-store';
import { artifactChunksTable } from '../../libs/artifacts/artifact-tables';
import { createTestDatabase } from '../support/test-database';
import { artifactStoreContract } from './artifact-store.contract';

artifactStoreContract('PostgreSQL', async () => {
  const db = await createTestDatabase('artifacts');
  return {
    store: new PostgresArtifactStore(db.pool),
    storedPieces: async () => Number((await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${artifactChunksTable.spec.name}`)).rows[0].n),
    createsExactlyOnce: true,
    teardown: () => db.drop(),
  };
});

describe('PostgreSQL artifact store: uploads cut off', () => {
  it('given chunks of an upload that never finished, when collected past the grace period, then they go and artifacts stay', async () => {
    const db = await createTestDatabase('artifacts');
    try {
      const store = new PostgresArtifactStore(db.pool);
      const kept = await store.put(Readable.from([randomBytes(5000)]), { maxBytes: 1 << 20 });
      await db.pool.query(`INSERT INTO ${artifactChunksTable.spec.name} (blob_id, seq, bytes, written_at) VALUES ($1, 0, $2, now() - interval '2 hours')`, [randomUUID(), randomBytes(100)]);
      const young = await collectUnreferenced(store, new Set([kept.sha256]), { graceMs: 3_600_000 * 3, now: new Date() });
      expect(young.abandoned).toBe(0);
      const report = await collectUnreferenced(store, new Set([kept.sha256]), { graceMs: 3_600_000, now: new Date() });
      expect(report).toEqual({ deleted: [], abandoned: 1 });
      expect(await store.has(kept.sha256)).toBe(true);
    } finally {
      await db.drop();
    }
  });

  it('given an upload whose first chunks the collector took, when it completes, then it fails and stores nothing', async () => {
    const db = await createTestDatabase('artifacts');
    try {
      // Small chunks, and a source that lets the collector run between its chunks.
      const store = new PostgresArtifactStore(db.pool, 1024);
      const source = Readable.from(
        (async function* () {
          yield randomBytes(2048);
          // The stream reads ahead of the store: wait for the first chunk to be written, then take it.
          const taken = async () => (await db.pool.query(`DELETE FROM ${artifactChunksTable.spec.name} WHERE seq = 0`)).rowCount;
          while (!(await taken())) await new Promise((r) => setTimeout(r, 5));
          yield randomBytes(2048);
        })(),
      );
      await expect(store.put(source, { maxBytes: 1 << 20 })).rejects.toThrow(/grace period/);
      expect((await db.pool.query(`SELECT count(*)::int AS n FROM ${artifactChunksTable.spec.name}`)).rows[0].n).toBe(0);
      const listed = [];
      for await (const artifact of store.list()) listed.push(artifact);
      expect(listed).toEqual([]);
    } finally {
      await db.drop();
    }
  });
});
