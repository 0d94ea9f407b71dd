import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'provider_versions' })
export class ProviderVersionRow {
  @PrimaryColumn('text') prefix!: string;
  @PrimaryColumn('text') name!: string;
  @PrimaryColumn('text') version!: string;
  @Column('text') publisher_org!: string;
  @Column('text') runtime_version!: string;
  @Column('text', { nullable: true }) wheel_url!: string | null;
  @Column('text', { nullable: true }) wheel_sha256!: string | null;
  @Column('text', { nullable: true }) package_name!: string | null;
  @Column('jsonb', { nullable: true }) entrypoint!: string[] | null;
  @Column('jsonb', { nullable: true }) schemas!: Array<Record<string, unknown>> | null;
  @Column('text', { nullable: true }) changelog!: string | null;
  @Column('text') status!: string;
  @Column('timestamptz', { nullable: true }) published_at!: Date | null;
  @Column('text', { nullable: true }) yanked_reason!: string | null;
  @Column('bigint') revision!: string;
  @Column('timestamptz') created_at!: Date;
  @Column('timestamptz') updated_at!: Date;
}
