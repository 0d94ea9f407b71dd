import { createHash } from 'node:crypto';
import { AppConfig } from '../config/app-config';

/**
 * What each deployer calls one generation of one installation, and which image it reports for it.
 * The deployers name their objects with these functions and the API answers a deploy with them, so
 * `POST …/deploy` and a later `GET …/deployment` name the same thing.
 */

export type DeployerKind = 'local-process' | 'kubernetes';

export interface DeploymentIdentity {
  installationId: string;
  tenant: string;
  prefix: string;
  name: string;
}

const MAX_NAME = 63;
const HASH_LENGTH = 12;

function hashOf(parts: ReadonlyArray<string | number>): string {
  // JSON keeps the parts apart: ["acme-x","y","z"] and ["acme","x-y","z"] hash differently.
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, HASH_LENGTH);
}

function clean(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-{2,}/g, '-').replace(/^-+|-+$/g, '');
}

/**
 * A DNS-1123 label of at most 63 characters: `ps-`, a readable head (as much of `readable` as fits),
 * then a hash of `identity` and `suffix`. The hash, not the head, makes the name unique: joining
 * tenant, prefix and name with dashes alone would give tenant `acme-x` installing `y/z` and tenant
 * `acme` installing `x-y/z` the same objects.
 */
export function dnsLabel(readable: string, identity: ReadonlyArray<string | number> = [readable], suffix = ''): string {
  const tail = `-${hashOf(identity)}${suffix}`;
  const head = clean(`ps-${readable}`)
    .slice(0, MAX_NAME - tail.length)
    .replace(/-+$/, '');
  return `${head}${tail}`;
}

type Owner = Pick<DeploymentIdentity, 'tenant' | 'prefix' | 'name'>;

export function readableOf(d: Owner): string {
  return `${d.tenant}-${d.prefix}-${d.name}`;
}

/** Kubernetes: one Deployment (and Secret) per generation, so generations run side by side. */
export function kubernetesGenerationName(d: Owner & { generation: number }): string {
  return dnsLabel(readableOf(d), [d.tenant, d.prefix, d.name, d.generation], `-g${d.generation}`);
}

/** Local processes: the installation's id names them (a process has no DNS constraints). */
export function localGenerationName(installationId: string, generation: number): string {
  return `local-${installationId}-g${generation}`;
}

export function deploymentNameOf(kind: DeployerKind, identity: DeploymentIdentity, generation: number): string {
  return kind === 'kubernetes' ? kubernetesGenerationName({ ...identity, generation }) : localGenerationName(identity.installationId, generation);
}

/** The version's runtime as a deployer runs it. */
export interface RuntimeOfVersion {
  runtimeVersion: string;
  /** The version's own OCI image (`runtime_image` at publish); Kubernetes runs it instead of the configured one. */
  runtimeImage?: string | null;
}

/** How the deployer is set up: the operator's choices, not the tenant's. */
export interface DeployerImageSettings {
  /** `RUNTIME_IMAGE`: the repository the Kubernetes deployer tags with the runtime version. */
  kubernetesRuntimeImage: string;
  /** Whether `RUNTIME_COMMAND` replaces the bundled sample runtime of the local deployer. */
  localRuntimeCommand: boolean;
}

/** An image reference or a name for the local runtime: never a path on the host. */
export function deploymentImageOf(kind: DeployerKind, runtime: RuntimeOfVersion, settings: DeployerImageSettings): string {
  if (kind === 'kubernetes') return runtime.runtimeImage || `${settings.kubernetesRuntimeImage}:${runtime.runtimeVersion}`;
  return `local-process:${settings.localRuntimeCommand ? 'runtime-command' : 'sample-runtime'}@${runtime.runtimeVersion}`;
}

/** The configured deployer as the API describes its deployments (`DEPLOYER`, `RUNTIME_IMAGE`, `RUNTIME_COMMAND`). */
export interface ConfiguredDeployer {
  kind: DeployerKind;
  images: DeployerImageSettings;
}

export function configuredDeployer(config: AppConfig): ConfiguredDeployer {
  return {
    kind: config.installer.deployer,
    images: { kubernetesRuntimeImage: config.kubernetes.runtimeImage, localRuntimeCommand: config.installer.runtimeCommand !== undefined },
  };
}
