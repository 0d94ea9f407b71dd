import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { loadState } from '../application/aggregates';
import { notFound } from '../domain/domain-error';
import { Infrastructure } from '../infrastructure/infrastructure';
import { RuntimeCredentials, authenticateRuntime } from '../installations/runtime-authentication';
import { providerDecider } from '../providers/provider.decider';
import { providerStream } from '../providers/provider-identity';
import { providerVersionsProjection } from '../../projections/provider-versions.projection';
import { StoredArtifact, isSha256 } from './artifact-store.port';

/** Who asks for an artifact: an API key's organisation (already verified), or a deployed runtime. */
export type ArtifactRequester =
  | { kind: 'api-key'; organizationId: string; platformAdmin: boolean }
  | { kind: 'runtime'; credentials: RuntimeCredentials };

export class GetArtifactQuery extends Query<StoredArtifact> {
  constructor(
    readonly sha256: string,
    readonly requester: ArtifactRequester,
  ) {
    super();
  }
}

type ArtifactInfrastructure = Pick<Infrastructure, 'pool' | 'eventStore' | 'checkpoints' | 'artifacts' | 'aggregates'>;

const NOT_FOUND = () => notFound('artifact_not_found', 'No artifact with this sha256 is available to you.');

/**
 * An artifact's bytes, for those entitled to them: a platform admin; a key of an organisation that
 * published a version referencing the digest; a runtime whose installation's version references it.
 * Anyone else is told the artifact does not exist, exactly as for an unknown digest, so probing
 * digests reveals nothing.
 */
@QueryHandler(GetArtifactQuery)
export class GetArtifactHandler implements IQueryHandler<GetArtifactQuery, StoredArtifact> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: ArtifactInfrastructure) {}

  async execute({ sha256, requester }: GetArtifactQuery): Promise<StoredArtifact> {
    const digest = sha256.toLowerCase();
    if (!isSha256(digest)) throw NOT_FOUND();
    const allowed = requester.kind === 'runtime' ? await this.runtimeMayRead(requester.credentials, digest) : await this.keyMayRead(requester, digest);
    const artifact = allowed ? await this.infrastructure.artifacts.open(digest) : undefined;
    if (!artifact) throw NOT_FOUND();
    return artifact;
  }

  private async keyMayRead(requester: Extract<ArtifactRequester, { kind: 'api-key' }>, digest: string): Promise<boolean> {
    if (requester.platformAdmin) return true;
    const { rows } = await this.infrastructure.pool.query(
      `SELECT 1 FROM ${providerVersionsProjection.table.name} WHERE lower(wheel_sha256) = $1 AND publisher_org = $2 LIMIT 1`,
      [digest, requester.organizationId],
    );
    return rows.length > 0;
  }

  /**
   * The token must be good for its installation and generation (else 401, as on every runtime
   * route); the version read from the provider's own stream, so a version just published is seen.
   */
  private async runtimeMayRead(credentials: RuntimeCredentials, digest: string): Promise<boolean> {
    const { state: installation } = await authenticateRuntime(this.infrastructure, credentials);
    const { state: provider } = await loadState(this.infrastructure.aggregates, providerDecider, providerStream(installation));
    if (provider.status === 'unknown') return false;
    const deployed = [installation.installedVersion, installation.currentVersion];
    return deployed.some((version) => version !== null && provider.versions[version]?.wheel_sha256?.toLowerCase() === digest);
  }
}
