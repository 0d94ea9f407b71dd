import { createHash } from 'node:crypto';
import type { V1Deployment, V1EnvVar, V1PodSecurityContext, V1Probe, V1Secret, V1SecurityContext, V1Service } from '@kubernetes/client-node';
import { ResourceTier } from '../../../libs/installations/installation.events';
import { isReservedConfigKey } from '../../../libs/installations/reserved-config-keys';
import { deploymentImageOf, dnsLabel, kubernetesGenerationName, readableOf } from '../../../libs/installations/deployment-name';
import { DEFAULT_RUNTIME_SETTINGS, DesiredDeployment, REGISTRATION_TOKEN_ENV, RuntimeSettings, runtimeEnvironment } from '../deployer.port';

export const LABELS = {
  tenant: 'provider-store/tenant',
  provider: 'provider-store/provider',
  generation: 'provider-store/generation',
  installationId: 'provider-store/installation-id',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

export const MANAGED_BY = 'provider-store';
/** Key of the registration token in the generation's Secret; config keys (env names) cannot clash. */
export const TOKEN_KEY = 'registration-token';
export const RUNTIME_PORT = 8080;

const MAX_NAME = 63;

export { dnsLabel };

/** Requests equal limits: a tier is a guarantee, not a burst allowance. */
export const TIER_RESOURCES: Readonly<Record<ResourceTier, { cpu: string; memory: string }>> = {
  free: { cpu: '100m', memory: '128Mi' },
  standard: { cpu: '500m', memory: '512Mi' },
  performance: { cpu: '2', memory: '2Gi' },
};

/** The runtime answers `GET /healthz` on its http port once it serves (the sample runtime does too). */
export const RUNTIME_HEALTH_PATH = '/healthz';

const RUNTIME_READINESS_PROBE: V1Probe = {
  httpGet: { path: RUNTIME_HEALTH_PATH, port: 'http' },
  periodSeconds: 5,
  timeoutSeconds: 2,
  failureThreshold: 3,
};

/** Generous: a runtime downloading and installing its wheel must not be killed for being slow to start. */
const RUNTIME_LIVENESS_PROBE: V1Probe = {
  httpGet: { path: RUNTIME_HEALTH_PATH, port: 'http' },
  initialDelaySeconds: 30,
  periodSeconds: 10,
  timeoutSeconds: 2,
  failureThreshold: 6,
};

/** The restricted Pod Security Standard: tenant code runs with nothing it does not need. */
export const RUNTIME_CONTAINER_SECURITY: V1SecurityContext = {
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

const RUNTIME_POD_SECURITY: V1PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: 10001,
  runAsGroup: 10001,
  fsGroup: 10001,
  seccompProfile: { type: 'RuntimeDefault' },
};

/** Label values allow dots and underscores too, but also at most 63 characters. */
function labelValue(text: string): string {
  if (text.length <= MAX_NAME) return text;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 10);
  return `${text.slice(0, MAX_NAME - hash.length - 1).replace(/[^a-zA-Z0-9]+$/, '')}-${hash}`;
}

type Identity = Pick<DesiredDeployment, 'tenant' | 'prefix' | 'name'>;

/** One Deployment (and one Secret of the same name) per generation, so generations run side by side. */
export function generationName(d: Identity & Pick<DesiredDeployment, 'generation'>): string {
  return kubernetesGenerationName(d);
}

/** One Service per installation, in front of whichever generations are running. */
export function serviceName(d: Identity): string {
  return dnsLabel(readableOf(d), [d.tenant, d.prefix, d.name]);
}

export function installationLabels(d: Pick<DesiredDeployment, 'tenant' | 'prefix' | 'name' | 'installationId'>): Record<string, string> {
  return {
    [LABELS.tenant]: labelValue(d.tenant),
    [LABELS.provider]: labelValue(`${d.prefix}.${d.name}`),
    [LABELS.installationId]: d.installationId,
    [LABELS.managedBy]: MANAGED_BY,
  };
}

