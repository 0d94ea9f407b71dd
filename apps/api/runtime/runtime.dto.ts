import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Max, MaxLength, Min } from 'class-validator';
import { IsSemVer } from '../platform/validators';

export class RegistrationDto {
  @ApiProperty({ format: 'uuid' }) @IsUUID() installation_id!: string;
  @ApiProperty({ minimum: 1 }) @IsInt() @Min(1) @Max(2_147_483_647) generation!: number;
  @ApiProperty({ example: '1.0.0' }) @IsString() @IsSemVer() version!: string;
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 2048 }) @IsOptional() @IsString() @MaxLength(2048) endpoint?: string | null;
  @ApiPropertyOptional({ type: String, maxLength: 200, description: "The loaded wheel's METADATA Name" }) @IsOptional() @IsString() @MaxLength(200) wheel_name?: string;
  @ApiPropertyOptional({ type: String, maxLength: 200, description: "The loaded wheel's METADATA Version; one that is not the deployed version fails the deploy" })
  @IsOptional() @IsString() @MaxLength(200) wheel_version?: string;
}

export class HeartbeatDto {
  @ApiProperty({ format: 'uuid' }) @IsUUID() installation_id!: string;
  @ApiProperty({ minimum: 1 }) @IsInt() @Min(1) @Max(2_147_483_647) generation!: number;
  @ApiProperty({ enum: ['healthy', 'degraded'] }) @IsIn(['healthy', 'degraded']) status!: 'healthy' | 'degraded';
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 1000 }) @IsOptional() @IsString() @MaxLength(1000) message?: string | null;
}
