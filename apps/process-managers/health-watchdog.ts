import { randomUUID } from 'node:crypto';
import { runCommand } from '../../libs/application/command-runner';
import { installationStream } from '../../libs/installations/installation-identity';
import { installationDecider } from '../../libs/installations/installation.decider';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';

import { HEALTH_WATCHDOG_SCOPE } from '../../libs/application/idempotency-scopes';
import { tryAdvisoryXactLockOn } from '../../libs/database/advisory-lock';

/**
 * Turns a healthy installation `degraded` when the generation serving it has not beaten for longer
 * than the window (or never beat since it registered) — whatever its lifecycle: during a rollout and
 * after a failed one the serving generation is still what the tenant relies on. Runs in one replica at a time: each
 * sweep first takes a transaction-scoped advisory lock.
 */
export class HealthWatchdog {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(private readonly infrastructure: Infrastructure) {}

  start(): void {
    const { watchdogIntervalMs } = this.infrastructure.config.health;
    this.timer = setInterval(() => {
      this.running ??= this.sweep()
        .then(() => undefined)
        .catch((error: unknown) => this.infrastructure.logger.warn({ err: String(error) }, 'health watchdog sweep failed'))
        .finally(() => (this.running = undefined));
    }, watchdogIntervalMs);
  }

  async sweep(): Promise<number> {
    const windowMs = this.infrastructure.config.health.heartbeatTimeoutMs;
    const client = await this.infrastructure.pool.connect();
    let silent: Array<{ tenant: string; prefix: string; name: string; seconds: number }>;
    try {
      await client.query('BEGIN');
      if (!(await tryAdvisoryXactLockOn(client, 'health-watchdog'))) {
        await client.query('ROLLBACK');
        client.release();
        return 0;
      }
      const { rows } = await client.query<{ tenant: string; prefix: string; name: string; seconds: number }>(
        `SELECT i.tenant, i.prefix, i.name,
                floor(extract(epoch FROM now() - coalesce(h.last_seen_at, i.updated_at)))::int AS seconds
           FROM installed_providers i
           LEFT JOIN runtime_heartbeats h ON h.installation_id = i.installation_id AND h.generation = i.serving_generation
          WHERE i.serving_generation IS NOT NULL AND i.lifecycle_state <> 'deleting' AND i.health = 'healthy'
            AND coalesce(h.last_seen_at, i.updated_at) < now() - make_interval(secs => $1::double precision / 1000)`,
        [windowMs],
      );
      silent = rows;
      await client.query('COMMIT');
    } catch (error) {
      // Never hand the pool a session still inside a transaction: it would hold the snapshot horizon
      // (and with it every log reader) back for as long as it sat idle.
      await client.query('ROLLBACK').catch(() => undefined);
      client.release(true);
      throw error;
    }
    client.release();
    for (const row of silent) {
      const now = new Date().toISOString();
      await runCommand(
        this.infrastructure.aggregates,
        installationDecider,
        installationStream(row.tenant, row),
        { type: 'ReportHealth', health: 'degraded', message: `No heartbeat from the runtime for ${row.seconds}s.`, now },
        { actor: 'process-manager:health-watchdog', correlationId: randomUUID(), idempotencyScope: HEALTH_WATCHDOG_SCOPE, requestHash: null, now },
      ).catch(() => undefined);
    }
    return silent.length;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
