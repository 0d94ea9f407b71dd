import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'installed_providers' })
export class InstalledProviderRow {
  @PrimaryColumn('text') tenant!: string;
  @PrimaryColumn('text') prefix!: string;
  @PrimaryColumn('text') name!: string;
  @Column('uuid') installation_id!: string;
  @Column('text') installed_version!: string;
  @Column('text', { nullable: true }) current_version!: string | null;
  @Column('text') upgrade_policy!: string;
  @Column('text') resource_tier!: string;
  @Column('jsonb') config!: Record<string, string>;
  @Column('text') lifecycle_state!: string;
  @Column('text') health!: string;
  @Column('text', { nullable: true }) health_message!: string | null;
  @Column('integer') generation!: number;
  @Column('text', { nullable: true }) last_deploy_message!: string | null;
  @Column('bigint') revision!: string;
  @Column('timestamptz') installed_at!: Date;
  @Column('timestamptz') updated_at!: Date;
}
