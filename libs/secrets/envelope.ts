import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** AES-256-GCM: a 32-byte key, a fresh 12-byte nonce per value, a 16-byte tag. */
export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Marks a sealed value and its format, so a future format can be told apart. */
const SEALED_PREFIX = 'sealed:v1:';

export class SecretUnreadable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretUnreadable';
  }
}

/** A short, stable name for a key: which master key wrapped a data key, without revealing it. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update('provider-store master key\u0000').update(key).digest('hex').slice(0, 16);
}

export function newDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/**
 * Encrypts `plaintext` under `key`. `context` is authenticated, not stored: a sealed value moved to
 * another installation or another config key no longer opens.
 */
export function seal(key: Buffer, plaintext: Buffer, context: string): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return SEALED_PREFIX + Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64');
}

export function open(key: Buffer, sealed: string, context: string): Buffer {
  if (!sealed.startsWith(SEALED_PREFIX)) throw new SecretUnreadable('not a sealed value');
  const raw = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64');
  if (raw.length < NONCE_BYTES + TAG_BYTES) throw new SecretUnreadable('sealed value is truncated');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE_BYTES));
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(raw.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new SecretUnreadable('sealed value does not open with this key');
  }
}

/** A data key wrapped by a master key, bound to its installation. */
export function wrapDataKey(masterKey: Buffer, dataKey: Buffer, installationId: string): string {
  return seal(masterKey, dataKey, `data-key:${installationId}`);
}

export function unwrapDataKey(masterKey: Buffer, wrapped: string, installationId: string): Buffer {
  return open(masterKey, wrapped, `data-key:${installationId}`);
}

/** A config value sealed under its installation's data key, bound to the config key it belongs to. */
export function sealConfigValue(dataKey: Buffer, installationId: string, configKey: string, value: string): string {
  return seal(dataKey, Buffer.from(value, 'utf8'), `config:${installationId}:${configKey}`);
}

export function openConfigValue(dataKey: Buffer, installationId: string, configKey: string, sealed: string): string {
  return open(dataKey, sealed, `config:${installationId}:${configKey}`).toString('utf8');
}
