export const INFRASTRUCTURE = Symbol('Infrastructure');
export const APP_CONFIG = Symbol('AppConfig');
export const PG_POOL = Symbol('PgPool');
export const EVENT_STORE = Symbol('EventStore');
export const LOGGER = Symbol('Logger');
