import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { runCommand } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { Health } from './installation.events';
import { installationDecider } from './installation.decider';
import { RuntimeCredentials, authenticateRuntime, runtimeContext } from './runtime-authentication';

export class ReportHeartbeatCommand extends Command<void> {
  constructor(
    readonly credentials: RuntimeCredentials,
    readonly status: Health,
    readonly message: string | null,
  ) {
    super();
  }
}

/**
 * A runtime's liveness report. Every beat refreshes `runtime_heartbeats` (the health watchdog's
 * input); only a change of the current generation's health becomes an event.
 */
@CommandHandler(ReportHeartbeatCommand)
export class ReportHeartbeatHandler implements ICommandHandler<ReportHeartbeatCommand, void> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async execute({ credentials, status, message }: ReportHeartbeatCommand): Promise<void> {
    const { streamName, state } = await authenticateRuntime(this.infrastructure, credentials);
    const { installationId, generation } = credentials;
    await this.infrastructure.pool.query(
      `INSERT INTO runtime_heartbeats (installation_id, stream_name, generation, status, message, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (installation_id) DO UPDATE
         SET stream_name = EXCLUDED.stream_name, generation = EXCLUDED.generation, status = EXCLUDED.status,
             message = EXCLUDED.message, last_seen_at = EXCLUDED.last_seen_at
         WHERE runtime_heartbeats.generation <= EXCLUDED.generation`,
      [installationId, streamName, generation, status, message],
    );
    // An old generation's runtime still beating during a rollout says nothing about the current one.
    if (generation !== state.generation) return;
    const reported = status === 'healthy' ? null : (message ?? 'The runtime reports itself degraded.');
    if (state.health === status && state.healthMessage === reported) return;
    const context = runtimeContext(state, null);
    await runCommand(
      this.infrastructure.eventStore,
      installationDecider,
      streamName,
      { type: 'ReportHealth', health: status, message: reported, now: context.now },
      context,
    );
  }
}
