/** What every response, history entry and audit line shows in place of a secret value. */
export const SECRET_MASK = '***';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The config keys a version's `config_schema` declares secret: top-level properties marked
 * `writeOnly: true` or `format: password` (config is a flat map of environment variables).
 */
export function schemaSecretKeys(schema: Readonly<Record<string, unknown>> | null | undefined): Set<string> {
  const keys = new Set<string>();
  const properties = schema?.properties;
  if (!isRecord(properties)) return keys;
  for (const [key, property] of Object.entries(properties)) {
    if (isRecord(property) && (property.writeOnly === true || property.format === 'password')) keys.add(key);
  }
  return keys;
}

/** Config as it may be shown: every secret key present, its value replaced by the mask. */
export function maskedConfig(config: Readonly<Record<string, string>>, secretKeys: readonly string[]): Record<string, string> {
  const secret = new Set(secretKeys);
  return Object.fromEntries(Object.entries(config).map(([key, value]) => [key, secret.has(key) ? SECRET_MASK : value]));
}

function stringRecord(value: unknown): Record<string, string> | undefined {
  if (!isRecord(value)) return undefined;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typeof v === 'string' ? v : String(v)]));
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * An event's data as the audit trail may show it: sealed config values masked (the key stays, so
 * the history keeps the fact of the change) and registration-token hashes left out.
 */
export function redactedEventData(type: string, data: Record<string, unknown>): Record<string, unknown> {
  if (type === 'DeployStarted') {
    const { token_hash: _tokenHash, ...rest } = data;
    return rest;
  }
  if (type === 'InstallRequested' || type === 'InstallationReconfigured') {
    const config = stringRecord(data.config);
    if (config) return { ...data, config: maskedConfig(config, stringList(data.secret_keys)) };
  }
  return data;
}
