import { ApiKeyRow } from './entities/api-key.entity';
import { CatalogProviderRow } from './entities/catalog-provider.entity';
import { InstalledProviderRow } from './entities/installed-provider.entity';
import { ProviderVersionRow } from './entities/provider-version.entity';
import { ReadModels1763900000100 } from './migrations/1763900000100-read-models';
import { RuntimeHeartbeats1763900000200 } from './migrations/1763900000200-runtime-heartbeats';
import { CatalogRevision1763900000300 } from './migrations/1763900000300-catalog-revision';
import { DeploymentObservations1763900000400 } from './migrations/1763900000400-deployment-observations';

// The read models' TypeORM entities and migrations, registered in one place.
export const READ_MODEL_ENTITIES = [InstalledProviderRow, ProviderVersionRow, CatalogProviderRow, ApiKeyRow];
export const READ_MODEL_MIGRATIONS = [ReadModels1763900000100, RuntimeHeartbeats1763900000200, CatalogRevision1763900000300, DeploymentObservations1763900000400];
