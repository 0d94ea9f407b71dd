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
 * A runtime's liveness report. The installation's health is the health of the generation serving it
 * (the newest one while none has registered yet): its beats refresh `runtime_heartbeats` (the health
 * watchdog's input), and a change of its health becomes an event. A generation still in flight, or
 * one that failed, says nothing about what serves the tenant.
 */
@CommandHandler(ReportHeartbeatCommand)
export class ReportHeartbeatHandler implements ICommandHandler<ReportHeartbeatCommand, void> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async execute({ credentials, status, message }: ReportHeartbeatCommand): Promise<void> {
    const { streamName, state } = await authenticateRuntime(this.infrastructure, credentials);
    const { installationId, generation } = credentials;
    if (generation !== (state.servingGeneration ?? state.generation)) return;
    await this.infrastructure.pool.query(
      `INSERT INTO runtime_heartbeats (installation_id, stream_name, generation, status, message, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (installation_id) DO UPDATE
         SET stream_name = EXCLUDED.stream_name, generation = EXCLUDED.generation, status = EXCLUDED.status,
             message = EXCLUDED.message, last_seen_at = EXCLUDED.last_seen_at
         WHERE runtime_heartbeats.generation <= EXCLUDED.generation`,
      [installationId, streamName, generation, status, message],
    );
    const reported = status === 'healthy' ? null : (message ?? 'The runtime reports itself degraded.');
    if (state.health === status && state.healthMessage === reported) return;
    const context = runtimeContext(state, null);
    await runCommand(
      this.infrastructure.aggregates,
      installationDecider,
      streamName,
      { type: 'ReportHealth', health: status, message: reported, now: context.now },
      context,
    );
  }
}
