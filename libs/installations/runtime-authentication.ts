import { randomUUID } from 'node:crypto';
import { UnauthorizedException } from '@nestjs/common';
import { secretMatches } from '../api-keys/api-key-secret';
import { CommandContext } from '../application/command-runner';
import { runtimeScope } from '../application/idempotency-scopes';
import { loadCurrent } from '../application/aggregates';
import { isCaughtUp } from '../event-store/consumers/caught-up';
import { waitUntil } from '../event-store/consumers/wait-until';
import { Infrastructure } from '../infrastructure/infrastructure';
import { installedProvidersProjection } from '../../projections/installed-providers.projection';
import { PresentInstallation, installationDecider } from './installation.decider';
import { installationStream } from './installation-identity';

const LOOKUP_WAIT_MS = 2_000;
const REFUSED = 'The registration token is not valid for this installation and generation.';

/** What a deployed runtime presents on every call: its installation, generation and token. */
export interface RuntimeCredentials {
  installationId: string;
  generation: number;
  /** The bearer token; absent when the request carried none. */
  token: string | undefined;
}

export interface AuthenticatedRuntime {
  streamName: string;
  state: PresentInstallation;
}

type RuntimeInfrastructure = Pick<Infrastructure, 'pool' | 'eventStore' | 'checkpoints' | 'aggregates'>;

/**
 * A runtime is authenticated by its per-generation registration token (only its SHA-256 is kept, in
 * DeployStarted); a token is good for its own installation only.
 */
export async function authenticateRuntime(infrastructure: RuntimeInfrastructure, credentials: RuntimeCredentials): Promise<AuthenticatedRuntime> {
  const { installationId, generation, token } = credentials;
  if (!token) throw new UnauthorizedException({ code: 'unauthorized', message: 'Send the registration token as "Authorization: Bearer <token>".' });
  const located = await locate(infrastructure, installationId);
  if (!located) throw new UnauthorizedException({ code: 'unauthorized', message: REFUSED });
  const streamName = installationStream(located.tenant, { prefix: located.prefix, name: located.name });
  // From the stream's snapshot and the events after it: a beat costs the same on a long stream.
  const { state } = await loadCurrent(infrastructure.aggregates, installationDecider, streamName);
  const hash = state.status === 'present' && state.installationId === installationId ? state.tokenHashes[generation] : undefined;
  if (state.status !== 'present' || !hash || !secretMatches(token, hash)) {
    throw new UnauthorizedException({ code: 'unauthorized', message: REFUSED });
  }
  return { streamName, state };
}

/** The runtime acts on its own installation only, in a scope no tenant can write to. */
export function runtimeContext(state: PresentInstallation, idempotencyKey: string | null): CommandContext {
  return {
    actor: `runtime:${state.installationId}`,
    correlationId: randomUUID(),
    idempotencyScope: runtimeScope(state.installationId),
    idempotencyKey,
    requestHash: null,
    now: new Date().toISOString(),
  };
}

/**
 * The runtime knows only its installation id; the installed-providers read model maps it to the
 * stream. A runtime can call before that projection has seen the install (it starts right after
 * DeployStarted), so a miss waits briefly for the projection rather than refusing a valid token.
 */
async function locate(infrastructure: RuntimeInfrastructure, installationId: string): Promise<{ tenant: string; prefix: string; name: string } | undefined> {
  let found: { tenant: string; prefix: string; name: string } | undefined;
  await waitUntil(
    async () => {
      const { rows } = await infrastructure.pool.query<{ tenant: string; prefix: string; name: string }>(
        `SELECT tenant, prefix, name FROM ${installedProvidersProjection.table.name} WHERE installation_id = $1`,
        [installationId],
      );
      found = rows[0];
      // A projection that has seen the whole log will not produce the row: refuse now, so that an
      // unknown id cannot hold a request open.
      return found !== undefined || (await installedProvidersCaughtUp(infrastructure));
    },
    { timeoutMs: LOOKUP_WAIT_MS, intervalMs: 10, maxIntervalMs: 200 },
  );
  return found;
}

async function installedProvidersCaughtUp(infrastructure: RuntimeInfrastructure): Promise<boolean> {
  // Written in each append's transaction: the row of any committed install is there already.
  if (infrastructure.eventStore.inlineProjections?.includes(installedProvidersProjection.name)) return true;
  const head = await infrastructure.eventStore.headPosition();
  if (!head) return true;
  const checkpoint = await infrastructure.checkpoints.load(installedProvidersProjection.name);
  return isCaughtUp(infrastructure.eventStore, checkpoint, head, installedProvidersProjection.eventTypes);
}
