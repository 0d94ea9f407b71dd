import { DataSource } from 'typeorm';
import { ApiKeyRow } from './entities/api-key.entity';
import { CatalogProviderRow } from './entities/catalog-provider.entity';
import { InstalledProviderRow } from './entities/installed-provider.entity';
import { ProviderVersionRow } from './entities/provider-version.entity';

/**
 * The TypeORM connection the API's queries still read through until they move to the shared pool.
 * It only reads: the schema comes from the table declarations (libs/database/database.ts `migrate`).
 * Delete this file, `entities/` and `Infrastructure.dataSource` once no query uses them.
 */
export async function openLegacyDataSource(url: string, poolSize: number): Promise<DataSource> {
  const dataSource = new DataSource({
    type: 'postgres',
    url,
    entities: [InstalledProviderRow, ProviderVersionRow, CatalogProviderRow, ApiKeyRow],
    synchronize: false,
    logging: false,
    extra: { max: poolSize, connectionTimeoutMillis: 5_000 },
  });
  return dataSource.initialize();
}
