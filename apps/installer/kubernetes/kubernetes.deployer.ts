import { AppsV1Api, CoreV1Api, KubeConfig, PatchUtils, V1Deployment } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { DEFAULT_RUNTIME_SETTINGS, Deployer, DesiredDeployment, ObservedDeployment, ObservedStatus } from '../deployer.port';
import { LABELS, deploymentManifest, generationName, secretManifest, serviceManifest, serviceName } from './kubernetes-manifests';

export const FIELD_MANAGER = 'provider-store';

export interface KubernetesDeployerOptions {
  namespace: string;
  runtimeImage: string;
  logger: Logger;
  /** `RUNTIME_HEARTBEAT_INTERVAL_MS`: given to every runtime as PROVIDER_STORE_HEARTBEAT_INTERVAL_MS. */
  heartbeatIntervalMs?: number;
  /** Defaults to KubeConfig.loadFromDefault(): KUBECONFIG, ~/.kube/config or the in-cluster account. */
  kubeConfig?: KubeConfig;
  /** `KUBERNETES_REQUEST_TIMEOUT_MS`: no API call waits longer (a hung API server holds no installation for ever). */
  requestTimeoutMs?: number;
}

export const DEFAULT_KUBERNETES_REQUEST_TIMEOUT_MS = 30_000;

const APPLY = { headers: { 'Content-Type': PatchUtils.PATCH_FORMAT_APPLY_YAML } };

/**
 * Runs each generation as its own Deployment (with its own Secret holding the registration token)
 * behind one Service per installation. Everything is written with server-side apply under one field
 * manager, so applying a generation twice changes nothing and needs no read first.
 */
export class KubernetesDeployer implements Deployer {
  readonly kind = 'kubernetes';
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly logger: Logger;
  private readonly timeoutMs: number;

  constructor(private readonly options: KubernetesDeployerOptions) {
    const kubeConfig = options.kubeConfig ?? defaultKubeConfig();
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    const timeout = options.requestTimeoutMs ?? DEFAULT_KUBERNETES_REQUEST_TIMEOUT_MS;
    this.timeoutMs = timeout;
    // The client's own socket timeout; `call` bounds each call as well, whatever the transport does.
    for (const api of [this.apps, this.core]) api.addInterceptor((request: { timeout?: number }) => void (request.timeout = timeout));
    this.logger = options.logger.child({ component: 'kubernetes-deployer', namespace: options.namespace });
  }

  async apply(desired: DesiredDeployment): Promise<void> {
    const ns = this.options.namespace;
    const name = generationName(desired);
    const secret = secretManifest(desired, ns);
    const deployment = deploymentManifest(desired, ns, this.options.runtimeImage, {
      heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? DEFAULT_RUNTIME_SETTINGS.heartbeatIntervalMs,
    });
    const service = serviceManifest(desired, ns);
    // The Secret first: a pod that starts before its Secret exists fails to start.
    await this.call('apply Secret', () =>
      this.core.patchNamespacedSecret(name, ns, secret, undefined, undefined, FIELD_MANAGER, undefined, true, APPLY),
    );
    await this.call('apply Deployment', () =>
      this.apps.patchNamespacedDeployment(name, ns, deployment, undefined, undefined, FIELD_MANAGER, undefined, true, APPLY),
    );
    await this.call('apply Service', () =>
      this.core.patchNamespacedService(serviceName(desired), ns, service, undefined, undefined, FIELD_MANAGER, undefined, true, APPLY),
    );
    this.logger.info({ installationId: desired.installationId, generation: desired.generation, deployment: name }, 'deployment applied');
  }

  async retire(installationId: string, keepGeneration: number): Promise<void> {
    await this.deleteGenerations(installationId, (generation) => generation < keepGeneration);
  }

  async stopGeneration(installationId: string, generation: number): Promise<void> {
    await this.deleteGenerations(installationId, (g) => g === generation);
  }

  async remove(installationId: string): Promise<void> {
    await this.deleteGenerations(installationId, () => true);
    const { body } = await this.call('list Services', () =>
      this.core.listNamespacedService(this.options.namespace, undefined, undefined, undefined, undefined, selectorOf(installationId)),
    );
    for (const name of namesOf(body.items)) {
      await ignoreNotFound(() => this.call('delete Service', () => this.core.deleteNamespacedService(name, this.options.namespace)));
    }
    this.logger.info({ installationId }, 'installation removed');
  }

  async status(installationId: string): Promise<ObservedDeployment | undefined> {
    const newest = (await this.deploymentsOf(installationId)).sort((a, b) => generationOf(b) - generationOf(a))[0];
    return newest ? observe(newest) : undefined;
  }

