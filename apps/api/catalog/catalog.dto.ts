import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { ProviderVersionMetadataDto } from '../provider-versions/publish-version.dto';

/** PATCH body: the catalog fields a publish's `metadata` carries, plus the readme. */
export class UpdateProviderDto extends ProviderVersionMetadataDto {
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 100000 })
  @IsOptional() @IsString() @MaxLength(100_000)
  readme?: string | null;
}

export class ProviderAuthor {
  @ApiProperty({ enum: ['customer', 'platform'] }) kind!: 'customer' | 'platform';
  @ApiProperty() organization_id!: string;
  @ApiProperty() display_name!: string;
}

/** A catalog entry, as the SDK's Provider model reads it (every field present). */
export class ProviderResponse {
  @ApiProperty() prefix!: string;
  @ApiProperty() name!: string;
  @ApiProperty() canonical!: string;
  @ApiProperty({ description: "Defaults to the provider's short name until metadata sets it" }) display_name!: string;
  @ApiProperty({ description: 'Defaults to "" until metadata sets it' }) description!: string;
  @ApiProperty({ type: ProviderAuthor }) author!: ProviderAuthor;
  @ApiProperty({ enum: ['public', 'tenant'], description: '`tenant`: private to the publishing organisation (others get 404)' }) scope!: 'public' | 'tenant';
  @ApiProperty({ type: String, nullable: true }) icon_url!: string | null;
  @ApiProperty({ type: String, nullable: true }) readme!: string | null;
  @ApiProperty({ type: [String] }) tags!: string[];
  @ApiProperty({ type: String, nullable: true, description: 'Highest published, non-yanked semver; prereleases only when no stable exists' })
  latest_version!: string | null;
  @ApiProperty() install_count!: number;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
}

export class ProviderPage {
  @ApiProperty({ type: [ProviderResponse] }) items!: ProviderResponse[];
  @ApiProperty() total!: number;
  @ApiProperty() limit!: number;
  @ApiProperty() offset!: number;
}
