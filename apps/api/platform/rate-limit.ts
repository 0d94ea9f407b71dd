import { ThrottlerModuleOptions } from '@nestjs/throttler';
import { parseApiKey } from '../../../libs/api-keys/api-key-secret';

/**
 * One budget per client across every route: the API key's id when a well-formed key is sent (so
 * tenants behind one NAT do not share a budget), the client's address otherwise. The key id is not
 * a secret; the guard that runs next still checks the key itself.
 */
export function rateLimitOptions(limitPerMinute: number): ThrottlerModuleOptions {
  return {
    throttlers: [{ name: 'per-client', ttl: 60_000, limit: limitPerMinute }],
    getTracker: (req: Record<string, unknown>) => {
      const header = (req.headers as Record<string, string | undefined> | undefined)?.authorization;
      const parsed = typeof header === 'string' && header.startsWith('Bearer ') ? parseApiKey(header.slice(7).trim()) : undefined;
      return parsed ? `key:${parsed.keyId}` : `ip:${String(req.ip ?? 'unknown')}`;
    },
    generateKey: (_context, tracker, throttlerName) => `${throttlerName}:${tracker}`,
  };
}
