export { INFRASTRUCTURE } from '../../../libs/application/infrastructure-token';
export const PG_POOL = Symbol('PgPool');
export const LOGGER = Symbol('Logger');
/** The event store alone, for the key guard (the bench's bare app has no whole Infrastructure). */
export const EVENT_STORE = Symbol('EventStore');