  async close(): Promise<void> {
    // Nothing held open: every call is a request of its own.
  }

  private async deploymentsOf(installationId: string): Promise<V1Deployment[]> {
    const { body } = await this.call('list Deployments', () =>
      this.apps.listNamespacedDeployment(this.options.namespace, undefined, undefined, undefined, undefined, selectorOf(installationId)),
    );
    return body.items;
  }

  private async deleteGenerations(installationId: string, select: (generation: number) => boolean): Promise<void> {
    const ns = this.options.namespace;
    for (const deployment of await this.deploymentsOf(installationId)) {
      const generation = generationOf(deployment);
      const name = deployment.metadata?.name;
      if (!name || !select(generation)) continue;
      await ignoreNotFound(() =>
        this.call('delete Deployment', () => this.apps.deleteNamespacedDeployment(name, ns, undefined, undefined, undefined, undefined, 'Background')),
      );
      this.logger.info({ installationId, generation, deployment: name }, 'generation deleted');
    }
    const { body: secrets } = await this.call('list Secrets', () =>
      this.core.listNamespacedSecret(ns, undefined, undefined, undefined, undefined, selectorOf(installationId)),
    );
    const doomed = secrets.items.filter((secret) => select(Number(secret.metadata?.labels?.[LABELS.generation] ?? NaN)));
    for (const name of namesOf(doomed)) {
      await ignoreNotFound(() => this.call('delete Secret', () => this.core.deleteNamespacedSecret(name, ns)));
    }
  }

  private call<T>(action: string, run: () => Promise<T>): Promise<T> {
    return call(action, () => withTimeout(action, this.timeoutMs, run()));
  }
}

function defaultKubeConfig(): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  return kubeConfig;
}

function selectorOf(installationId: string): string {
  return `${LABELS.installationId}=${installationId}`;
}

function namesOf(items: Array<{ metadata?: { name?: string } }>): string[] {
  return items.map((item) => item.metadata?.name).filter((name): name is string => Boolean(name));
}

function generationOf(deployment: V1Deployment): number {
  const value = Number(deployment.metadata?.labels?.[LABELS.generation]);
  return Number.isInteger(value) ? value : 0;
}

/** A rollout as DeploymentResult describes it, from the Deployment's spec, status and conditions. */
export function observe(deployment: V1Deployment): ObservedDeployment {
  const wanted = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  const conditions = status.conditions ?? [];
  const progressing = conditions.find((c) => c.type === 'Progressing');
  const replicaFailure = conditions.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  const available = status.availableReplicas ?? 0;
  const ready = status.readyReplicas ?? 0;
  const updated = status.updatedReplicas ?? 0;
  const observedCurrent = (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);

  let state: ObservedStatus;
  let message: string | null = null;
  if (progressing?.reason === 'ProgressDeadlineExceeded' || replicaFailure) {
    state = 'failed';
    message = (replicaFailure ?? progressing)?.message ?? 'rollout failed';
  } else if (observedCurrent && updated >= wanted && available >= wanted) {
    state = 'available';
  } else if ((status.replicas ?? 0) > 0 || progressing?.status === 'True') {
    state = 'progressing';
    message = progressing?.message ?? `${available} of ${wanted} replicas available`;
  } else {
    state = 'pending';
    message = progressing?.message ?? null;
  }
  return {
    deployment_name: deployment.metadata?.name ?? '',
    generation: generationOf(deployment),
    status: state,
    available_replicas: available,
    ready_replicas: ready,
    image: deployment.spec?.template?.spec?.containers?.[0]?.image ?? null,
    message,
  };
}

/** The API server's own explanation makes a useful DeployFailed message; the client's does not. */
export class KubernetesCallFailed extends Error {
  constructor(
    readonly action: string,
    readonly statusCode: number | undefined,
    detail: string,
  ) {
    super(`kubernetes ${action} failed${statusCode ? ` (${statusCode})` : ''}: ${detail}`);
    this.name = 'KubernetesCallFailed';
  }
}

async function call<T>(action: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const e = error as { statusCode?: number; body?: { message?: string }; message?: string };
    const detail = e.body?.message ?? (typeof e.body === 'string' ? e.body : undefined) ?? e.message ?? String(error);
    throw new KubernetesCallFailed(action, e.statusCode, detail);
  }
}

/** Settles with the call, or rejects once `ms` have passed without an answer. */
function withTimeout<T>(action: string, ms: number, pending: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
}

async function ignoreNotFound(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (error instanceof KubernetesCallFailed && error.statusCode === 404) return;
    throw error;
  }
}
