import { Queryable } from '../database/sql';
import { catalogProjection } from '../../projections/catalog.projection';
import { installedProvidersProjection } from '../../projections/installed-providers.projection';
import { providerVersionsProjection } from '../../projections/provider-versions.projection';

const VERSIONS = providerVersionsProjection.table.name;
const CATALOG = catalogProjection.table.name;
const INSTALLED = installedProvidersProjection.table.name;

/**
 * Every wheel digest a provider version still needs: the versions of providers still listed (a
 * deleted provider leaves the catalog, its versions stay in provider_versions), and the versions
 * installations run or are moving to, even of a provider deleted under them (an install can race
 * the delete), since a redeploy downloads the wheel again.
 */
export async function referencedDigests(db: Queryable): Promise<Set<string>> {
  const { rows } = await db.query<{ sha256: string }>(
    `SELECT DISTINCT lower(v.wheel_sha256) AS sha256 FROM ${VERSIONS} v
      WHERE v.wheel_sha256 IS NOT NULL
        AND (EXISTS (SELECT 1 FROM ${CATALOG} c WHERE c.prefix = v.prefix AND c.name = v.name)
             OR EXISTS (SELECT 1 FROM ${INSTALLED} i WHERE i.prefix = v.prefix AND i.name = v.name
                                                     AND v.version IN (i.installed_version, i.current_version)))`,
  );
  return new Set(rows.map((r) => r.sha256));
}
