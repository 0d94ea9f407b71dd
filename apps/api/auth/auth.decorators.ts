import { SetMetadata } from '@nestjs/common';
import { ApiKeyScope } from '../../../libs/api-keys/api-key';

export const PUBLIC_ROUTE = 'auth:public';
export const REQUIRED_SCOPE = 'auth:scope';

/** No API key: health, docs and the runtime endpoints (which check their own token). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);
export const RequireScope = (scope: ApiKeyScope) => SetMetadata(REQUIRED_SCOPE, scope);
