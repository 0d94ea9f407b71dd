import { isReservedConfigKey } from '../../../libs/installations/reserved-config-keys';
import { DesiredDeployment, RuntimeSettings, runtimeEnvironment } from '../deployer.port';

/** Fixed, not the installer's: a tenant must not find the installer's own tools first. */
export const RUNTIME_PATH = '/usr/local/bin:/usr/bin:/bin';

export interface BuiltEnvironment {
  env: Record<string, string>;
  /** Config keys left out as reserved (names only: their values may be anything the tenant sent). */
  dropped: string[];
}

/**
 * A runtime's whole environment, built from nothing: nothing of the installer's own environment
 * (its database URL, its secrets) reaches a runtime. The platform sets PATH, HOME and TMPDIR (the
 * generation's own folder) and its contract; the tenant's config fills the rest, minus every reserved
 * key: the API refuses them, and this drops them from events written before it did.
 */
export function buildRuntimeEnvironment(desired: DesiredDeployment, settings: RuntimeSettings, workDir: string): BuiltEnvironment {
  const dropped: string[] = [];
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(desired.config)) {
    if (isReservedConfigKey(key) || !isPortableName(key)) dropped.push(key);
    else config[key] = value;
  }
  return {
    env: {
      ...config,
      PATH: RUNTIME_PATH,
      HOME: workDir,
      TMPDIR: workDir,
      LANG: 'C.UTF-8',
      ...runtimeEnvironment(desired, settings),
    },
    dropped,
  };
}

/** An environment name no shell or loader treats specially: letters, digits and `_`, not first a digit. */
function isPortableName(key: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key);
}
