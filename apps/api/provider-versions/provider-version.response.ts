import { ApiProperty } from '@nestjs/swagger';
import { VersionState } from '../../../libs/providers/provider.decider';
import { ProviderId, canonicalOf } from '../../../libs/providers/provider-identity';

export class ResourceSchemaResponse {
  @ApiProperty({ example: 'database' }) resource_type!: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) schema!: Record<string, unknown>;
}

/** The platform's ProviderVersion, every field present (null where absent). */
export class ProviderVersionResponse {
  @ApiProperty() prefix!: string;
  @ApiProperty() name!: string;
  @ApiProperty() version!: string;
  @ApiProperty() runtime_version!: string;
  @ApiProperty({ example: 'acme/postgres' }) canonical!: string;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiProperty({ type: String, nullable: true }) wheel_url!: string | null;
  @ApiProperty({ type: String, nullable: true, pattern: '^[0-9a-f]{64}$' }) wheel_sha256!: string | null;
  @ApiProperty({ type: String, nullable: true, minLength: 1, maxLength: 200 }) package_name!: string | null;
  @ApiProperty({ type: [String], nullable: true }) entrypoint!: string[] | null;
  @ApiProperty({ type: String, nullable: true }) source_hash!: string | null;
  @ApiProperty({ type: String, nullable: true }) build_id!: string | null;
  @ApiProperty({ type: [ResourceSchemaResponse], nullable: true, description: 'One element per resource type: { resource_type, schema }' })
  schemas!: ResourceSchemaResponse[] | null;
  @ApiProperty({ type: String, nullable: true }) changelog!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'OCI image the Kubernetes deployer runs for this version; null: the configured runtime image at runtime_version' })
  runtime_image!: string | null;
  @ApiProperty({ enum: ['building', 'published', 'failed', 'yanked'] }) status!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) published_at!: string | null;
  @ApiProperty({ type: String, nullable: true }) error_message!: string | null;
}

export function versionFromState(id: ProviderId, v: VersionState): ProviderVersionResponse {
  return {
    prefix: id.prefix,
    name: id.name,
    version: v.version,
    runtime_version: v.runtime_version,
    canonical: canonicalOf(id),
    created_at: iso(v.created_at),
    updated_at: iso(v.updated_at),
    wheel_url: v.wheel_url,
    wheel_sha256: v.wheel_sha256,
    package_name: v.package_name,
    entrypoint: v.entrypoint,
    source_hash: null,
    build_id: null,
    schemas: v.schemas,
    changelog: v.changelog,
    runtime_image: v.runtime_image ?? null,
    status: v.status,
    published_at: v.published_at ? iso(v.published_at) : null,
    error_message: v.error_message ?? null,
  };
}

/** A provider_versions row as node-postgres returns it. */
export interface ProviderVersionRecord {
  prefix: string;
  name: string;
  version: string;
  runtime_version: string;
  wheel_url: string | null;
  wheel_sha256: string | null;
  package_name: string | null;
  entrypoint: string[] | null;
  schemas: ResourceSchemaResponse[] | null;
  changelog: string | null;
  runtime_image: string | null;
  status: VersionState['status'];
  published_at: Date | null;
  /** Absent from rows written before uploads were validated. */
  error_message?: string | null;
  revision: string;
  created_at: Date;
  updated_at: Date;
}

export function versionFromRow(row: ProviderVersionRecord): ProviderVersionResponse {
  return {
    prefix: row.prefix,
    name: row.name,
    version: row.version,
    runtime_version: row.runtime_version,
    canonical: canonicalOf(row),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    wheel_url: row.wheel_url,
    wheel_sha256: row.wheel_sha256,
    package_name: row.package_name,
    entrypoint: row.entrypoint,
    source_hash: null,
    build_id: null,
    schemas: row.schemas,
    changelog: row.changelog,
    runtime_image: row.runtime_image,
    status: row.status,
    published_at: row.published_at ? row.published_at.toISOString() : null,
    error_message: row.error_message ?? null,
  };
}

/** Timestamps leave the API as RFC 3339 UTC with milliseconds, whichever side produced them. */
export function iso(value: string | Date): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}
