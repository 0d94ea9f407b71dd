import { CanActivate, ExecutionContext, Inject, Injectable, UnauthorizedException, ForbiddenException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { parseApiKey, secretMatches } from '../../../libs/api-keys/api-key-secret';
import { ApiKeyScope } from '../../../libs/api-keys/api-key';
import { EventStore } from '../../../libs/event-store/event-store.port';
import { EVENT_STORE } from '../platform/tokens';
import { ApiKeyDirectory } from './api-key-directory';
import { PUBLIC_ROUTE, REQUIRED_SCOPE } from './auth.decorators';
import { AuthenticatedRequest, Principal } from './principal';

/**
 * Authenticates every route not marked @Public, before the rate limiter runs: a request is charged
 * to the key only once the key is known to be real, so a made-up or guessed key neither gets a budget
 * of its own nor spends a real key's. Keys are read from their own streams (ApiKeyDirectory), so a
 * revocation bites within half a second; the secret is checked on every request.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly directory: ApiKeyDirectory;

  constructor(
    private readonly reflector: Reflector,
    @Inject(EVENT_STORE) store: EventStore,
  ) {
    this.directory = new ApiKeyDirectory(store);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = request.headers.authorization;
    const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!token) throw new UnauthorizedException({ code: 'unauthorized', message: 'Send an API key as "Authorization: Bearer <key>".' });
    const parsed = parseApiKey(token);
    const record = parsed ? await this.directory.find(parsed.keyId) : null;
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
}
