export { INFRASTRUCTURE } from '../../../libs/application/infrastructure-token';
export const PG_POOL = Symbol('PgPool');
export const LOGGER = Symbol('Logger');
