import { Pool } from 'pg';
import { installationStream } from '../../libs/installations/installation-identity';
import { mapBounded } from './batch-order';
import { InstallationEffects } from './installation-effects';

/** How many installations are reconciled at once: a slow one must not hold the others back. */
const RECONCILE_CONCURRENCY = 8;

/**
 * Brings the deployer back in line with the log for every installation that has a generation serving
 * it — ready, or failed on a newer version while the previous one still served — and whose runtime is
 * gone (the local deployer's children end with a clean stop; a cluster object may have been deleted
 * by hand): the serving generation is applied again, with the same token. An adopted or still-running
 * runtime is left alone, so a crash restart starts nothing twice. Run each time a replica becomes the
 * active installer, before it follows the log.
 */
export async function reapplyMissingRuntimes(effects: InstallationEffects, pool: Pool): Promise<void> {
  const { rows } = await pool.query<{ tenant: string; prefix: string; name: string }>(
    `SELECT tenant, prefix, name FROM installed_providers
      WHERE serving_generation IS NOT NULL AND lifecycle_state IN ('ready', 'failed') ORDER BY updated_at LIMIT 10000`,
  );
  await mapBounded(rows, RECONCILE_CONCURRENCY, async (row) => {
    const stream = installationStream(row.tenant, { prefix: row.prefix, name: row.name });
    await effects.exclusively(stream, () => restoreIfMissing(effects, stream));
  });
}

async function restoreIfMissing(effects: InstallationEffects, stream: string): Promise<void> {
  try {
    const { state } = await effects.load(stream);
    if (state.status !== 'present') return;
    await effects.restoreServing(stream, state);
  } catch (error) {
    // One installation's runtime that will not start must not keep the others from theirs.
    effects.logger.warn({ stream, err: error instanceof Error ? error.message : String(error) }, 'could not restore a serving runtime');
  }
}
