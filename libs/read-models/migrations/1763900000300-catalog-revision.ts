import { MigrationInterface, QueryRunner } from 'typeorm';

/** The provider stream's revision on its catalog row: the ETag of the provider and its versions. */
export class CatalogRevision1763900000300 implements MigrationInterface {
  name = 'CatalogRevision1763900000300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE catalog_providers ADD COLUMN revision bigint NOT NULL DEFAULT 0`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE catalog_providers DROP COLUMN revision');
  }
}
