import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Pool } from 'pg';
import { createArtifactStore } from '../../libs/artifacts/create-artifact-store';
import { PostgresArtifactStore } from '../../libs/artifacts/postgres-artifact-store';
import { loadConfig } from '../../libs/config/app-config';
import { S3ArtifactStore } from '../../libs/artifacts/s3-artifact-store';
import { s3LocationOf } from '../../libs/artifacts/s3-location';
import { S3RVER_CREDENTIALS, S3TestServer, startS3Server } from '../support/s3-server';
import { artifactStoreContract } from './artifact-store.contract';

let server: S3TestServer;
let run = 0;

beforeAll(async () => {
  Object.assign(process.env, S3RVER_CREDENTIALS);
  server = await startS3Server();
});
afterAll(async () => {
  await server.stop();
});

// 5 MiB parts (S3's minimum), so the contract's files take the multipart path.
artifactStoreContract('S3 (s3rver)', async () => {
  const location = s3LocationOf(server.storeUrl(`run-${++run}`));
  const store = new S3ArtifactStore(location, 5 * 1024 * 1024);
  const client = new S3Client({ region: location.region, endpoint: location.endpoint, forcePathStyle: true });
  return {
    store,
    storedPieces: async () => (await client.send(new ListObjectsV2Command({ Bucket: location.bucket, Prefix: location.prefix }))).KeyCount ?? 0,
    createsExactlyOnce: false,
    teardown: async () => {
      client.destroy();
      await store.close();
    },
  };
});

describe('ARTIFACT_STORE_URL', () => {
  it('names the bucket, the key prefix, the endpoint and the region', () => {
    expect(s3LocationOf('s3://wheels/prod/a?endpoint=http%3A%2F%2Fminio%3A9000&region=eu-west-1')).toEqual({
      bucket: 'wheels',
      prefix: 'prod/a/',
      endpoint: 'http://minio:9000',
      region: 'eu-west-1',
    });
    expect(s3LocationOf('s3://wheels').prefix).toBe('');
  });
});

describe('choosing the artifact store', () => {
  it('is PostgreSQL without ARTIFACT_STORE_URL and S3 with an s3:// one', () => {
    const pool = new Pool();
    const s3 = createArtifactStore(loadConfig({ ARTIFACT_STORE_URL: server.storeUrl('x') }), pool);
    expect(createArtifactStore(loadConfig({}), pool)).toBeInstanceOf(PostgresArtifactStore);
    expect(s3).toBeInstanceOf(S3ArtifactStore);
    return Promise.all([s3.close(), pool.end()]);
  });

  it('refuses an ARTIFACT_STORE_URL that is not s3://, naming the variable', () => {
    expect(() => loadConfig({ ARTIFACT_STORE_URL: 'https://bucket.example.com' })).toThrow(/ARTIFACT_STORE_URL must use s3:/);
    expect(() => loadConfig({ UPLOAD_MAX_BYTES: 'lots' })).toThrow(/UPLOAD_MAX_BYTES="lots" must be a size/);
    expect(loadConfig({ UPLOAD_MAX_BYTES: '10mb' }).artifacts.uploadMaxBytes).toBe(10 * 1024 * 1024);
  });
});
