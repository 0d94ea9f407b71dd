import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsOptional, IsString, Length, Matches, MaxLength } from 'class-validator';

export class UpdateProviderDto {
  @ApiPropertyOptional({ type: String, nullable: true, minLength: 1, maxLength: 200 })
  @IsOptional() @IsString() @Length(1, 200)
  display_name?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 5000 })
  @IsOptional() @IsString() @MaxLength(5000)
  description?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 2048 })
  @IsOptional() @IsString() @MaxLength(2048) @Matches(/^https:\/\/\S+$/, { message: 'icon_url must be an https URL' })
  icon_url?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 100000 })
  @IsOptional() @IsString() @MaxLength(100_000)
  readme?: string | null;

  @ApiPropertyOptional({ type: [String], nullable: true, maxItems: 20 })
  @IsOptional() @IsArray() @ArrayMaxSize(20) @IsString({ each: true })
  @Matches(/^[a-z0-9][a-z0-9-]{0,49}$/, { each: true, message: 'each tag must match ^[a-z0-9][a-z0-9-]{0,49}$' })
  tags?: string[] | null;
}

export class ProviderAuthor {
  @ApiProperty({ enum: ['customer', 'platform'] }) kind!: 'customer' | 'platform';
  @ApiProperty() organization_id!: string;
  @ApiProperty() display_name!: string;
}

/** A catalog entry. `scope` is `public` for every listed provider: the store has no private listings. */
export class ProviderResponse {
  @ApiProperty() prefix!: string;
  @ApiProperty() name!: string;
  @ApiProperty() canonical!: string;
  @ApiProperty({ type: String, nullable: true }) display_name!: string | null;
  @ApiProperty({ type: String, nullable: true }) description!: string | null;
  @ApiProperty({ type: ProviderAuthor }) author!: ProviderAuthor;
  @ApiProperty({ enum: ['public', 'tenant'] }) scope!: 'public' | 'tenant';
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
