import { AppsV1Api, KubeConfig, ListWatch, V1Deployment, makeInformer } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { LABELS, MANAGED_BY } from './kubernetes-manifests';

const RESTART_DELAY_MS = 1_000;

/**
 * The runtimes' Deployments as the API server last told us, kept current by one watch (the client's
 * informer: a list, then a watch from its resourceVersion, relisting when the watch ends). Reading
 * a status is then a look-up, not a request per installation per observation.
 */
export class DeploymentWatch {
  private informer?: ListWatch<V1Deployment>;
  private started?: Promise<void>;
  private restart?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly apps: AppsV1Api,
    private readonly namespace: string,
    private readonly logger: Logger,
  ) {}

  /** The Deployments of one installation, once the first list has arrived. */
  async deploymentsOf(installationId: string): Promise<V1Deployment[]> {
    await this.start();
    return (this.informer?.list(this.namespace) ?? []).filter((d) => d.metadata?.labels?.[LABELS.installationId] === installationId);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restart);
    await this.informer?.stop();
  }

  private start(): Promise<void> {
    this.started ??= this.open().catch((error: unknown) => {
      this.started = undefined;
      throw error;
    });
    return this.started;
  }

  private async open(): Promise<void> {
    const labelSelector = `${LABELS.managedBy}=${MANAGED_BY}`;
    const informer = makeInformer<V1Deployment>(
      this.kubeConfig,
      `/apis/apps/v1/namespaces/${this.namespace}/deployments`,
      () => this.apps.listNamespacedDeployment({ namespace: this.namespace, labelSelector }),
      labelSelector,
    ) as ListWatch<V1Deployment>;
    // The informer stops on an error (a dropped watch, an API server restart): start it again.
    informer.on('error', (error: unknown) => {
      if (this.closed) return;
      this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'deployment watch failed; restarting');
      this.restart = setTimeout(() => void informer.start().catch(() => undefined), RESTART_DELAY_MS);
    });
    this.informer = informer;
    await informer.start();
  }
}
