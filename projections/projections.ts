import { apiKeysProjection } from './api-keys.projection';
import { catalogProjection } from './catalog.projection';
import { installedProvidersProjection } from './installed-providers.projection';
import { providerVersionsProjection } from './provider-versions.projection';
import { providerInstallCountsProjection } from './provider-install-counts.projection';
import { organizationsProjection } from './organizations.projection';
import { RowProjection } from '../libs/projection-engine/row-projection';

/** Every read model, by consumer name: what the runners start and the CLI rebuilds and verifies. */
export const PROJECTIONS: readonly RowProjection[] = [
  apiKeysProjection,
  providerVersionsProjection,
  catalogProjection,
  providerInstallCountsProjection,
  installedProvidersProjection,
  organizationsProjection,
];
