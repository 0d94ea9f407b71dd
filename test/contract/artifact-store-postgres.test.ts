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
