import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length, ValidateIf } from 'class-validator';
import { RESOURCE_TIERS, ResourceTier, UPGRADE_POLICIES, UpgradePolicy } from '../../../libs/installations/installation.events';
import { IsEnvMap, IsSemVer } from '../platform/validators';

const CONFIG_DOC = {
  type: 'object',
  additionalProperties: { type: 'string' },
  maxProperties: 200,
  description:
    'Injected as environment variables: keys match ^[A-Za-z_][A-Za-z0-9_]*$, values are strings, at most 200 keys (with secret_config). ' +
    'Checked against the version\'s config_schema (422 config_invalid); keys the schema marks writeOnly or format: password are secret.',
} as const;

const SECRET_CONFIG_DOC = {
  type: 'object',
  additionalProperties: { type: 'string', writeOnly: true },
  maxProperties: 200,
  description:
    'Config that is secret whatever the schema says: merged over config, encrypted before it is stored, delivered only to the runtime, ' +
    'never returned (responses show the key in config with the value "***"), destroyed at uninstall. On PATCH, a secret key sent in config as "***" keeps its value.',
} as const;

export class InstallProviderDto {
  @ApiProperty({ minLength: 1, maxLength: 200, description: 'Store provider name to install (org/name format)', example: 'acme/postgres' })
  @IsString() @Length(1, 200)
  provider_name!: string;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'Specific version; null or absent = latest published' })
  @IsOptional() @IsString() @IsSemVer()
  version?: string | null;

  @ApiPropertyOptional({ enum: RESOURCE_TIERS, default: 'standard' })
  @IsOptional() @IsIn(RESOURCE_TIERS)
  resource_tier?: ResourceTier;

  @ApiPropertyOptional({ enum: UPGRADE_POLICIES, default: 'manual' })
  @IsOptional() @IsIn(UPGRADE_POLICIES)
  upgrade_policy?: UpgradePolicy;

  @ApiPropertyOptional(CONFIG_DOC)
  @IsOptional() @IsEnvMap(200)
  config?: Record<string, string>;

  @ApiPropertyOptional(SECRET_CONFIG_DOC)
  @IsOptional() @IsEnvMap(200)
  secret_config?: Record<string, string>;
}

export class UpgradeProviderDto {
  @ApiPropertyOptional({ type: String, nullable: true, description: 'Target version; null or absent = latest published' })
  @ValidateIf((_o, v) => v !== null && v !== undefined) @IsString() @IsSemVer()
  version?: string | null;
}

export class DowngradeProviderDto {
  @ApiProperty({ description: 'Target version to downgrade to (required)', example: '1.0.0' })
  @IsString() @IsSemVer()
  target_version!: string;
}

export class DeployProviderDto {
  @ApiPropertyOptional({ type: String, nullable: true, description: 'Version to deploy; absent = the installed version' })
  @ValidateIf((_o, v) => v !== null && v !== undefined) @IsString() @IsSemVer()
  version?: string | null;
}

export class UpdateInstallationDto {
  @ApiPropertyOptional(CONFIG_DOC)
  @IsOptional() @IsEnvMap(200)
  config?: Record<string, string>;

  @ApiPropertyOptional(SECRET_CONFIG_DOC)
  @IsOptional() @IsEnvMap(200)
  secret_config?: Record<string, string>;

  @ApiPropertyOptional({ enum: RESOURCE_TIERS })
  @IsOptional() @IsIn(RESOURCE_TIERS)
  resource_tier?: ResourceTier;

  @ApiPropertyOptional({ enum: UPGRADE_POLICIES })
  @IsOptional() @IsIn(UPGRADE_POLICIES)
  upgrade_policy?: UpgradePolicy;
}

/** The platform's InstalledProvider, plus `upgrade_available`. */
export class InstalledProviderResponse {
  @ApiProperty() prefix!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'Slash-joined prefix/name' }) canonical!: string;
  @ApiProperty() installed_version!: string;
  @ApiProperty({ type: String, nullable: true, description: 'Version currently deployed (null if never deployed)' }) current_version!: string | null;
  @ApiProperty({ enum: UPGRADE_POLICIES }) upgrade_policy!: UpgradePolicy;
  @ApiProperty({ enum: RESOURCE_TIERS }) resource_tier!: ResourceTier;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, description: 'Secret keys are present with the value "***"' }) config!: Record<string, string>;
  @ApiProperty({ format: 'date-time' }) installed_at!: string;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiProperty({ enum: ['pending', 'processing', 'ready', 'failed', 'deleting'] }) lifecycle_state!: string;
  @ApiProperty({ enum: ['healthy', 'degraded'] }) health!: string;
  @ApiProperty({ type: String, nullable: true }) health_message!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Latest published non-yanked version when newer than installed_version' })
  upgrade_available!: string | null;
}

export class DeploymentResultResponse {
  @ApiProperty() deployment_name!: string;
  @ApiProperty({ enum: ['pending', 'progressing', 'available', 'failed'] }) status!: string;
  @ApiProperty() available_replicas!: number;
  @ApiProperty() ready_replicas!: number;
  @ApiProperty() version!: string;
  @ApiProperty({ type: String, nullable: true }) image!: string | null;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiProperty({ type: String, nullable: true }) message!: string | null;
  @ApiProperty() generation!: number;
  @ApiProperty() healthy!: boolean;
}

export class HistoryItem {
  @ApiProperty({ description: 'Global log position, commit:prepare' }) position!: string;
  @ApiProperty() revision!: number;
  @ApiProperty() type!: string;
  @ApiProperty({ format: 'date-time' }) occurred_at!: string;
  @ApiProperty() actor!: string;
  @ApiProperty() correlation_id!: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) data!: Record<string, unknown>;
}

export class HistoryPage {
  @ApiProperty({ type: [HistoryItem] }) items!: HistoryItem[];
  @ApiProperty() total!: number;
  @ApiProperty() limit!: number;
  @ApiProperty() offset!: number;
}

/** A rollback names nothing: the installation's own history says where it goes (`{}`). */
export class RollbackInstallationDto {}
