import { ResourceTier } from '../../libs/installations/installation.events';

/** Everything a deployer needs to run one generation of one installation. */
export interface DesiredDeployment {
  installationId: string;
  tenant: string;
  prefix: string;
  name: string;
  generation: number;
  /** The provider version to run. */
  version: string;
  /** The runtime the version was published for: picks the runtime image. */
  runtimeVersion: string;
  /** The version's own OCI image (`runtime_image` at publish): the Kubernetes deployer runs it when set. */
  runtimeImage?: string | null;
  wheelUrl: string;
  wheelSha256: string | null;
  packageName: string | null;
  entrypoint: string[] | null;
  config: Readonly<Record<string, string>>;
  /** Keys of `config` still sealed; the SecretRevealingDeployer opens them just before `apply`. */
  secretConfigKeys?: readonly string[];
  resourceTier: ResourceTier;
  /** Secret: goes to the runtime only (env or a Kubernetes Secret), never to a log line. */
  registrationToken: string;
  /** Where the runtime calls back (`/runtime/registrations`, `/runtime/heartbeats`). */
  storeUrl: string;
}

export type ObservedStatus = 'pending' | 'progressing' | 'available' | 'failed';

/** What the deployer sees of an installation's newest generation (DeploymentResult's fields). */
export interface ObservedDeployment {
  deployment_name: string;
  generation: number;
  status: ObservedStatus;
  available_replicas: number;
  ready_replicas: number;
  image: string | null;
  message: string | null;
}

/**
 * Runs installations somewhere (a Kubernetes cluster, local child processes). Every operation is
 * idempotent per (installation, generation): the installer is an at-least-once consumer and will
 * repeat any of them after a crash or a lost lock.
 */
export interface Deployer {
  readonly kind: string;
  /** Makes the generation run. The previous generation keeps running until `retire`. */
  apply(desired: DesiredDeployment): Promise<void>;
  /** Stops every generation older than `keepGeneration` (the one that just registered). */
  retire(installationId: string, keepGeneration: number): Promise<void>;
  /** Stops one generation (a failed one, say) and deletes what it left; the others keep running. */
  stopGeneration(installationId: string, generation: number): Promise<void>;
  /** Stops and deletes everything of the installation. */
  remove(installationId: string): Promise<void>;
  status(installationId: string): Promise<ObservedDeployment | undefined>;
  close(): Promise<void>;
}

/** What the installer's operator decides for every runtime (not the tenant). */
export interface RuntimeSettings {
  /** `RUNTIME_HEARTBEAT_INTERVAL_MS`: how often the runtime beats. */
  heartbeatIntervalMs: number;
}

export const DEFAULT_RUNTIME_SETTINGS: RuntimeSettings = { heartbeatIntervalMs: 2000 };

/**
 * The platform's contract with every runtime, beside the installation's own config. Every name here
 * is reserved (`isReservedConfigKey`), so a tenant's config can neither set nor override one.
 */
export function runtimeEnvironment(desired: DesiredDeployment, settings: RuntimeSettings = DEFAULT_RUNTIME_SETTINGS): Record<string, string> {
  return {
    PROVIDER_STORE_URL: desired.storeUrl,
    PROVIDER_STORE_INSTALLATION_ID: desired.installationId,
    PROVIDER_STORE_GENERATION: String(desired.generation),
    PROVIDER_STORE_VERSION: desired.version,
    PROVIDER_STORE_HEARTBEAT_INTERVAL_MS: String(settings.heartbeatIntervalMs),
    PROVIDER_WHEEL_URL: desired.wheelUrl,
    PROVIDER_WHEEL_SHA256: desired.wheelSha256 ?? '',
    PROVIDER_PACKAGE_NAME: desired.packageName ?? '',
    PROVIDER_ENTRYPOINT: desired.entrypoint ? JSON.stringify(desired.entrypoint) : '',
    [REGISTRATION_TOKEN_ENV]: desired.registrationToken,
  };
}

export const REGISTRATION_TOKEN_ENV = 'PROVIDER_STORE_REGISTRATION_TOKEN';
