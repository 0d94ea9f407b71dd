import { ThrottlerModuleOptions } from '@nestjs/throttler';
import * as ipaddr from 'ipaddr.js';
import type { Pool } from 'pg';
import { RegistrationTokens, tokenMatches } from '../../../libs/installations/registration-token';
import type { AuthenticatedRequest } from '../auth/principal';
import { isRecord } from './http-types';
import { PgThrottlerStorage } from './pg-throttler-storage';

/** What the limiter needs of the infrastructure: the shared budget lives in the database. */
export interface RateLimitInfrastructure {
  config: { rateLimitPerMinute: number };
  pool: Pool;
}

/**
 * One budget per principal, shared by every replica (PgThrottlerStorage), across all routes:
 * - a verified API key (the ApiKeyGuard runs first and refuses unknown keys with a 401 before any
 *   budget is charged, so neither a made-up key nor a known key id without its secret counts);
 * - a deployed runtime, by the installation its registration token proves (never its address, so
 *   runtimes sharing a node or a NAT do not share a budget, and nobody else can spend theirs);
 * - anything else (health, docs, runtime calls with a bad token) by the client's address: its /64
 *   for IPv6, where one host holds the whole prefix; behind a proxy, see TRUST_PROXY.
 */
export function rateLimitOptions(infrastructure: RateLimitInfrastructure): ThrottlerModuleOptions {
  const runtimeTokens = new RuntimeTokenCheck(infrastructure.pool);
  return {
    throttlers: [{ name: 'per-principal', ttl: 60_000, limit: infrastructure.config.rateLimitPerMinute }],
    storage: new PgThrottlerStorage(infrastructure.pool),
    getTracker: async (_req, context) => {
      const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
      if (request.principal) return `key:${request.principal.keyId}`;
      const installationId = await runtimeTokens.installationOf(request);
      return installationId ? `installation:${installationId}` : `address:${addressBucket(request.ip)}`;
    },
    generateKey: (_context, tracker, throttlerName) => `${throttlerName}:${tracker}`,
  };
}

/**
 * Recognises a runtime's call by its registration token: an HMAC of (installation id, generation)
 * that needs no database read to check once the secret is loaded (the runtime service still checks
 * the token against the installation's stream before doing anything).
 */
class RuntimeTokenCheck {
  private tokens?: Promise<RegistrationTokens>;

  constructor(private readonly pool: Pool) {}

  async installationOf(request: AuthenticatedRequest): Promise<string | undefined> {
    const header = request.headers.authorization;
    const body: unknown = request.body;
    if (typeof header !== 'string' || !header.startsWith('Bearer ') || !isRecord(body)) return undefined;
    const { installation_id: installationId, generation } = body;
    if (typeof installationId !== 'string' || installationId.length > 100) return undefined;
    if (typeof generation !== 'number' || !Number.isSafeInteger(generation)) return undefined;
    const tokens = await this.load();
    return tokenMatches(header.slice(7).trim(), tokens.hashFor(installationId, generation)) ? installationId : undefined;
  }

  private load(): Promise<RegistrationTokens> {
    this.tokens ??= RegistrationTokens.load(this.pool).catch((error: unknown) => {
      this.tokens = undefined;
      throw error;
    });
    return this.tokens;
  }
}

/** IPv4 as is (also when written IPv4-mapped), IPv6 by its /64. */
export function addressBucket(address: string | undefined): string {
  if (!address || !ipaddr.isValid(address)) return 'unknown';
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const bytes = parsed.toByteArray().slice(0, 8).concat(Array(8).fill(0));
  return `${ipaddr.fromByteArray(bytes).toString()}/64`;
}
