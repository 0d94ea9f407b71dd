import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool } from 'pg';

/** Name of the row in `platform_secrets` that holds the HMAC key when no env secret is given. */
export const REGISTRATION_SECRET_NAME = 'runtime-registration-token';
export const REGISTRATION_SECRET_ENV = 'RUNTIME_TOKEN_SECRET';

/**
 * The token a runtime of one installation's generation presents. It is derived, not stored, so a
 * redelivered deploy of the same generation hands out the same token and the stored hash still fits.
 */
export function registrationTokenFor(secret: string | Buffer, installationId: string, generation: number): string {
  return createHmac('sha256', secret).update(`${installationId}:${generation}`).digest('base64url');
}

/** What the log keeps (`DeployStarted.token_hash`): the token itself is never written anywhere. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Compares in constant time, whatever the presented token is. */
export function tokenMatches(token: string, hash: string): boolean {
  const presented = Buffer.from(hashToken(token), 'hex');
  const stored = Buffer.from(hash, 'hex');
  if (stored.length !== presented.length) {
    // Still spend the comparison so a malformed stored hash does not answer faster.
    timingSafeEqual(presented, presented);
    return false;
  }
  return timingSafeEqual(presented, stored);
}

/**
 * The secret behind every registration token: `RUNTIME_TOKEN_SECRET` when set (several installations
 * of the platform sharing one database must then agree on it), else one random secret made the first
 * time any process asks and kept in the database, so every replica and every restart derive the same
 * tokens.
 */
export class RegistrationTokens {
  private constructor(private readonly secret: string) {}

  static async load(pool: Pick<Pool, 'query'>, env: NodeJS.ProcessEnv = process.env): Promise<RegistrationTokens> {
    const fromEnv = env[REGISTRATION_SECRET_ENV];
    if (fromEnv) return new RegistrationTokens(fromEnv);
    return new RegistrationTokens(await loadOrCreateSecret(pool, REGISTRATION_SECRET_NAME));
  }

  static fromSecret(secret: string): RegistrationTokens {
    return new RegistrationTokens(secret);
  }

  tokenFor(installationId: string, generation: number): string {
    return registrationTokenFor(this.secret, installationId, generation);
  }

  hashFor(installationId: string, generation: number): string {
    return hashToken(this.tokenFor(installationId, generation));
  }
}

/** Concurrent first callers race on the INSERT; ON CONFLICT makes every one of them read the winner. */
export async function loadOrCreateSecret(pool: Pick<Pool, 'query'>, name: string): Promise<string> {
  await pool.query('CREATE TABLE IF NOT EXISTS platform_secrets (name text primary key, value text not null)').catch((error: unknown) => {
    // Two processes creating the table at once: one of them sees a duplicate type/relation error.
    if (!isDuplicateObject(error)) throw error;
  });
  await pool.query('INSERT INTO platform_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
    name,
    randomBytes(32).toString('base64url'),
  ]);
  const { rows } = await pool.query<{ value: string }>('SELECT value FROM platform_secrets WHERE name = $1', [name]);
  if (!rows[0]) throw new Error(`platform secret "${name}" could not be read back`);
  return rows[0].value;
}

function isDuplicateObject(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return code === '23505' || code === '42P07';
}
