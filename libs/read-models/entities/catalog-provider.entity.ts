import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'catalog_providers' })
export class CatalogProviderRow {
  @PrimaryColumn('text') prefix!: string;
  @PrimaryColumn('text') name!: string;
  @Column('text') owner_org!: string;
  @Column('text', { nullable: true }) display_name!: string | null;
  @Column('text', { nullable: true }) description!: string | null;
  @Column('text', { nullable: true }) icon_url!: string | null;
  @Column('text', { nullable: true }) readme!: string | null;
  @Column('jsonb') tags!: string[];
  @Column('jsonb') versions!: Record<string, string>;
  @Column('text', { nullable: true }) latest_version!: string | null;
  @Column('integer') install_count!: number;
  @Column('bigint') revision!: string;
  @Column('timestamptz') created_at!: Date;
  @Column('timestamptz') updated_at!: Date;
}
