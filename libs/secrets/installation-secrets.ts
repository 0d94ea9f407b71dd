import { createHmac } from 'node:crypto';
import { Pool } from 'pg';
import { ConfigError } from '../config/app-config';
import { SecretUnreadable, keyIdOf, newDataKey, openConfigValue, sealConfigValue, unwrapDataKey, wrapDataKey } from './envelope';
import { SecretSettings, decodeMasterKey } from './secret-settings';

export interface MasterKeys {
  current: Buffer;
  previous: Buffer | null;
  /** True when no SECRETS_MASTER_KEY was given and the development key is in use. */
  generated: boolean;
}

interface DataKeyRow {
  installation_id: string;
  wrapped_key: string;
  master_key_id: string;
}

export interface RotationReport {
  rewrapped: number;
  alreadyCurrent: number;
}

const ROTATION_BATCH = 500;

/**
 * The master keys: SECRETS_MASTER_KEY (and SECRETS_PREVIOUS_MASTER_KEY while rotating). Outside
 * production an unset key is generated once and kept in the shared database (see
 * `generatedMasterKeyTable`); in production an unset key stops start-up.
 */
export async function resolveMasterKeys(pool: Pool, settings: SecretSettings): Promise<MasterKeys> {
  const previous = settings.previousMasterKey ? (decodeMasterKey(settings.previousMasterKey) ?? null) : null;
  const given = settings.masterKey ? decodeMasterKey(settings.masterKey) : undefined;
  if (given) return { current: given, previous, generated: false };
  if (settings.production) {
    throw new ConfigError([
      'SECRETS_MASTER_KEY is not set and NODE_ENV=production: refusing to start, since secret config would be encrypted under a key kept beside it. ' +
        'Set SECRETS_MASTER_KEY to base64 of 32 random bytes (`openssl rand -base64 32`), kept outside the database.',
    ]);
  }
  await pool.query(`INSERT INTO secrets_generated_master_key (id, master_key) VALUES ('default', $1) ON CONFLICT (id) DO NOTHING`, [
    newDataKey().toString('base64'),
  ]);
  const { rows } = await pool.query<{ master_key: string }>(`SELECT master_key FROM secrets_generated_master_key WHERE id = 'default'`);
  return { current: Buffer.from(rows[0].master_key, 'base64'), previous, generated: true };
}

/**
 * Envelope encryption of installations' secret config: each installation's values are sealed under
 * a data key of its own, stored wrapped by the master key. Destroying the data key (`shred`) makes
 * every sealed value of that installation in the log unreadable for good. Nothing is cached, so a
 * shredded key is gone for every process at once.
 */
export class InstallationSecrets {
  private readonly currentId: string;
  private readonly previousId: string | null;

  private constructor(
    private readonly pool: Pool,
    private readonly keys: MasterKeys,
  ) {
    this.currentId = keyIdOf(keys.current);
    this.previousId = keys.previous ? keyIdOf(keys.previous) : null;
  }

  static async load(pool: Pool, settings: SecretSettings): Promise<InstallationSecrets> {
    return new InstallationSecrets(pool, await resolveMasterKeys(pool, settings));
  }

  /**
   * A request's body hash (kept in event metadata for Idempotency-Key retries) keyed by the master
   * key: a body holding a secret must not leave a plain digest in the log that a guess could be
   * checked against, after shredding or ever.
   */
  keyedRequestHash(requestHash: string | null | undefined): string | null {
    if (!requestHash) return null;
    const key = createHmac('sha256', this.keys.current).update('provider-store request hash').digest();
    return createHmac('sha256', key).update(requestHash).digest('hex');
  }

  /** Seals each value under the installation's data key, made on first use. */
  async seal(installationId: string, values: Readonly<Record<string, string>>): Promise<Record<string, string>> {
    const entries = Object.entries(values);
    if (entries.length === 0) return {};
    const dataKey = await this.dataKeyFor(installationId, true);
    return Object.fromEntries(entries.map(([key, value]) => [key, sealConfigValue(dataKey, installationId, key, value)]));
  }

  /** The plaintext of sealed values; SecretUnreadable when the data key was shredded (or never existed). */
  async reveal(installationId: string, sealed: Readonly<Record<string, string>>): Promise<Record<string, string>> {
    const entries = Object.entries(sealed);
    if (entries.length === 0) return {};
    const dataKey = await this.dataKeyFor(installationId, false);
    return Object.fromEntries(entries.map(([key, value]) => [key, openConfigValue(dataKey, installationId, key, value)]));
  }

