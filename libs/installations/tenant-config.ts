import { DomainError, conflict } from '../domain/domain-error';
import { ProviderId, canonicalOf } from '../providers/provider-identity';
import { VersionState } from '../providers/provider.decider';
import { InstallationSecrets } from '../secrets/installation-secrets';
import { SecretUnreadable } from '../secrets/envelope';
import { SECRET_MASK, schemaSecretKeys } from '../secrets/secret-config';
import { ConfigSchemas, configInvalid, keysNamed } from './config-schema';
import { PresentInstallation } from './installation.decider';

const MAX_CONFIG_KEYS = 200;

/** What a tenant sends: plain `config` and the `secret_config` map (always secret). */
export interface TenantConfigInput {
  config?: Record<string, string>;
  secretConfig?: Record<string, string>;
}

/** Config as it enters the command: secret values sealed, their keys named. */
export interface StoredConfig {
  config: Record<string, string>;
  secretKeys: string[];
}

interface Entry {
  value: string;
  /** Already sealed (kept from the installation's current config). */
  sealed: boolean;
  secret: boolean;
}

/** The installation's secrets before the change: opened (to validate and compare) and as sealed. */
interface CurrentSecrets {
  revealed: Readonly<Record<string, string>>;
  sealed: Readonly<Record<string, string>>;
}

const NOTHING_CURRENT: CurrentSecrets = { revealed: {}, sealed: {} };

function sealedOf(present: PresentInstallation): Record<string, string> {
  return Object.fromEntries((present.secretConfigKeys ?? []).filter((k) => present.config[k] !== undefined).map((k) => [k, present.config[k]]));
}

const configSchemas = new ConfigSchemas();

function cacheKeyOf(provider: ProviderId, version: VersionState): string {
  return `${canonicalOf(provider)}@${version.version}`;
}

function tooMany(count: number): DomainError {
  return new DomainError('invalid', 'validation_failed', `config and secret_config together hold ${count} keys; at most ${MAX_CONFIG_KEYS} are allowed.`, [
    { field: 'config', constraint: 'maxProperties', message: `at most ${MAX_CONFIG_KEYS} keys in config and secret_config together` },
  ]);
}

function unreadable(provider: ProviderId): DomainError {
  return conflict('secret_config_unreadable', `The secret config of ${canonicalOf(provider)} can no longer be read; send every secret again in secret_config.`);
}

/**
 * The tenant-side handling of config, before any command is built: checked against the version's
 * `config_schema` (422 `config_invalid`, nothing appended), and secret values sealed under the
 * installation's data key so that no plaintext secret ever reaches the log.
 */
export class TenantConfig {
  constructor(private readonly secrets: InstallationSecrets) {}

  /** Install: `secret_config` is merged over `config`; keys the schema marks secret are sealed too. */
  async forInstall(installationId: string, provider: ProviderId, version: VersionState, input: TenantConfigInput): Promise<StoredConfig> {
    const entries = new Map<string, Entry>();
    for (const [key, value] of Object.entries(input.config ?? {})) entries.set(key, { value, sealed: false, secret: false });
    for (const [key, value] of Object.entries(input.secretConfig ?? {})) entries.set(key, { value, sealed: false, secret: true });
    return this.store(installationId, provider, version, entries, NOTHING_CURRENT);
  }

  /**
   * Reconfigure: `config`, when sent, replaces the config as before, where a key that is secret now
   * and sent as the mask (`***`, as responses show it) keeps its value; `secret_config` is merged on
   * top. Undefined when neither was sent (the config stays).
   */
  async forReconfigure(present: PresentInstallation, provider: ProviderId, version: VersionState | undefined, input: TenantConfigInput): Promise<StoredConfig | undefined> {
    if (input.config === undefined && input.secretConfig === undefined) return undefined;
    const wasSecret = new Set(present.secretConfigKeys ?? []);
    const entries = new Map<string, Entry>();
    if (input.config === undefined) {
      for (const [key, value] of Object.entries(present.config)) entries.set(key, { value, sealed: wasSecret.has(key), secret: wasSecret.has(key) });
    } else {
      for (const [key, value] of Object.entries(input.config)) {
        const kept = wasSecret.has(key) && value === SECRET_MASK && present.config[key] !== undefined;
        entries.set(key, kept ? { value: present.config[key], sealed: true, secret: true } : { value, sealed: false, secret: wasSecret.has(key) });
      }
    }
    for (const [key, value] of Object.entries(input.secretConfig ?? {})) entries.set(key, { value, sealed: false, secret: true });
    const current = { revealed: wasSecret.size > 0 ? await this.reveal(present, provider) : {}, sealed: sealedOf(present) };
    return this.store(present.installationId, provider, version, entries, current);
  }

  /** Upgrade or downgrade: the current config must satisfy the target version's schema. */
  async checkVersionChange(present: PresentInstallation, provider: ProviderId, target: VersionState): Promise<void> {
    if (!target.config_schema) return;
    const revealed = await this.reveal(present, provider);
    const plain = { ...present.config, ...revealed };
    const violations = configSchemas.violations(cacheKeyOf(provider, target), target.config_schema, plain);
    if (violations.length === 0) return;
    const keys = keysNamed(violations);
    throw configInvalid(
      violations,
      `The current config does not satisfy the config_schema of ${canonicalOf(provider)} ${target.version}: change ${keys.length > 0 ? keys.join(', ') : 'the config'} (PATCH config or secret_config), then retry.`,
    );
  }

  private async reveal(present: PresentInstallation, provider: ProviderId): Promise<Record<string, string>> {
    try {
      return await this.secrets.reveal(present.installationId, sealedOf(present));
    } catch (error) {
      if (error instanceof SecretUnreadable) throw unreadable(provider);
      throw error;
    }
  }

  /**
   * Validates the plaintext (sealed entries opened from `current`), then seals what is secret. A secret
   * whose value did not change keeps its sealed form, so resending it redeploys nothing.
   */
  private async store(
    installationId: string,
    provider: ProviderId,
    version: VersionState | undefined,
    entries: Map<string, Entry>,
    current: CurrentSecrets,
  ): Promise<StoredConfig> {
    if (entries.size > MAX_CONFIG_KEYS) throw tooMany(entries.size);
    const plain = Object.fromEntries([...entries].map(([key, e]) => [key, e.sealed ? (current.revealed[key] ?? '') : e.value]));
    if (version) {
      const violations = configSchemas.violations(cacheKeyOf(provider, version), version.config_schema, plain);
      if (violations.length > 0) {
        throw configInvalid(violations, `config does not satisfy the config_schema of ${canonicalOf(provider)} ${version.version}: ${violations.map((v) => `${v.field} ${v.message}`).slice(0, 5).join('; ')}.`);
      }
    }
    const schemaSecret = schemaSecretKeys(version?.config_schema);
    const toSeal: Record<string, string> = {};
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, entry] of entries) {
      const secret = entry.secret || schemaSecret.has(key);
      if (secret) secretKeys.push(key);
      if (!secret || entry.sealed) config[key] = entry.value;
      else if (current.revealed[key] === entry.value && current.sealed[key] !== undefined) config[key] = current.sealed[key];
      else toSeal[key] = entry.value;
    }
    Object.assign(config, await this.secrets.seal(installationId, toSeal));
    return { config, secretKeys: secretKeys.sort() };
  }
}
