import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'api_keys' })
export class ApiKeyRow {
  @PrimaryColumn('text') key_id!: string;
  @Column('text') org!: string;
  @Column('jsonb') scopes!: string[];
  @Column('boolean') platform_admin!: boolean;
  @Column('text') secret_hash!: string;
  @Column('text', { nullable: true }) label!: string | null;
  @Column('text') created_by!: string;
  @Column('timestamptz') created_at!: Date;
  @Column('timestamptz', { nullable: true }) revoked_at!: Date | null;
}
