import { ApiProperty } from '@nestjs/swagger';

export const ORGANIZATION_STATUSES = ['active', 'deactivating', 'deleted'] as const;

/**
 * The platform SDK's Organization model. `organization_id` is the name its newer models read the id
 * under; both carry the same token, which is also the slug (the prefix of the organisation's providers).
 */
export class OrganizationResponse {
  @ApiProperty({ description: 'The organisation token (^[a-z0-9][a-z0-9-]{0,62}$)' }) id!: string;
  @ApiProperty({ description: 'Same as id' }) organization_id!: string;
  @ApiProperty({ description: 'The prefix of the organisation’s providers: the id' }) slug!: string;
  @ApiProperty({ description: 'Display name; the id until one is given' }) name!: string;
  @ApiProperty({ enum: ORGANIZATION_STATUSES }) status!: (typeof ORGANIZATION_STATUSES)[number];
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
}