export function generationLabels(d: DesiredDeployment): Record<string, string> {
  return { ...installationLabels(d), [LABELS.generation]: String(d.generation) };
}

/** The platform's variables, in plain view; the token goes through the Secret. */
function platformValues(d: DesiredDeployment, settings: RuntimeSettings): Record<string, string> {
  const { [REGISTRATION_TOKEN_ENV]: _token, ...values } = runtimeEnvironment(d, settings);
  return values;
}

/** The tenant's config minus reserved keys (the API refuses them; older events may hold some). */
function configEntries(d: DesiredDeployment): Array<[string, string]> {
  return Object.entries(d.config)
    .filter(([key]) => !isReservedConfigKey(key))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The token and the installation's config (which may hold credentials) travel only in the Secret. */
export function secretManifest(d: DesiredDeployment, namespace: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: generationName(d), namespace, labels: generationLabels(d) },
    type: 'Opaque',
    stringData: { [TOKEN_KEY]: d.registrationToken, ...Object.fromEntries(configEntries(d)) },
  };
}

export function deploymentManifest(d: DesiredDeployment, namespace: string, runtimeImage: string, settings: RuntimeSettings = DEFAULT_RUNTIME_SETTINGS): V1Deployment {
  const name = generationName(d);
  const labels = generationLabels(d);
  const fromSecret = (envName: string, key: string): V1EnvVar => ({ name: envName, valueFrom: { secretKeyRef: { name, key } } });
  const env: V1EnvVar[] = [
    ...configEntries(d).map(([key]) => fromSecret(key, key)),
    ...Object.entries(platformValues(d, settings)).map(([envName, value]) => ({ name: envName, value })),
    fromSecret(REGISTRATION_TOKEN_ENV, TOKEN_KEY),
    // Where the pod's probes ask: the runtime serves `GET /healthz` there.
    { name: 'PROVIDER_STORE_HEALTH_PORT', value: String(RUNTIME_PORT) },
  ];
  const resources = TIER_RESOURCES[d.resourceTier];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels, annotations: { 'provider-store/version': d.version } },
    spec: {
      replicas: 1,
      revisionHistoryLimit: 1,
      progressDeadlineSeconds: 600,
      selector: { matchLabels: { [LABELS.installationId]: d.installationId, [LABELS.generation]: String(d.generation) } },
      template: {
        metadata: { labels, annotations: { 'provider-store/version': d.version } },
        spec: {
          automountServiceAccountToken: false,
          containers: [
            {
              name: 'runtime',
              image: deploymentImageOf('kubernetes', d, { kubernetesRuntimeImage: runtimeImage, localRuntimeCommand: false }),
              imagePullPolicy: 'IfNotPresent',
              ports: [{ name: 'http', containerPort: RUNTIME_PORT }],
              env,
              resources: { requests: { ...resources }, limits: { ...resources } },
              readinessProbe: RUNTIME_READINESS_PROBE,
              livenessProbe: RUNTIME_LIVENESS_PROBE,
              securityContext: RUNTIME_CONTAINER_SECURITY,
              // The root filesystem is read-only: scratch space is an emptyDir, gone with the pod.
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            },
          ],
          securityContext: RUNTIME_POD_SECURITY,
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }],
        },
      },
    },
  };
}

/**
 * One Service per installation, selecting only the serving generation: a new generation gets traffic
 * when it registers (the deployer's `retire` switches the selector), never while it is starting, and a
 * failed upgrade whose pods still run never serves beside the old version.
 */
export function serviceManifest(d: DesiredDeployment, namespace: string, servingGeneration: number = d.generation): V1Service {
  const labels = installationLabels(d);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: serviceName(d), namespace, labels },
    spec: {
      selector: { [LABELS.installationId]: d.installationId, [LABELS.generation]: String(servingGeneration) },
      ports: [{ name: 'http', port: 80, targetPort: 'http' }],
    },
  };
}
