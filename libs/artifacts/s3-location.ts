/** Where the S3 adapter keeps artifacts, from `s3://bucket[/prefix]?endpoint=http://…&region=…`. */
export interface S3Location {
  bucket: string;
  /** Key prefix, empty or ending in `/`. */
  prefix: string;
  /** An S3-compatible server's URL (MinIO, s3rver…); AWS's own endpoint when absent. */
  endpoint: string | undefined;
  region: string;
}

export function s3LocationOf(url: string): S3Location {
  const parsed = new URL(url);
  if (parsed.protocol !== 's3:' || !parsed.hostname) throw new Error('ARTIFACT_STORE_URL must look like s3://bucket[/prefix]?endpoint=…&region=…');
  const path = decodeURIComponent(parsed.pathname).replace(/^\/+|\/+$/g, '');
  return {
    bucket: parsed.hostname,
    prefix: path ? `${path}/` : '',
    endpoint: parsed.searchParams.get('endpoint') ?? undefined,
    region: parsed.searchParams.get('region') ?? process.env.AWS_REGION ?? 'us-east-1',
  };
}
