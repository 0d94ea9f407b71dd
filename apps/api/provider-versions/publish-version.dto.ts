import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsOptional,
  IsString,
  Length,
  Matches,
  MaxLength,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { resolveProviderName } from '../../../libs/providers/provider-identity';
import { CatalogMetadata, PROVIDER_SCOPES, ProviderScope } from '../../../libs/providers/provider.events';
import { MAX_IMAGE_REFERENCE_LENGTH } from '../../../libs/providers/oci-image-reference';
import { VersionToPublish } from '../../../libs/providers/publish-version.handler';
import { IsHttpsWheelUrl, IsJsonObject, IsSemVer } from '../platform/validators';

export class ProviderVersionMetadataDto {
  @ApiPropertyOptional({ enum: PROVIDER_SCOPES, nullable: true, description: '`tenant`: private to the publishing organisation (listed, read and installed by it alone; others get 404). Absent: unchanged (new providers are public).' })
  @IsOptional() @IsIn(PROVIDER_SCOPES)
  scope?: ProviderScope | null;

  @ApiPropertyOptional({ type: String, nullable: true, minLength: 1, maxLength: 200 })
  @IsOptional() @IsString() @Length(1, 200)
  display_name?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 5000 })
  @IsOptional() @IsString() @MaxLength(5000)
  description?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 2048, description: 'https URL of the icon' })
  @IsOptional() @IsString() @MaxLength(2048) @Matches(/^https:\/\/\S+$/, { message: 'icon_url must be an https URL' })
  icon_url?: string | null;

  @ApiPropertyOptional({ type: [String], nullable: true, maxItems: 20, description: 'Each tag matches ^[a-z0-9][a-z0-9-]{0,49}$' })
  @IsOptional() @IsArray() @ArrayMaxSize(20) @IsString({ each: true })
  @Matches(/^[a-z0-9][a-z0-9-]{0,49}$/, { each: true, message: 'each tag must match ^[a-z0-9][a-z0-9-]{0,49}$' })
  tags?: string[] | null;
}

/** Request body of POST /provider-versions, field for field as the platform documents it. */
export class PublishVersionDto {
  @ApiProperty({
    minLength: 1,
    maxLength: 200,
    description: 'Canonical provider name ("org/name" or "platform/name"); legacy clients send the short name with organization_id',
    example: 'acme/postgres',
  })
  @IsString() @Length(1, 200)
  name!: string;

  @ApiProperty({ description: 'Semantic version (semver.valid)', example: '1.0.0', maxLength: 256 })
  @IsString() @IsSemVer()
  version!: string;

  @ApiProperty({ description: 'https URL ending in .whl; stored in canonical form', example: 'https://files.example.com/acme_postgres-1.0.0-py3-none-any.whl', maxLength: 2048 })
  @IsString() @MaxLength(2048) @IsHttpsWheelUrl()
  wheel_url!: string;

  @ApiPropertyOptional({ type: String, nullable: true, minLength: 1, maxLength: 63, description: 'Legacy organisation id of the publishing tenant' })
  @IsOptional() @IsString() @MinLength(1) @MaxLength(63)
  organization_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, pattern: '^[0-9a-f]{64}$', description: 'When present the wheel is downloaded and verified before anything is stored' })
  @IsOptional() @IsString() @Matches(/^[0-9a-f]{64}$/, { message: 'sha256 must match ^[0-9a-f]{64}$' })
  sha256?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, minLength: 1, maxLength: 200 })
  @IsOptional() @IsString() @Length(1, 200)
  package_name?: string | null;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'object' }, nullable: true, description: 'Resource-schema map keyed by resource type' })
  @IsOptional() @IsJsonObject()
  schemas?: Record<string, Record<string, unknown>> | null;

  @ApiPropertyOptional({ type: ProviderVersionMetadataDto, nullable: true })
  @IsOptional() @IsJsonObject() @ValidateNested() @Type(() => ProviderVersionMetadataDto)
  metadata?: ProviderVersionMetadataDto | null;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, nullable: true })
  @IsOptional() @IsJsonObject()
  config_schema?: Record<string, unknown> | null;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, nullable: true })
  @IsOptional() @IsJsonObject()
  outputs_schema?: Record<string, unknown> | null;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'object' }, nullable: true, description: 'Legacy per-resource schema map' })
  @IsOptional() @IsJsonObject()
  resource_schemas?: Record<string, Record<string, unknown>> | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 100000 })
  @IsOptional() @IsString() @MaxLength(100_000)
  changelog?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: MAX_IMAGE_REFERENCE_LENGTH,
    description: 'OCI image reference ([registry[:port]/]repository[:tag][@sha256:digest]) the Kubernetes deployer runs instead of the configured runtime image; anything else → 422 invalid_runtime_image',
    example: 'ghcr.io/acme/runtime:1.2.3',
  })
  @IsOptional() @IsString()
  runtime_image?: string | null;

  @ApiPropertyOptional({ type: [String], nullable: true, maxItems: 64, description: 'Override of the runtime entrypoint command' })
  @IsOptional() @IsArray() @ArrayMaxSize(64) @IsString({ each: true }) @MaxLength(4096, { each: true })
  entrypoint?: string[] | null;
}

export class YankVersionDto {
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 1000 })
  @IsOptional() @IsString() @MaxLength(1000)
  reason?: string | null;
}

/** The request body as the domain's publish request: names resolved, schemas as a list. */
export function versionToPublish(body: PublishVersionDto): VersionToPublish {
  return {
    provider: resolveProviderName(body.name, body.organization_id),
    version: body.version,
    wheelUrl: body.wheel_url,
    wheelSha256: body.sha256 ?? null,
    packageName: body.package_name ?? null,
    entrypoint: body.entrypoint ?? null,
    schemas: Object.entries(body.schemas ?? body.resource_schemas ?? {}).map(([resource_type, schema]) => ({ resource_type, schema })),
    configSchema: body.config_schema ?? null,
    outputsSchema: body.outputs_schema ?? null,
    changelog: body.changelog ?? null,
    runtimeImage: body.runtime_image ?? null,
    metadata: body.metadata ? catalogMetadataOf(body.metadata) : null,
  };
}

/** The metadata fields that were sent; a null scope means "unchanged", like an absent one. */
export function catalogMetadataOf(body: ProviderVersionMetadataDto & { readme?: string | null }): CatalogMetadata {
  const { scope, ...rest } = body;
  return { ...rest, ...(scope ? { scope } : {}) };
}
