import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
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
