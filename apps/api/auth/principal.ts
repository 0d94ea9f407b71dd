import { ExecutionContext, createParamDecorator } from '@nestjs/common';
import { ApiKeyScope } from '../../../libs/api-keys/api-key';
import type { HttpRequest } from '../platform/http-types';

/** The caller, as its API key says: put on the request by the guard, on every command by handlers. */
export interface Principal {
  keyId: string;
  organizationId: string;
  scopes: readonly ApiKeyScope[];
  platformAdmin: boolean;
}

export type AuthenticatedRequest = HttpRequest & { principal?: Principal };

export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  if (!principal) throw new Error('CurrentPrincipal used on a route without authentication');
  return principal;
});

export function actorOf(principal: Principal): string {
  return `apikey:${principal.keyId}@${principal.organizationId}`;
}
