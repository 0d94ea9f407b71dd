import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys read `psk_<key id>_<secret>`. The id finds the row; only a SHA-256 of the secret is
 * stored (the secret is 32 random bytes, so a slow hash adds nothing), and the comparison is
 * constant-time.
 */
const KEY_PATTERN = /^psk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface IssuedKey {
  keyId: string;
  key: string;
  secretHash: string;
}

export function issueApiKey(): IssuedKey {
  const keyId = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { keyId, key: `psk_${keyId}_${secret}`, secretHash: hashSecret(secret) };
}

export function parseApiKey(key: string): { keyId: string; secret: string } | undefined {
  const match = KEY_PATTERN.exec(key);
  return match ? { keyId: match[1], secret: match[2] } : undefined;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
