/**
 * `node dist/bench/rebuild-worker.js <database url> [EventStoreDB connection string]`: rebuilds the installed-providers read model with
 * `rebuildProjection` in its own process, so its peak RSS is the rebuild's alone, and prints one JSON
 * line: events, seconds, events/s, the wall time of each page, peak RSS (sampled every 50 ms) and
 * the rows the table holds afterwards. With a connection string the history is read from
 * EventStoreDB; the read model and checkpoints stay in PostgreSQL, as in the app.
 */
import { CheckpointStore } from '../libs/event-store/consumers/checkpoint-store';
import { EventStore } from '../libs/event-store/event-store.port';
import { EventStoreDbEventStore } from '../libs/event-store/eventstoredb/eventstoredb-event-store';
import { PostgresEventStore } from '../libs/event-store/postgres/postgres-event-store';
import { createPool } from '../libs/database/database';
import { installedProvidersProjection } from '../projections/installed-providers.projection';
import { rebuildProjection } from '../libs/projection-engine/rebuild';

async function main(): Promise<void> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  const pool = createPool(process.argv[2], 4, 'bench-rebuild');
  const eventStore: EventStore = process.argv[3] ? new EventStoreDbEventStore(process.argv[3]) : new PostgresEventStore(pool);
  const pageMs: number[] = [];
  let last = process.hrtime.bigint();
  try {
    const report = await rebuildProjection({ pool, eventStore, checkpoints: new CheckpointStore(pool) }, installedProvidersProjection, {
      onProgress: () => {
        const now = process.hrtime.bigint();
        pageMs.push(Number(now - last) / 1e6);
        last = now;
      },
    });
    peak = Math.max(peak, process.memoryUsage().rss);
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM installed_providers');
    process.stdout.write(
      JSON.stringify({ events: report.events, seconds: report.seconds, events_per_second: report.events_per_second, page_ms: pageMs, peak_rss_mb: Math.round((peak / 1048576) * 10) / 10, rows: rows[0].n }) + '\n',
    );
  } finally {
    clearInterval(timer);
    await eventStore.close();
    await pool.end();
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
