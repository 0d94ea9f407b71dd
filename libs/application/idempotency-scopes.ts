/**
 * Idempotency scopes of the platform's own components. A tenant's scope is its organisation id, which
 * matches `^[a-z0-9][a-z0-9-]*$` and so can never contain a `:`; every internal scope does, so no
 * tenant can write (or block) a key in one of them.
 */
export const INTERNAL_SCOPE_PREFIX = 'internal:';

export const INSTALLER_SCOPE = `${INTERNAL_SCOPE_PREFIX}installer`;
export const HEALTH_WATCHDOG_SCOPE = `${INTERNAL_SCOPE_PREFIX}health-watchdog`;
export const CLI_SCOPE = `${INTERNAL_SCOPE_PREFIX}cli`;

/** A deployed runtime acts only on its own installation. */
export const runtimeScope = (installationId: string): string => `${INTERNAL_SCOPE_PREFIX}runtime:${installationId}`;

export const autoUpgradeScope = (installationId: string): string => `${INTERNAL_SCOPE_PREFIX}auto-upgrade:${installationId}`;

/** The auto-upgrade rollouts' own streams (plan, waves, halt). */
export const AUTO_UPGRADE_ROLLOUT_SCOPE = `${INTERNAL_SCOPE_PREFIX}auto-upgrade-rollout`;
