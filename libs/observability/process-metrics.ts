import type { Pool } from 'pg';
import { ConsumerRunner } from '../event-store/consumers/consumer-runner';
import { CheckpointStore } from '../event-store/consumers/checkpoint-store';
import { EventStore } from '../event-store/event-store.port';
import { Position, comparePositions } from '../event-store/position';
import { observabilityMetrics } from './metrics';

/** Past this many unhandled events the lag is reported as this many: counting further costs reads. */
const LAG_COUNT_CAP = 10_000;

type Refresh = () => Promise<void>;
const refreshers = new Set<Refresh>();

/** Brings the gauges computed on demand up to date; a source that fails keeps its last values. */
export async function refreshProcessMetrics(): Promise<void> {
  await Promise.all([...refreshers].map((refresh) => refresh().catch(() => undefined)));
}

export interface ProcessMetricsSource {
  pool: Pool;
  eventStore: EventStore;
  checkpoints: Pick<CheckpointStore, 'load'>;
  runners: () => readonly ConsumerRunner[];
}

/**
 * Registers a process's consumers and read model for the gauges computed at scrape time: lag in
 * events and seconds, checkpoint and head positions, active/standby, installations by state and
 * health. Returns the function that unregisters it (on shutdown, and between tests).
 */
export function trackProcessMetrics(source: ProcessMetricsSource): () => void {
  const refresh = async () => {
    const head = await source.eventStore.headPosition();
    const metrics = observabilityMetrics();
    metrics.logHeadPosition.set(head ? Number(head.commit) : 0);
    await Promise.all(source.runners().map((runner) => refreshConsumer(source, runner, head)));
    await refreshInstallations(source.pool);
  };
  refreshers.add(refresh);
  return () => {
    refreshers.delete(refresh);
  };
}

async function refreshConsumer(source: ProcessMetricsSource, runner: ConsumerRunner, head: Position | undefined): Promise<void> {
  const metrics = observabilityMetrics();
  const consumer = runner.consumer.name;
  metrics.consumerActive.set({ consumer }, runner.isActive ? 1 : 0);
  const checkpoint = await source.checkpoints.load(consumer);
  metrics.consumerCheckpointPosition.set({ consumer }, checkpoint ? Number(checkpoint.commit) : 0);
  const filter = runner.consumer.filter;
  if (!head || (checkpoint && comparePositions(checkpoint, head) >= 0)) {
    metrics.consumerLagEvents.set({ consumer }, 0);
    metrics.consumerLagSeconds.set({ consumer }, 0);
    return;
  }
  const eventTypes = filter?.eventTypes;
  const lagEvents =
    eventTypes && source.eventStore.countEvents
      ? await source.eventStore.countEvents({ eventTypes, after: checkpoint, upTo: head })
      : (await source.eventStore.readAll({ fromPosition: checkpoint, limit: LAG_COUNT_CAP, filter })).length;
  metrics.consumerLagEvents.set({ consumer }, Math.min(lagEvents, LAG_COUNT_CAP));
  const [oldest] = await source.eventStore.readAll({ fromPosition: checkpoint, limit: 1, filter });
  const occurredAt = oldest ? Date.parse(oldest.metadata.occurred_at) : NaN;
  metrics.consumerLagSeconds.set({ consumer }, Number.isFinite(occurredAt) ? Math.max(0, (Date.now() - occurredAt) / 1000) : 0);
}

async function refreshInstallations(pool: Pool): Promise<void> {
  const { rows } = await pool.query<{ state: string; health: string; count: string }>(
    'SELECT lifecycle_state AS state, health, count(*) AS count FROM installed_providers GROUP BY lifecycle_state, health',
  );
  const gauge = observabilityMetrics().installations;
  gauge.reset();
  for (const row of rows) gauge.set({ state: row.state, health: row.health }, Number(row.count));
}
