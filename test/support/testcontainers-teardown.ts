import { teardown } from './testcontainers-setup';

/** jest's globalTeardown: stops what testcontainers-setup started (nothing when no engine answered). */
export default teardown;
