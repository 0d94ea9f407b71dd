import { Pool } from 'pg';
import pino, { Logger } from 'pino';
import { AppConfig } from '../config/app-config';
import { createPool, migrateOn } from '../database/database';
import { startOrAttachEmbeddedPostgres } from '../database/embedded-postgres';
import { CheckpointStore } from '../event-store/consumers/checkpoint-store';
import { EventStore } from '../event-store/event-store.port';
import { PostgresEventStore } from '../event-store/postgres/postgres-event-store';
import { EventStoreDbEventStore } from '../event-store/eventstoredb/eventstoredb-event-store';
import { ArtifactStore } from '../artifacts/artifact-store.port';
import { createArtifactStore } from '../artifacts/create-artifact-store';
import { InlineProjections } from '../projection-engine/inline-projections';
import { refoldInlineProjections } from '../projection-engine/inline-refold';
import { PROJECTIONS } from '../../projections/projections';
import { Aggregates, aggregatesIn } from '../application/aggregates';
import { ProviderFacts, providerFactsFor } from '../providers/provider-facts';
import { AggregateCache } from '../application/aggregate-cache';
import { InstallationState } from '../installations/installation.decider';

/**
 * The process's connections, made once in the composition root and shared by whichever apps run in
 * it (API, installer, projections). The event-store adapter is chosen here and nowhere else.
 */
export interface Infrastructure {
  config: AppConfig;
  logger: Logger;
  pool: Pool;
  /**
   * The log consumers' connections: the projection runners' locks, batches and checkpoints, and every
   * subscription's reads of the log. With PROJECTIONS_POOL_SIZE > 0 a pool of its own, so that
   * requests filling `pool` cannot make the read models wait for a connection (no connection opens
   * until a consumer runs in the process); `pool` itself when 0, the default, which measured better
   * on a saturated machine (bench/README.md).
   */
  projectionsPool: Pool;
  eventStore: EventStore;
  checkpoints: CheckpointStore;
  databaseUrl: string;
  /** Uploaded wheels: PostgreSQL unless ARTIFACT_STORE_URL names an S3 bucket. */
  artifacts: ArtifactStore;
  /** The log with the snapshots and idempotency index that make loading an aggregate cost the same at any length. */
  aggregates: Aggregates;
  /** A provider's facts for installs: read models by key on PostgreSQL (inline), its folded stream otherwise. */
  providerFacts: ProviderFacts;
  /** Installations this process's commands wrote lately (AGGREGATE_CACHE_SIZE of them): the next command on one skips its load. */
  recentInstallations: AggregateCache<InstallationState>;
  close(): Promise<void>;
}

export function createLogger(config: AppConfig, name: string): Logger {
  return pino({
    name,
    level: config.logLevel,
    // Secrets never reach a log line, whatever a handler passes in.
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-registration-token"]',
        'headers.authorization',
        'authorization',
        'token',
        'key',
        'secret',
        '*.token',
        '*.secret',
        '*.registration_token',
        'env.PROVIDER_STORE_REGISTRATION_TOKEN',
        // Secret config (libs/secrets): request bodies, and whatever a handler might pass along.
        'req.body.secret_config',
        'body.secret_config',
        'secret_config',
        '*.secret_config',
        'secretConfig',
        '*.secretConfig',
        'masterKey',
        '*.masterKey',
      ],
      censor: '[redacted]',
    },
  });
}

export async function createInfrastructure(config: AppConfig, name: string): Promise<Infrastructure> {
  const logger = createLogger(config, name);
  let stopEmbedded: () => Promise<void> = async () => undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    const embedded = await startOrAttachEmbeddedPostgres('postgres');
    databaseUrl = embedded.url;
    stopEmbedded = embedded.stop;
    logger.info({ owned: embedded.owned }, 'using embedded PostgreSQL (DATABASE_URL unset)');
  }
  const pool = createPool(databaseUrl, config.databasePoolSize, name);
  const schema = await migrateOn(pool).catch(async (error: unknown) => {
    await pool.end().catch(() => undefined);
    throw error;
  });
  for (const change of schema.tables) {
    // A refold empties a read model until its runner has folded the log again: worth a warning.
    const level = change.action === 'refolded' || change.action === 'recreated' ? 'warn' : 'info';
    logger[level](change, 'table brought in line with its declaration');
  }
  const projectionsPool = config.projectionsPoolSize > 0 ? createPool(databaseUrl, config.projectionsPoolSize, `${name}-projections`) : pool;
  const eventStore: EventStore = config.eventStoreUrl
    ? new EventStoreDbEventStore(config.eventStoreUrl)
    : new PostgresEventStore(pool, {
        subscriptionPool: projectionsPool,
        // The API's read models, written in each append's transaction: read-your-writes on every replica.
        inline: config.inlineProjections ? new InlineProjections(PROJECTIONS) : undefined,
        recordIdempotencyKeys: true,
      });
  logger.info({ eventStore: config.eventStoreUrl ? 'eventstoredb' : 'postgresql', inlineProjections: eventStore.inlineProjections ?? [] }, 'event store selected');
  const checkpoints = new CheckpointStore(pool);
  const refolded = schema.tables.filter((c) => c.action === 'refolded').map((c) => c.table);
  if (refolded.length > 0) await refoldInlineProjections({ pool, eventStore, checkpoints }, PROJECTIONS, refolded, logger);
  const artifacts = createArtifactStore(config, pool);
  const aggregates = aggregatesIn(pool, eventStore, {
    idempotencyRetentionMs: config.idempotencyRetentionHours * 3_600_000,
    // A snapshot or key record not written leaves the log as the truth: worth a warning, not a failure.
    onBackgroundError: (error: unknown) => logger.warn({ err: error }, 'aggregate snapshot or idempotency record not written'),
  });
  return {
    config,
    logger,
    pool,
    projectionsPool,
    eventStore,
    checkpoints,
    databaseUrl,
    artifacts,
    aggregates,
    providerFacts: providerFactsFor(aggregates, pool),
    recentInstallations: new AggregateCache(config.aggregateCacheSize),
    close: async () => {
      await eventStore.close().catch(() => undefined);
      await artifacts.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
      if (projectionsPool !== pool) await projectionsPool.end().catch(() => undefined);
      await stopEmbedded();
    },
  };
}
