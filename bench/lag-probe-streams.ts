import { tenantInstallationsPrefix } from '../libs/installations/installation-identity';

/** The lag probe's tenant: no request uses it (each run has databases of its own). */
export const LAG_PROBE_TENANT = 'lagprobe';

/**
 * Where the lag probe's installation streams start. The projections process notes these from its
 * start, so no message has to reach it before the probe's first append does.
 */
export const LAG_PROBE_STREAMS = tenantInstallationsPrefix(LAG_PROBE_TENANT);