  /** Destroys the installation's data key: its sealed values can never be opened again. */
  async shred(installationId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('DELETE FROM installation_data_keys WHERE installation_id = $1', [installationId]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * Re-wraps every data key wrapped by the previous master key with the current one. The log is not
   * touched: values stay sealed under the same data keys. Safe to run again (or concurrently): a
   * row is updated only while it still names the previous key.
   */
  async rotate(): Promise<RotationReport> {
    const previous = this.keys.previous;
    if (!previous || this.previousId === null) throw new ConfigError(['SECRETS_PREVIOUS_MASTER_KEY must name the master key being replaced']);
    if (this.previousId === this.currentId) throw new ConfigError(['SECRETS_PREVIOUS_MASTER_KEY and SECRETS_MASTER_KEY are the same key']);
    let rewrapped = 0;
    for (;;) {
      const { rows } = await this.pool.query<DataKeyRow>(
        'SELECT installation_id, wrapped_key, master_key_id FROM installation_data_keys WHERE master_key_id = $1 ORDER BY installation_id LIMIT $2',
        [this.previousId, ROTATION_BATCH],
      );
      for (const row of rows) {
        const wrapped = wrapDataKey(this.keys.current, unwrapDataKey(previous, row.wrapped_key, row.installation_id), row.installation_id);
        const { rowCount } = await this.pool.query(
          'UPDATE installation_data_keys SET wrapped_key = $2, master_key_id = $3, rewrapped_at = now() WHERE installation_id = $1 AND master_key_id = $4',
          [row.installation_id, wrapped, this.currentId, this.previousId],
        );
        rewrapped += rowCount ?? 0;
      }
      if (rows.length < ROTATION_BATCH) break;
    }
    const { rows } = await this.pool.query<{ count: string }>('SELECT count(*)::text AS count FROM installation_data_keys WHERE master_key_id = $1', [this.currentId]);
    return { rewrapped, alreadyCurrent: Number(rows[0].count) - rewrapped };
  }

  private async dataKeyFor(installationId: string, create: boolean): Promise<Buffer> {
    let row = await this.readDataKey(installationId);
    if (!row && create) {
      // Two writers at once: the first insert wins and both use its key.
      await this.pool.query(
        'INSERT INTO installation_data_keys (installation_id, wrapped_key, master_key_id) VALUES ($1, $2, $3) ON CONFLICT (installation_id) DO NOTHING',
        [installationId, wrapDataKey(this.keys.current, newDataKey(), installationId), this.currentId],
      );
      row = await this.readDataKey(installationId);
    }
    if (!row) throw new SecretUnreadable(`installation ${installationId} has no data key: its secret config was destroyed`);
    return unwrapDataKey(this.masterKeyFor(row), row.wrapped_key, installationId);
  }

  private masterKeyFor(row: DataKeyRow): Buffer {
    if (row.master_key_id === this.currentId) return this.keys.current;
    if (this.keys.previous && row.master_key_id === this.previousId) return this.keys.previous;
    throw new SecretUnreadable(
      `the data key of installation ${row.installation_id} is wrapped by master key ${row.master_key_id}, which is neither SECRETS_MASTER_KEY (${this.currentId}) nor SECRETS_PREVIOUS_MASTER_KEY`,
    );
  }

  private async readDataKey(installationId: string): Promise<DataKeyRow | undefined> {
    const { rows } = await this.pool.query<DataKeyRow>(
      'SELECT installation_id, wrapped_key, master_key_id FROM installation_data_keys WHERE installation_id = $1',
      [installationId],
    );
    return rows[0];
  }
}

const loaded = new WeakMap<Pool, Promise<InstallationSecrets>>();

/**
 * The process's keyring, loaded once per database pool (the API's handlers, the installer and the CLI
 * each ask for it where they need it). A failed load is not kept, so the next call tries again.
 */
export function installationSecretsOf(infrastructure: { pool: Pool; config: { secrets: SecretSettings } }): Promise<InstallationSecrets> {
  const known = loaded.get(infrastructure.pool);
  if (known) return known;
  const loading = InstallationSecrets.load(infrastructure.pool, infrastructure.config.secrets);
  loaded.set(infrastructure.pool, loading);
  loading.catch(() => loaded.delete(infrastructure.pool));
  return loading;
}
