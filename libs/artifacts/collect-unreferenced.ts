import { ArtifactStore } from './artifact-store.port';

export interface CollectionOptions {
  /** Artifacts stored or confirmed (a put of the same bytes) within this long before `now` are kept. */
  graceMs: number;
  now: Date;
}

export interface CollectionReport {
  deleted: string[];
  /** Pieces of uploads cut off by a crash that were removed. */
  abandoned: number;
}

/**
 * Deletes every artifact no provider version references, unless it was stored or confirmed within
 * the grace period: an upload is stored before its version is appended, so a young artifact nothing
 * references yet is one whose version is on its way. The delete itself re-checks the age, so a put
 * confirming the bytes during the sweep keeps them.
 */
export async function collectUnreferenced(
  store: ArtifactStore,
  referencedDigests: ReadonlySet<string>,
  { graceMs, now }: CollectionOptions,
): Promise<CollectionReport> {
  const storedBefore = new Date(now.getTime() - graceMs);
  const candidates: string[] = [];
  // Listed first, deleted after: a listing is not disturbed by deletes made while it pages.
  for await (const artifact of store.list()) {
    if (!referencedDigests.has(artifact.sha256) && artifact.storedAt < storedBefore) candidates.push(artifact.sha256);
  }
  const deleted: string[] = [];
  for (const sha256 of candidates) {
    if (await store.delete(sha256, { storedBefore })) deleted.push(sha256);
  }
  const abandoned = await store.collectAbandonedUploads(storedBefore);
  return { deleted, abandoned };
}
