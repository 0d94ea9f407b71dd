import { Pool } from 'pg';
import { installationStream } from '../../libs/installations/installation-identity';
import { InstallationEffects } from './installation-effects';

/**
 * Brings the deployer back in line with the log for READY installations whose runtime is gone (the
 * local deployer's children end with a clean stop; a cluster object may have been deleted by hand):
 * the same generation is applied again, with the same token. An adopted or still-running runtime is
 * left alone, so a crash restart starts nothing twice. Run each time a replica becomes the active
 * installer, before it follows the log.
 */
export async function reapplyMissingRuntimes(effects: InstallationEffects, pool: Pool): Promise<void> {
  const { rows } = await pool.query<{ tenant: string; prefix: string; name: string }>(
    `SELECT tenant, prefix, name FROM installed_providers WHERE lifecycle_state = 'ready' ORDER BY updated_at LIMIT 10000`,
  );
  for (const row of rows) {
    const stream = installationStream(row.tenant, { prefix: row.prefix, name: row.name });
    await effects.exclusively(stream, () => reapplyIfMissing(effects, stream));
  }
}

async function reapplyIfMissing(effects: InstallationEffects, stream: string): Promise<void> {
  const { state } = await effects.load(stream);
  if (state.status !== 'present' || state.lifecycle !== 'ready') return;
  const observed = await effects.deployer.status(state.installationId);
  if (observed && observed.generation === state.generation && observed.status !== 'failed') return;
  const version = await effects.versionOf(state);
  if (!version) return;
  try {
    await effects.deployer.apply(effects.desiredFor(state, state.generation, version));
    await effects.observations.record(state.installationId);
    effects.logger.info({ stream, installationId: state.installationId, generation: state.generation }, 'runtime missing; re-applied the current generation');
  } catch (error) {
    // One installation's runtime that will not start must not keep the others from theirs.
    effects.logger.warn({ stream, installationId: state.installationId, err: error instanceof Error ? error.message : String(error) }, 'could not re-apply a missing runtime');
  }
}
