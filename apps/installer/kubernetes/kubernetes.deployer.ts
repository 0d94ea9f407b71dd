import { AppsV1Api, CoreV1Api, KubeConfig, NetworkingV1Api, V1Deployment, V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { DEFAULT_RUNTIME_SETTINGS, Deployer, DesiredDeployment, ObservedDeployment, ObservedStatus } from '../deployer.port';
import { DeploymentWatch } from './deployment-watch';
import { APPLY, DEFAULT_KUBERNETES_REQUEST_TIMEOUT_MS, FIELD_MANAGER, call, ignoreNotFound, setKubernetesRequestTimeout } from './kubernetes-calls';
import { LABELS, deploymentManifest, generationName, secretManifest, serviceManifest, serviceName } from './kubernetes-manifests';
import { ApiEndpoint, DEFAULT_API_POD_LABELS, networkPolicyManifest } from './network-policy';

export { FIELD_MANAGER, KubernetesCallFailed } from './kubernetes-calls';

export interface KubernetesDeployerOptions {
  /** Every call to the API server is abandoned after this long (default 30 s). */
  requestTimeoutMs?: number;
  namespace: string;
  runtimeImage: string;
  logger: Logger;
  /** `RUNTIME_HEARTBEAT_INTERVAL_MS`: given to every runtime as PROVIDER_STORE_HEARTBEAT_INTERVAL_MS. */
  heartbeatIntervalMs?: number;
  /** Where runtimes may reach the API; defaults to the runtimes' namespace, port 3000, the API's labels. */
  api?: Partial<ApiEndpoint>;
  /** Defaults to KubeConfig.loadFromDefault(): KUBECONFIG, ~/.kube/config or the in-cluster account. */
  kubeConfig?: KubeConfig;
}

/**
 * Runs each generation as its own Deployment (with its own Secret holding the registration token)
 * behind one Service per installation that selects only the serving generation, and one
 * NetworkPolicy per installation. Everything is written with server-side apply under one field
 * manager, so applying a generation twice changes nothing. Status comes from a watch.
 */
export class KubernetesDeployer implements Deployer {
  readonly kind = 'kubernetes';
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly networking: NetworkingV1Api;
  private readonly watch: DeploymentWatch;
  private readonly api: ApiEndpoint;
  private readonly logger: Logger;

  constructor(private readonly options: KubernetesDeployerOptions) {
    setKubernetesRequestTimeout(options.requestTimeoutMs ?? DEFAULT_KUBERNETES_REQUEST_TIMEOUT_MS);
    const kubeConfig = options.kubeConfig ?? defaultKubeConfig();
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.networking = kubeConfig.makeApiClient(NetworkingV1Api);
    this.logger = options.logger.child({ component: 'kubernetes-deployer', namespace: options.namespace });
    this.watch = new DeploymentWatch(kubeConfig, this.apps, options.namespace, this.logger);
    this.api = { namespace: options.namespace, port: 3000, podLabels: DEFAULT_API_POD_LABELS, ...options.api };
  }

  async apply(desired: DesiredDeployment): Promise<void> {
    const namespace = this.options.namespace;
    const name = generationName(desired);
    const secret = secretManifest(desired, namespace);
    const deployment = deploymentManifest(desired, namespace, this.options.runtimeImage, {
      heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? DEFAULT_RUNTIME_SETTINGS.heartbeatIntervalMs,
    });
    const policy = networkPolicyManifest(desired, namespace, this.api);
    // The Secret first: a pod that starts before its Secret exists fails to start. The policy before
    // the Deployment: a runtime must never run unconfined, even for a moment.
    await call('apply Secret', () => this.core.patchNamespacedSecret({ name, namespace, body: secret, fieldManager: FIELD_MANAGER, force: true }, APPLY));
    await call('apply NetworkPolicy', () =>
      this.networking.patchNamespacedNetworkPolicy({ name: serviceName(desired), namespace, body: policy, fieldManager: FIELD_MANAGER, force: true }, APPLY),
    );
    await call('apply Deployment', () => this.apps.patchNamespacedDeployment({ name, namespace, body: deployment, fieldManager: FIELD_MANAGER, force: true }, APPLY));
    // An existing Service keeps selecting the generation that serves; only registration moves it.
    const existing = await ignoreNotFound(() => call('read Service', () => this.core.readNamespacedService({ name: serviceName(desired), namespace })));
    const serving = existing ? servingGenerationOf(existing) : undefined;
    const service = serviceManifest(desired, namespace, serving ?? desired.generation);
    await call('apply Service', () =>
      this.core.patchNamespacedService({ name: serviceName(desired), namespace, body: service, fieldManager: FIELD_MANAGER, force: true }, APPLY),
    );
    this.logger.info({ installationId: desired.installationId, generation: desired.generation, deployment: name }, 'deployment applied');
  }

  /**
   * Called once `keepGeneration` has registered: the Service now selects it, then the older
   * generations go. Switching first means no request finds the Service selecting nothing.
   */
  async retire(installationId: string, keepGeneration: number): Promise<void> {
    await this.promote(installationId, keepGeneration);
    await this.deleteGenerations(installationId, (generation) => generation < keepGeneration);
  }

  async stopGeneration(installationId: string, generation: number): Promise<void> {
    await this.deleteGenerations(installationId, (g) => g === generation);
  }

  async remove(installationId: string): Promise<void> {
    await this.deleteGenerations(installationId, () => true);
    const namespace = this.options.namespace;
    const labelSelector = selectorOf(installationId);
    const services = await call('list Services', () => this.core.listNamespacedService({ namespace, labelSelector }));
    for (const name of namesOf(services.items)) {
      await ignoreNotFound(() => call('delete Service', () => this.core.deleteNamespacedService({ name, namespace })));
    }
    const policies = await call('list NetworkPolicies', () => this.networking.listNamespacedNetworkPolicy({ namespace, labelSelector }));
    for (const name of namesOf(policies.items)) {
      await ignoreNotFound(() => call('delete NetworkPolicy', () => this.networking.deleteNamespacedNetworkPolicy({ name, namespace })));
    }
    this.logger.info({ installationId }, 'installation removed');
  }

  async status(installationId: string): Promise<ObservedDeployment | undefined> {
    const deployments = await call('watch Deployments', () => this.watch.deploymentsOf(installationId));
    const newest = deployments.sort((a, b) => generationOf(b) - generationOf(a))[0];
    return newest ? observe(newest) : undefined;
  }

  async close(): Promise<void> {
    await this.watch.close();
  }

  /** Points the installation's Service at `generation`, re-applying it with the selector changed. */
  private async promote(installationId: string, generation: number): Promise<void> {
    const namespace = this.options.namespace;
    const services = await call('list Services', () => this.core.listNamespacedService({ namespace, labelSelector: selectorOf(installationId) }));
    for (const service of services.items) {
      const name = service.metadata?.name;
      if (!name || servingGenerationOf(service) === generation) continue;
      const body: V1Service = {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace, labels: service.metadata?.labels },
        spec: { selector: { ...service.spec?.selector, [LABELS.generation]: String(generation) }, ports: service.spec?.ports },
      };
      await call('apply Service', () => this.core.patchNamespacedService({ name, namespace, body, fieldManager: FIELD_MANAGER, force: true }, APPLY));
      this.logger.info({ installationId, generation, service: name }, 'service switched to the registered generation');
    }
  }

  private async deleteGenerations(installationId: string, select: (generation: number) => boolean): Promise<void> {
    const namespace = this.options.namespace;
    const labelSelector = selectorOf(installationId);
    const deployments = await call('list Deployments', () => this.apps.listNamespacedDeployment({ namespace, labelSelector }));
    for (const deployment of deployments.items) {
      const generation = generationOf(deployment);
      const name = deployment.metadata?.name;
      if (!name || !select(generation)) continue;
      await ignoreNotFound(() =>
        call('delete Deployment', () => this.apps.deleteNamespacedDeployment({ name, namespace, propagationPolicy: 'Background' })),
      );
      this.logger.info({ installationId, generation, deployment: name }, 'generation deleted');
    }
    const secrets = await call('list Secrets', () => this.core.listNamespacedSecret({ namespace, labelSelector }));
    const doomed = secrets.items.filter((secret) => select(Number(secret.metadata?.labels?.[LABELS.generation] ?? NaN)));
    for (const name of namesOf(doomed)) {
      await ignoreNotFound(() => call('delete Secret', () => this.core.deleteNamespacedSecret({ name, namespace })));
    }
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

function servingGenerationOf(service: V1Service): number | undefined {
  const value = Number(service.spec?.selector?.[LABELS.generation]);
  return Number.isInteger(value) && value > 0 ? value : undefined;
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
