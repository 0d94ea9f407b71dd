import { CanActivate, ExecutionContext, Inject, Injectable, UnauthorizedException, ForbiddenException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Pool } from 'pg';
import { parseApiKey, secretMatches } from '../../../libs/api-keys/api-key-secret';
import { ApiKeyScope } from '../../../libs/api-keys/api-key';
import { PG_POOL } from '../platform/tokens';
import { PUBLIC_ROUTE, REQUIRED_SCOPE } from './auth.decorators';
import { AuthenticatedRequest, Principal } from './principal';

interface KeyRecord {
  org: string;
  scopes: ApiKeyScope[];
  platformAdmin: boolean;
  secretHash: string;
  revoked: boolean;
}

const CACHE_TTL_MS = 2_000;
const CACHE_MAX = 10_000;

/**
 * Authenticates every route not marked @Public. Key rows are cached for two seconds (bounded), which
 * is how long a revocation may take to bite; the secret is checked on every request.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly cache = new Map<string, { record: KeyRecord | null; expires: number }>();

  constructor(
    private readonly reflector: Reflector,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = request.headers.authorization;
    const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!token) throw new UnauthorizedException({ code: 'unauthorized', message: 'Send an API key as "Authorization: Bearer <key>".' });
    const parsed = parseApiKey(token);
    const record = parsed ? await this.lookup(parsed.keyId) : null;
    if (!parsed || !record || record.revoked || !secretMatches(parsed.secret, record.secretHash)) {
      throw new UnauthorizedException({ code: 'unauthorized', message: 'The API key is invalid or revoked.' });
    }
    const principal: Principal = {
      keyId: parsed.keyId,
      organizationId: record.org,
      scopes: record.scopes,
      platformAdmin: record.platformAdmin,
    };
    request.principal = principal;
    const scope = this.reflector.getAllAndOverride<ApiKeyScope | undefined>(REQUIRED_SCOPE, targets);
    if (scope && !principal.scopes.includes(scope) && !principal.scopes.includes('admin')) {
      throw new ForbiddenException({ code: 'missing_scope', message: `This API key lacks the "${scope}" scope.` });
    }
    return true;
  }

  private async lookup(keyId: string): Promise<KeyRecord | null> {
    const now = Date.now();
    const cached = this.cache.get(keyId);
    if (cached && cached.expires > now) return cached.record;
    const { rows } = await this.pool.query<{ org: string; scopes: ApiKeyScope[]; platform_admin: boolean; secret_hash: string; revoked_at: Date | null }>(
      'SELECT org, scopes, platform_admin, secret_hash, revoked_at FROM api_keys WHERE key_id = $1',
      [keyId],
    );
    const row = rows[0];
    const record = row
      ? { org: row.org, scopes: row.scopes, platformAdmin: row.platform_admin, secretHash: row.secret_hash, revoked: row.revoked_at !== null }
      : null;
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    // Unknown keys are not cached: a key created a moment ago must work on its first use.
    if (record) this.cache.set(keyId, { record, expires: now + CACHE_TTL_MS });
    return record;
  }
}
