import { Pool } from 'pg';
import { AppConfig } from '../config/app-config';
import { ArtifactStore } from './artifact-store.port';
import { PostgresArtifactStore } from './postgres-artifact-store';
import { S3ArtifactStore, s3LocationOf } from './s3-artifact-store';

/** The artifact store the configuration names: S3 for an `s3://` ARTIFACT_STORE_URL, else PostgreSQL. */
export function createArtifactStore(config: Pick<AppConfig, 'artifacts'>, pool: Pool): ArtifactStore {
  const url = config.artifacts.storeUrl;
  return url ? new S3ArtifactStore(s3LocationOf(url)) : new PostgresArtifactStore(pool);
}
