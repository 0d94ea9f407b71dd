import { existsSync } from 'node:fs';
import path from 'node:path';
import { SecretSettings, secretSettingsFrom } from '../secrets/secret-settings';
import { EnvReader } from './env-reader';

/**
 * Every setting the system reads, parsed once from the environment and validated at start-up. A bad
 * value stops the process with a message naming the variable, what it holds and what it must be.
 */
export interface AppConfig {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  /** Connections of the log consumers' own pool; 0 shares `databasePoolSize`'s pool. */
  projectionsPoolSize: number;
  eventStoreUrl: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  bodyLimitBytes: number;
  runtimeVersion: string;
  publicUrl: string | undefined;
  readModelWaitMs: number;
  /**
   * PostgreSQL only: the API's read models are written in the append's transaction (read-your-writes).
   * INLINE_PROJECTIONS=false is a bench/diagnostic switch (the asynchronous runners write them instead);
   * changing it on a database that has events needs `projections rebuild all` afterwards.
   */
  inlineProjections: boolean;
  /**
   * How long an Idempotency-Key's first answer is kept in the index (hours). A retry within it is
   * answered by one lookup; after it, the key's events still cannot be written twice (their ids derive
   * from the key), but the retry is found by reading its stream.
   */
  idempotencyRetentionHours: number;
  /**
   * How many installations the API keeps as its last command on each left them, so that the next
   * command on one skips its load; the append's revision check refuses a stale one, which is then
   * decided again from a fresh load. 0 turns it off.
   */
  aggregateCacheSize: number;
  /** A log consumer active but behind, whose checkpoint has not moved for this long, makes readiness fail. */
  consumerStallMs: number;
  /** Where the installer and projections processes serve /health/* and /metrics (the API uses PORT). */
  healthPort: number;
  rateLimitPerMinute: number;
  wheelFetch: {
    timeoutMs: number;
    maxBytes: number;
    maxRedirects: number;
    allowHosts: string[];
    caFile: string | undefined;
  };
  installer: {
    deployer: 'local-process' | 'kubernetes';
    concurrency: number;
    /** Attempts at one event's effect before the installer records it as failed and moves on. */
    maxAttempts: number;
    retryBaseMs: number;
    registrationTimeoutMs: number;
    runtimeCommand: string | undefined;
    effectLogFile: string | undefined;
    /** The instance's local runtime folder: pid files, uid claims, one 0700 work folder per generation. */
    runtimeDir: string;
    /** First of the uids handed to local runtimes when the installer runs as root (one per installation). */
    runtimeUidBase: number;
    /** Given to every runtime as PROVIDER_STORE_HEARTBEAT_INTERVAL_MS (the tenant's config may not set it). */
    runtimeHeartbeatIntervalMs: number;
  };
  health: {
    heartbeatTimeoutMs: number;
    watchdogIntervalMs: number;
  };
  kubernetes: {
    namespace: string;
    runtimeImage: string;
  };
  artifacts: {
    /** `s3://bucket[/prefix]?endpoint=…&region=…`; unset keeps wheels in PostgreSQL. */
    storeUrl: string | undefined;
    uploadMaxBytes: number;
    /** How long unreferenced artifacts (and abandoned uploads) are kept before the collector removes them. */
    gcGraceMs: number;
    gcIntervalMs: number;
  };
  /** Master keys of the installations' secret config (libs/secrets). */
  secrets: SecretSettings;
  rollouts: {
    /** Installations upgraded per auto-upgrade wave. */
    autoUpgradeWaveSize: number;
    /** Least time between the start of one wave and the next. */
    autoUpgradeWaveIntervalMs: number;
    /** A wave whose share of failed upgrades is above this halts the rest of the rollout. */
    autoUpgradeMaxFailureRatio: number;
    /** Every Kubernetes API call is abandoned after this long. */
    kubernetesRequestTimeoutMs: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const DATABASE_PROTOCOLS = ['postgres:', 'postgresql:'];
const EVENTSTORE_PROTOCOLS = ['esdb:', 'esdb+discover:', 'kurrentdb:', 'kurrentdb+discover:', 'kdb:'];

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const read = new EnvReader(env);
  const config: AppConfig = {
    ...serverSettings(read),
    wheelFetch: wheelFetchSettings(read),
    installer: installerSettings(read),
    health: {
      heartbeatTimeoutMs: read.int('HEARTBEAT_TIMEOUT_MS', 30_000, 100, 3_600_000),
      watchdogIntervalMs: read.int('WATCHDOG_INTERVAL_MS', 5_000, 50, 600_000),
    },
    kubernetes: {
      namespace: read.text('KUBERNETES_NAMESPACE', 'provider-store'),
      runtimeImage: read.text('RUNTIME_IMAGE', 'ghcr.io/provider-store/runtime'),
    },
    artifacts: artifactSettings(read),
    secrets: secretSettingsFrom(env, read.problems),
    rollouts: rolloutSettings(read),
  };
  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return Object.freeze(config);
}

type ServerSettings = Omit<AppConfig, 'wheelFetch' | 'installer' | 'health' | 'kubernetes' | 'artifacts' | 'secrets' | 'rollouts'>;

function serverSettings(read: EnvReader): ServerSettings {
  const runtimeVersion = read.text('RUNTIME_VERSION', '1.0.0');
  if (!/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(runtimeVersion)) {
    read.problems.push(`RUNTIME_VERSION="${runtimeVersion}" must be a semantic version such as 1.0.0`);
  }
  return {
    port: read.int('PORT', 3000, 0, 65535),
    host: read.text('HOST', '0.0.0.0'),
    databaseUrl: read.url('DATABASE_URL', DATABASE_PROTOCOLS),
    databasePoolSize: read.int('DATABASE_POOL_SIZE', 20, 2, 500),
    // Off by default: measured beside an API under load, a pool of their own made the projections'
    // lag worse, not better (bench/README.md). When on, each projection runner holds one connection
    // for its lock and needs a second for its batch, and subscriptions read the log on it too.
    projectionsPoolSize: read.int('PROJECTIONS_POOL_SIZE', 0, 0, 500),
    eventStoreUrl: read.url('EVENTSTORE_URL', EVENTSTORE_PROTOCOLS),
    logLevel: read.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    bodyLimitBytes: read.size('BODY_LIMIT', '1mb'),
    runtimeVersion,
    publicUrl: read.url('PUBLIC_URL', ['http:', 'https:']),
    readModelWaitMs: read.int('READ_MODEL_WAIT_MS', 5000, 0, 60_000),
    inlineProjections: read.oneOf('INLINE_PROJECTIONS', ['true', 'false'] as const, 'true') === 'true',
    idempotencyRetentionHours: read.int('IDEMPOTENCY_RETENTION_HOURS', 24, 1, 24 * 365),
    aggregateCacheSize: read.int('AGGREGATE_CACHE_SIZE', 10_000, 0, 10_000_000),
    consumerStallMs: read.int('CONSUMER_STALL_MS', 60_000, 100, 86_400_000),
    healthPort: read.int('HEALTH_PORT', 9464, 0, 65535),
    rateLimitPerMinute: read.int('RATE_LIMIT_PER_MINUTE', 6000, 1, 10_000_000),
  };
}

function wheelFetchSettings(read: EnvReader): AppConfig['wheelFetch'] {
  return {
    timeoutMs: read.int('WHEEL_FETCH_TIMEOUT_MS', 15_000, 100, 600_000),
    maxBytes: read.size('WHEEL_FETCH_MAX_BYTES', '200mb'),
    maxRedirects: read.int('WHEEL_FETCH_MAX_REDIRECTS', 3, 0, 10),
    allowHosts: read.list('WHEEL_FETCH_ALLOW_HOSTS'),
    caFile: read.optional('WHEEL_FETCH_CA_FILE'),
  };
}

function installerSettings(read: EnvReader): AppConfig['installer'] {
  return {
    deployer: read.oneOf('DEPLOYER', ['local-process', 'kubernetes'] as const, 'local-process'),
    concurrency: read.int('INSTALLER_CONCURRENCY', 8, 1, 256),
    maxAttempts: read.int('INSTALLER_MAX_ATTEMPTS', 5, 1, 50),
    retryBaseMs: read.int('DEPLOY_RETRY_BASE_MS', 500, 1, 60_000),
    registrationTimeoutMs: read.int('REGISTRATION_TIMEOUT_MS', 60_000, 100, 3_600_000),
    runtimeCommand: read.optional('RUNTIME_COMMAND'),
    effectLogFile: read.optional('DEPLOY_EFFECT_LOG'),
    runtimeDir: path.resolve(read.text('RUNTIME_DIR', defaultRuntimeDir())),
    // Below: system and regular users' uids; above: room for RUNTIME_UID_COUNT uids under 2^31.
    runtimeUidBase: read.int('RUNTIME_UID_BASE', 200_000, 1_000, 2_000_000_000),
    runtimeHeartbeatIntervalMs: read.int('RUNTIME_HEARTBEAT_INTERVAL_MS', 2_000, 10, 3_600_000),
  };
}

function artifactSettings(read: EnvReader): AppConfig['artifacts'] {
  return {
    storeUrl: read.url('ARTIFACT_STORE_URL', ['s3:']),
    uploadMaxBytes: read.size('UPLOAD_MAX_BYTES', '200mb'),
    // An hour: far longer than any upload takes to become a version, so the collector never
    // removes bytes whose version is about to be appended.
    gcGraceMs: read.int('ARTIFACT_GC_GRACE_MS', 3_600_000, 0, 604_800_000),
    gcIntervalMs: read.int('ARTIFACT_GC_INTERVAL_MS', 3_600_000, 1_000, 86_400_000),
  };
}

function rolloutSettings(read: EnvReader): AppConfig['rollouts'] {
  return {
    autoUpgradeWaveSize: read.int('AUTO_UPGRADE_WAVE_SIZE', 5, 1, 10_000),
    autoUpgradeWaveIntervalMs: read.int('AUTO_UPGRADE_WAVE_INTERVAL_MS', 60_000, 0, 86_400_000),
    autoUpgradeMaxFailureRatio: read.ratio('AUTO_UPGRADE_MAX_FAILURE_RATIO', 0.5),
    kubernetesRequestTimeoutMs: read.int('KUBERNETES_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
  };
}

/**
 * `.data/runtimes` in the checkout (git-ignored, beside the embedded PostgreSQL's data): the folder
 * of the checkout holding package.json, found from here both in sources and in dist/.
 */
export function defaultRuntimeDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, '.data', 'runtimes');
    if (path.dirname(dir) === dir) return path.resolve('.data', 'runtimes');
  }
}
