import { randomUUID } from 'node:crypto';
import { Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { secretMatches } from '../../../libs/api-keys/api-key-secret';
import { runCommand } from '../../../libs/application/command-runner';
import { installationStream } from '../../../libs/installations/installation-identity';
import { PresentInstallation, installationDecider } from '../../../libs/installations/installation.decider';
import { loadState } from '../../../libs/application/stream-state';
import { isCaughtUp } from '../../../libs/event-store/consumers/caught-up';
import { installedProvidersProjection } from '../../../projections/installed-providers.projection';
import { Infrastructure } from '../../../libs/infrastructure/infrastructure';
import { INFRASTRUCTURE } from '../platform/tokens';
import { HeartbeatDto, RegistrationDto } from './runtime.dto';

const LOOKUP_WAIT_MS = 2_000;
const REFUSED = 'The registration token is not valid for this installation and generation.';

/**
 * What deployed runtimes call. Each request is authenticated by the per-generation registration
 * token (only its SHA-256 is kept, in DeployStarted); a token is good for its own installation only.
 */
@Injectable()
export class RuntimeService {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async register(body: RegistrationDto, token: string | undefined): Promise<void> {
    const { streamName, state } = await this.authenticate(body.installation_id, body.generation, token);
    await runCommand(
      this.infrastructure.eventStore,
      installationDecider,
      streamName,
      { type: 'RecordRegistration', generation: body.generation, version: body.version, endpoint: body.endpoint ?? null, now: new Date().toISOString() },
      this.context(state, `registration:${body.installation_id}:${body.generation}:${body.version}`),
    );
  }

  async heartbeat(body: HeartbeatDto, token: string | undefined): Promise<void> {
    const { streamName, state } = await this.authenticate(body.installation_id, body.generation, token);
    const message = body.message ?? null;
    await this.infrastructure.pool.query(
      `INSERT INTO runtime_heartbeats (installation_id, stream_name, generation, status, message, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (installation_id) DO UPDATE
         SET stream_name = EXCLUDED.stream_name, generation = EXCLUDED.generation, status = EXCLUDED.status,
             message = EXCLUDED.message, last_seen_at = EXCLUDED.last_seen_at
         WHERE runtime_heartbeats.generation <= EXCLUDED.generation`,
      [body.installation_id, streamName, body.generation, body.status, message],
    );
    // An old generation's runtime still beating during a rollout says nothing about the current one.
    if (body.generation !== state.generation) return;
    const reported = body.status === 'healthy' ? null : (message ?? 'The runtime reports itself degraded.');
    if (state.health === body.status && state.healthMessage === reported) return;
    await runCommand(
      this.infrastructure.eventStore,
      installationDecider,
      streamName,
      { type: 'ReportHealth', health: body.status, message: reported, now: new Date().toISOString() },
      this.context(state, null),
    );
  }

  private context(state: PresentInstallation, idempotencyKey: string | null) {
    return {
      actor: `runtime:${state.installationId}`,
      correlationId: randomUUID(),
      idempotencyScope: `runtime:${state.installationId}`,
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
  private async locate(installationId: string): Promise<{ tenant: string; prefix: string; name: string } | undefined> {
    const deadline = Date.now() + LOOKUP_WAIT_MS;
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      const { rows } = await this.infrastructure.pool.query<{ tenant: string; prefix: string; name: string }>(
        'SELECT tenant, prefix, name FROM installed_providers WHERE installation_id = $1',
        [installationId],
      );
      if (rows[0] || Date.now() >= deadline) return rows[0];
      // A projection that has seen the whole log will not produce the row: refuse now, so that an
      // unknown id cannot hold a request open.
      if (await this.installedProvidersCaughtUp()) return undefined;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  private async installedProvidersCaughtUp(): Promise<boolean> {
    const head = await this.infrastructure.eventStore.headPosition();
    if (!head) return true;
    const checkpoint = await this.infrastructure.checkpoints.load(installedProvidersProjection.name);
    return isCaughtUp(this.infrastructure.eventStore, checkpoint, head, installedProvidersProjection.eventTypes);
  }

  private async authenticate(installationId: string, generation: number, token: string | undefined) {
    if (!token) throw new UnauthorizedException({ code: 'unauthorized', message: 'Send the registration token as "Authorization: Bearer <token>".' });
    const located = await this.locate(installationId);
    if (!located) throw new UnauthorizedException({ code: 'unauthorized', message: REFUSED });
    const streamName = installationStream(located.tenant, { prefix: located.prefix, name: located.name });
    const { state } = await loadState(this.infrastructure.eventStore, installationDecider, streamName);
    const hash = state.status === 'present' && state.installationId === installationId ? state.tokenHashes[generation] : undefined;
    if (state.status !== 'present' || !hash || !secretMatches(token, hash)) {
      throw new UnauthorizedException({ code: 'unauthorized', message: REFUSED });
    }
    return { streamName, state };
  }
}
