/*
 * Secret config (issue 19): the handlers seal secret values before the command is built; the
 * decider records which keys are sealed, so every reader can mask them.
 */

/** The event field naming sealed keys, sorted; left out when there are none (the older shape). */
export function secretKeysField(keys: readonly string[] | undefined): { secret_keys?: string[] } {
  return keys && keys.length > 0 ? { secret_keys: [...keys].sort() } : {};
}

function sortKeys(record: Readonly<Record<string, string>>): Array<[string, string]> {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Whether a reconfiguration changes what runs: a value, or which keys are sealed. An unchanged secret
 * keeps its sealed value (the handler reuses it), so resending the same secret is no change.
 */
export function configDiffers(
  config: Readonly<Record<string, string>>,
  secretKeys: readonly string[],
  present: { config: Readonly<Record<string, string>>; secretConfigKeys?: readonly string[] },
): boolean {
  if (JSON.stringify(sortKeys(config)) !== JSON.stringify(sortKeys(present.config))) return true;
  return JSON.stringify([...secretKeys].sort()) !== JSON.stringify([...(present.secretConfigKeys ?? [])].sort());
}
