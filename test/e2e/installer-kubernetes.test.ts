import { aggregatesIn } from '../../libs/application/aggregates';
import { FoldedProviderFacts } from '../../libs/providers/provider-facts';
import pino from 'pino';
import { DesiredDeployment } from '../../apps/installer/deployer.port';
import { createDeployer, startInstaller } from '../../apps/installer/installer';
import { KubernetesDeployer } from '../../apps/installer/kubernetes/kubernetes.deployer';
import { dnsLabel, generationName, serviceName } from '../../apps/installer/kubernetes/kubernetes-manifests';
import { RegistrationTokens, hashToken } from '../../libs/installations/registration-token';
import { runCommand } from '../../libs/application/command-runner';
import { loadConfig } from '../../libs/config/app-config';
import { installationStream } from '../../libs/installations/installation-identity';
import { installationDecider } from '../../libs/installations/installation.decider';
import { providerStream } from '../../libs/providers/provider-identity';
import { providerDecider } from '../../libs/providers/provider.decider';
import { CheckpointStore } from '../../libs/event-store/consumers/checkpoint-store';
import { PostgresEventStore } from '../../libs/event-store/postgres/postgres-event-store';
import { KubernetesApiTestDouble, RecordedRequest } from '../support/kubernetes-test-double/kubernetes-api-test-double';
import { TestDoubleCluster, startTestDoubleCluster } from '../support/kubernetes-test-double/test-double-cluster';
import { createTestDatabase } from '../support/test-database';

const NS = 'provider-store';
const IMAGE = 'ghcr.io/provider-store/runtime';
const INSTALLATION_ID = '7f0c1a52-2b5e-4c0e-9a36-0d3f4c8b9e11';
const SHA = 'ab'.repeat(32);
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

const desired = (overrides: Partial<DesiredDeployment> = {}): DesiredDeployment => ({
  installationId: INSTALLATION_ID,
  tenant: 'tenant-a',
  prefix: 'acme',
  name: 'db',
  generation: 1,
  version: '1.0.0',
  runtimeVersion: '1.0.0',
  wheelUrl: 'https://wheels.example.com/acme_db-1.0.0-py3-none-any.whl',
  wheelSha256: SHA,
  packageName: 'acme_db',
  entrypoint: ['acme_db.main:app'],
  config: { REGION: 'eu-west-1', DB_SIZE: 'small' },
  resourceTier: 'standard',
  registrationToken: 'token-g1',
  storeUrl: 'https://store.example.com',
  ...overrides,
});

const labels = (generation?: number) => ({
  'provider-store/tenant': 'tenant-a',
  'provider-store/provider': 'acme.db',
  'provider-store/installation-id': INSTALLATION_ID,
  'app.kubernetes.io/managed-by': 'provider-store',
  ...(generation === undefined ? {} : { 'provider-store/generation': String(generation) }),
});

/** tenant-a's acme/db: a readable head and a hash (see the collision cases below). */
const G = (generation: number) => generationName({ tenant: 'tenant-a', prefix: 'acme', name: 'db', generation });
const SERVICE = serviceName({ tenant: 'tenant-a', prefix: 'acme', name: 'db' });

const APPLY_QUERY = { fieldManager: 'provider-store', force: 'true' };

function expectedSecret(generation: number, token: string) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: G(generation), namespace: NS, labels: labels(generation) },
    type: 'Opaque',
    stringData: { 'registration-token': token, DB_SIZE: 'small', REGION: 'eu-west-1' },
  };
}

function expectedDeployment(generation: number, version: string) {
  const name = G(generation);
  const secretRef = (key: string) => ({ secretKeyRef: { name, key } });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, labels: labels(generation), annotations: { 'provider-store/version': version } },
    spec: {
      replicas: 1,
      revisionHistoryLimit: 1,
      progressDeadlineSeconds: 600,
      selector: { matchLabels: { 'provider-store/installation-id': INSTALLATION_ID, 'provider-store/generation': String(generation) } },
      template: {
        metadata: { labels: labels(generation), annotations: { 'provider-store/version': version } },
        spec: {
          automountServiceAccountToken: false,
          containers: [
            {
              name: 'runtime',
              image: `${IMAGE}:1.0.0`,
              imagePullPolicy: 'IfNotPresent',
              ports: [{ name: 'http', containerPort: 8080 }],
              env: [
                { name: 'DB_SIZE', valueFrom: secretRef('DB_SIZE') },
                { name: 'REGION', valueFrom: secretRef('REGION') },
                { name: 'PROVIDER_STORE_URL', value: 'https://store.example.com' },
                { name: 'PROVIDER_STORE_INSTALLATION_ID', value: INSTALLATION_ID },
                { name: 'PROVIDER_STORE_GENERATION', value: String(generation) },
                { name: 'PROVIDER_STORE_VERSION', value: version },
                { name: 'PROVIDER_STORE_HEARTBEAT_INTERVAL_MS', value: '2000' },
                { name: 'PROVIDER_WHEEL_URL', value: 'https://wheels.example.com/acme_db-1.0.0-py3-none-any.whl' },
                { name: 'PROVIDER_WHEEL_SHA256', value: SHA },
                { name: 'PROVIDER_PACKAGE_NAME', value: 'acme_db' },
                { name: 'PROVIDER_ENTRYPOINT', value: '["acme_db.main:app"]' },
                { name: 'PROVIDER_STORE_REGISTRATION_TOKEN', valueFrom: secretRef('registration-token') },
                { name: 'PROVIDER_STORE_HEALTH_PORT', value: '8080' },
              ],
              resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '500m', memory: '512Mi' } },
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, initialDelaySeconds: 30, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 6 },
              securityContext: {
                runAsNonRoot: true,
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: false,
                privileged: false,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            },
          ],
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }],
        },
      },
    },
  };
}

const serviceSelecting = (generation: number) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: SERVICE, namespace: NS, labels: labels() },
  spec: {
    selector: { 'provider-store/installation-id': INSTALLATION_ID, 'provider-store/generation': String(generation) },
    ports: [{ name: 'http', port: 80, targetPort: 'http' }],
  },
});
const EXPECTED_SERVICE = serviceSelecting(1);

const EXPECTED_NETWORK_POLICY = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: SERVICE, namespace: NS, labels: labels() },
  spec: {
    podSelector: { matchLabels: { 'provider-store/installation-id': INSTALLATION_ID } },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [
      {
        from: [
          { podSelector: { matchExpressions: [{ key: 'app.kubernetes.io/managed-by', operator: 'NotIn', values: ['provider-store'] }] } },
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'provider-store', 'app.kubernetes.io/component': 'api' } },
          },
        ],
      },
    ],
    egress: [
      {
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'provider-store', 'app.kubernetes.io/component': 'api' } },
          },
        ],
        ports: [{ protocol: 'TCP', port: 3000 }],
      },
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 53 },
        ],
      },
    ],
  },
};

/** The body of the apply (PATCH) of one resource type among the recorded requests. */
const appliedBody = (requests: RecordedRequest[], plural: string) => requests.find((r) => r.method === 'PATCH' && r.path.includes(`/${plural}/`))?.body;

async function eventually<T>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The calls without the parts every request shares, in order. */
const calls = (requests: RecordedRequest[]) => requests.map((r) => `${r.method} ${r.path}${r.query.labelSelector ? `?labelSelector=${r.query.labelSelector}` : ''}`);

describe('Kubernetes deployer against the recorded Kubernetes API test double', () => {
  let cluster: TestDoubleCluster;
  let double: KubernetesApiTestDouble;
  let deployer: KubernetesDeployer;

  beforeAll(async () => {
    // The deployer loads its configuration the production way: KUBECONFIG.
    cluster = await startTestDoubleCluster();
    double = cluster.double;
    deployer = new KubernetesDeployer({ namespace: NS, runtimeImage: IMAGE, logger });
  });

  afterAll(async () => {
    await deployer.close();
    await cluster.close();
  });

  beforeEach(() => double.clearRequests());

  it('applies the Secret, the NetworkPolicy, the Deployment and the Service with server-side apply, in that order', async () => {
    await deployer.apply(desired());

    expect(double.requests.map((r) => [r.method, r.path, r.query, r.contentType])).toEqual([
      ['PATCH', `/api/v1/namespaces/${NS}/secrets/${G(1)}`, APPLY_QUERY, 'application/apply-patch+yaml'],
      ['PATCH', `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/${SERVICE}`, APPLY_QUERY, 'application/apply-patch+yaml'],
      ['PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/${G(1)}`, APPLY_QUERY, 'application/apply-patch+yaml'],
      ['GET', `/api/v1/namespaces/${NS}/services/${SERVICE}`, {}, undefined],
      ['PATCH', `/api/v1/namespaces/${NS}/services/${SERVICE}`, APPLY_QUERY, 'application/apply-patch+yaml'],
    ]);
    expect(double.requests[0].body).toEqual(expectedSecret(1, 'token-g1'));
    expect(double.requests[1].body).toEqual(EXPECTED_NETWORK_POLICY);
    expect(double.requests[2].body).toEqual(expectedDeployment(1, '1.0.0'));
    // The first generation serves from the start: there is nothing else to serve.
    expect(double.requests[4].body).toEqual(EXPECTED_SERVICE);
    expect(double.requests.every((r) => r.authorization === 'Bearer test-double-token')).toBe(true);
  });

  it('keeps the token out of the Deployment: only the Secret holds it (base64 once stored)', async () => {
    const deployment = double.get('deployments', NS, G(1));
    expect(JSON.stringify(deployment)).not.toContain('token-g1');
    const secret = double.get('secrets', NS, G(1)) as { data: Record<string, string> };
    expect(Buffer.from(secret.data['registration-token'], 'base64').toString()).toBe('token-g1');
  });

  it('applying the same generation again sends the same manifests and changes nothing', async () => {
    const before = double.get('deployments', NS, G(1));
    await deployer.apply(desired());
    expect(double.requests.filter((r) => r.method === 'PATCH').map((r) => r.body)).toEqual([
      expectedSecret(1, 'token-g1'),
      EXPECTED_NETWORK_POLICY,
      expectedDeployment(1, '1.0.0'),
      EXPECTED_SERVICE,
    ]);
    expect(double.get('deployments', NS, G(1))).toEqual(before);
    expect(double.names('deployments', NS)).toEqual([G(1)]);
  });

  it('reads the rollout of the newest generation into DeploymentResult terms, from one watch', async () => {
    const name = G(1);
    expect(await deployer.status(INSTALLATION_ID)).toEqual({
      deployment_name: name,
      generation: 1,
      status: 'pending',
      available_replicas: 0,
      ready_replicas: 0,
      image: `${IMAGE}:1.0.0`,
      message: null,
    });
    // The informer: one list of every runtime Deployment, then one watch from its resourceVersion.
    await eventually(async () => double.openWatches, (n) => n === 1);
    expect(double.openWatches).toBe(1);
    expect(calls(double.requests)).toEqual([
      `GET /apis/apps/v1/namespaces/${NS}/deployments?labelSelector=app.kubernetes.io/managed-by=provider-store`,
      `GET /apis/apps/v1/namespaces/${NS}/deployments?labelSelector=app.kubernetes.io/managed-by=provider-store`,
    ]);
    expect(double.requests[1].query).toMatchObject({ watch: 'true' });
    const status = () => deployer.status(INSTALLATION_ID);

    double.setDeploymentStatus(NS, name, {
      observedGeneration: 1,
      replicas: 1,
      updatedReplicas: 1,
      conditions: [{ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: 'ReplicaSet "x" is progressing.' }],
    });
    expect(await eventually(status, (s) => s?.status === 'progressing')).toMatchObject({ status: 'progressing', available_replicas: 0, message: 'ReplicaSet "x" is progressing.' });

    double.setDeploymentStatus(NS, name, {
      observedGeneration: 1,
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
      conditions: [
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
      ],
    });
    expect(await eventually(status, (s) => s?.status === 'available')).toMatchObject({ status: 'available', available_replicas: 1, ready_replicas: 1, message: null });

    double.setDeploymentStatus(NS, name, {
      observedGeneration: 1,
      replicas: 1,
      updatedReplicas: 1,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "x" has timed out progressing.' }],
    });
    expect(await eventually(status, (s) => s?.status === 'failed')).toMatchObject({ status: 'failed', message: 'ReplicaSet "x" has timed out progressing.' });
    expect(await deployer.status('00000000-0000-4000-8000-000000000000')).toBeUndefined();
    // Every status came from the watch: one list, then only the watch (reconnected at most).
    expect(double.requests.filter((r) => r.query.watch !== 'true')).toHaveLength(1);
  });

  it('an upgrade runs beside the old generation, which keeps the Service until the new one registers; retire switches it, then deletes the older generations', async () => {
    await deployer.apply(desired({ generation: 2, version: '2.0.0', registrationToken: 'token-g2' }));
    expect(appliedBody(double.requests, 'deployments')).toEqual(expectedDeployment(2, '2.0.0'));
    expect(appliedBody(double.requests, 'services')).toEqual(serviceSelecting(1));
    expect(double.get('services', NS, SERVICE)?.spec).toMatchObject({ selector: { 'provider-store/generation': '1' } });
    expect(double.names('deployments', NS)).toEqual([G(1), G(2)]);
    expect(double.names('secrets', NS)).toEqual([G(1), G(2)]);
    expect((await eventually(() => deployer.status(INSTALLATION_ID), (s) => s?.generation === 2))?.generation).toBe(2);

    double.clearRequests();
    // The installer retires once generation 2 has registered.
    await deployer.retire(INSTALLATION_ID, 2);
    const selector = `provider-store/installation-id=${INSTALLATION_ID}`;
    expect(calls(double.requests)).toEqual([
      `GET /api/v1/namespaces/${NS}/services?labelSelector=${selector}`,
      `PATCH /api/v1/namespaces/${NS}/services/${SERVICE}`,
      `GET /apis/apps/v1/namespaces/${NS}/deployments?labelSelector=${selector}`,
      `DELETE /apis/apps/v1/namespaces/${NS}/deployments/${G(1)}`,
      `GET /api/v1/namespaces/${NS}/secrets?labelSelector=${selector}`,
      `DELETE /api/v1/namespaces/${NS}/secrets/${G(1)}`,
    ]);
    expect(double.requests[1].body).toEqual(serviceSelecting(2));
    expect(double.get('services', NS, SERVICE)?.spec).toMatchObject({ selector: { 'provider-store/generation': '2' } });
    expect(double.requests[3].query).toEqual({ propagationPolicy: 'Background' });
    expect(double.names('deployments', NS)).toEqual([G(2)]);
    expect(double.names('secrets', NS)).toEqual([G(2)]);
    expect(double.names('services', NS)).toEqual([SERVICE]);

    // Redelivered: the Service already selects 2 and nothing older is left, so nothing changes.
    double.clearRequests();
    await deployer.retire(INSTALLATION_ID, 2);
    expect(double.requests.filter((r) => r.method !== 'GET')).toEqual([]);

    // A later apply of generation 2 (redelivery) keeps the Service on 2.
    await deployer.apply(desired({ generation: 2, version: '2.0.0', registrationToken: 'token-g2' }));
    expect(double.get('services', NS, SERVICE)?.spec).toMatchObject({ selector: { 'provider-store/generation': '2' } });
  });

  it('remove deletes every generation, its Secret and the Service; a second remove finds nothing', async () => {
    await deployer.remove(INSTALLATION_ID);
    const selector = `provider-store/installation-id=${INSTALLATION_ID}`;
    expect(calls(double.requests)).toEqual([
      `GET /apis/apps/v1/namespaces/${NS}/deployments?labelSelector=${selector}`,
      `DELETE /apis/apps/v1/namespaces/${NS}/deployments/${G(2)}`,
      `GET /api/v1/namespaces/${NS}/secrets?labelSelector=${selector}`,
      `DELETE /api/v1/namespaces/${NS}/secrets/${G(2)}`,
      `GET /api/v1/namespaces/${NS}/services?labelSelector=${selector}`,
      `DELETE /api/v1/namespaces/${NS}/services/${SERVICE}`,
      `GET /apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies?labelSelector=${selector}`,
      `DELETE /apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/${SERVICE}`,
    ]);
    expect(double.names('deployments', NS)).toEqual([]);
    expect(double.names('secrets', NS)).toEqual([]);
    expect(double.names('services', NS)).toEqual([]);
    expect(double.names('networkpolicies', NS)).toEqual([]);

    double.clearRequests();
    await deployer.remove(INSTALLATION_ID);
    expect(double.requests.filter((r) => r.method === 'DELETE')).toEqual([]);
  });

  it('sizes the container by resource tier', async () => {
    for (const [tier, cpu, memory] of [
      ['free', '100m', '128Mi'],
      ['performance', '2', '2Gi'],
    ] as const) {
      double.clearRequests();
      await deployer.apply(desired({ resourceTier: tier }));
      const body = appliedBody(double.requests, 'deployments') as ReturnType<typeof expectedDeployment>;
      expect(body.spec.template.spec.containers[0].resources).toEqual({ requests: { cpu, memory }, limits: { cpu, memory } });
    }
    await deployer.remove(INSTALLATION_ID);
  });

  it('names too long for Kubernetes are shortened to 63 DNS-safe characters, keep the generation and stay distinct', () => {
    const long = (name: string) => ({ tenant: 'a-very-long-organisation-name-for-testing', prefix: 'another-long-publisher', name, generation: 12 });
    const first = generationName(long('provider-with-a-long-name-one'));
    const second = generationName(long('provider-with-a-long-name-two'));
    for (const name of [first, second]) {
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(name.startsWith('ps-a-very-long-organisation')).toBe(true);
      expect(name.endsWith('-g12')).toBe(true);
    }
    expect(first).not.toBe(second);
    expect(generationName({ tenant: 'tenant-a', prefix: 'acme', name: 'db', generation: 3 })).toMatch(/^ps-tenant-a-acme-db-[0-9a-f]{12}-g3$/);
    expect(dnsLabel('x'.repeat(100)).length).toBe(63);
  });

  it('tenants whose tenant, prefix and name join to the same dashes get objects of their own', async () => {
    // tenant acme-x installing y/z, tenant acme installing x-y/z, tenant acme installing x/y-z
    const owners = [
      { tenant: 'acme-x', prefix: 'y', name: 'z', installationId: '11111111-1111-4111-8111-111111111111' },
      { tenant: 'acme', prefix: 'x-y', name: 'z', installationId: '22222222-2222-4222-8222-222222222222' },
      { tenant: 'acme', prefix: 'x', name: 'y-z', installationId: '33333333-3333-4333-8333-333333333333' },
    ];
    const services = owners.map((o) => serviceName(o));
    const generations = owners.map((o) => generationName({ ...o, generation: 1 }));
    expect(new Set(services).size).toBe(3);
    expect(new Set(generations).size).toBe(3);
    for (const name of [...services, ...generations]) {
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    // The generation is part of the hash too: g1 and g11 of one installation never meet either.
    expect(generationName({ ...owners[0], generation: 1 })).not.toBe(generationName({ ...owners[0], generation: 11 }));

    for (const owner of owners) await deployer.apply(desired({ ...owner }));
    expect(double.names('deployments', NS).sort()).toEqual([...generations].sort());
    expect(double.names('services', NS).sort()).toEqual([...services].sort());
    // Labels keep the real values, which tell the owners apart.
    expect(double.get('deployments', NS, generations[1])?.metadata?.labels).toMatchObject({ 'provider-store/tenant': 'acme', 'provider-store/provider': 'x-y.z' });

    await deployer.remove(owners[0].installationId);
    expect(double.names('deployments', NS).sort()).toEqual([generations[1], generations[2]].sort());
    for (const owner of owners.slice(1)) await deployer.remove(owner.installationId);
    expect(double.names('deployments', NS)).toEqual([]);
  });

  it('stopGeneration deletes one generation (its Deployment and Secret) and leaves the others', async () => {
    await deployer.apply(desired());
    await deployer.apply(desired({ generation: 2, registrationToken: 'token-g2' }));
    await deployer.stopGeneration(INSTALLATION_ID, 2);
    expect(double.names('deployments', NS)).toEqual([G(1)]);
    expect(double.names('secrets', NS)).toEqual([G(1)]);
    expect(double.names('services', NS)).toEqual([SERVICE]);
    await deployer.remove(INSTALLATION_ID);
  });

  it('reserved keys in an old event’s config reach neither the Secret nor the container', async () => {
    await deployer.apply(desired({ config: { REGION: 'eu-west-1', NODE_OPTIONS: '--import=data:x', LD_PRELOAD: '/tmp/x.so', PROVIDER_STORE_URL: 'https://evil.example' } }));
    const secret = double.get('secrets', NS, G(1)) as { data: Record<string, string> };
    expect(Object.keys(secret.data).sort()).toEqual(['REGION', 'registration-token']);
    const body = appliedBody(double.requests, 'deployments') as ReturnType<typeof expectedDeployment>;
    const env = body.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
    expect(env.map((e) => e.name)).not.toEqual(expect.arrayContaining(['NODE_OPTIONS']));
    expect(env.map((e) => e.name)).not.toEqual(expect.arrayContaining(['LD_PRELOAD']));
    expect(env.filter((e) => e.name === 'PROVIDER_STORE_URL')).toEqual([{ name: 'PROVIDER_STORE_URL', value: 'https://store.example.com' }]);
    await deployer.remove(INSTALLATION_ID);
  });

  it('an API server refusal becomes an error carrying the server’s message', async () => {
    double.failNext('PATCH', 'deployments', 422, 'Deployment.apps "ps-tenant-a-acme-db-g1" is invalid: spec.template.spec.containers[0].image: Required value');
    await expect(deployer.apply(desired())).rejects.toThrow(
      'kubernetes apply Deployment failed (422): Deployment.apps "ps-tenant-a-acme-db-g1" is invalid: spec.template.spec.containers[0].image: Required value',
    );
    await deployer.remove(INSTALLATION_ID);
  });
});

describe('installer with DEPLOYER=kubernetes', () => {
  let cluster: TestDoubleCluster;
  let double: KubernetesApiTestDouble;

  beforeAll(async () => {
    cluster = await startTestDoubleCluster();
    double = cluster.double;
  });

  afterAll(async () => {
    await cluster.close();
  });

  it('the configuration selects the Kubernetes deployer', async () => {
    const deployer = await createDeployer(loadConfig({ DEPLOYER: 'kubernetes' }), logger);
    expect(deployer).toBeInstanceOf(KubernetesDeployer);
    expect(deployer.kind).toBe('kubernetes');
    await deployer.close();
  });

  it('an install request becomes DeployStarted and a Deployment carrying the token whose hash was logged', async () => {
    const db = await createTestDatabase('instk8s');
    const eventStore = new PostgresEventStore(db.pool, { idlePollMs: 200 });
    const config = loadConfig({
      DEPLOYER: 'kubernetes',
      KUBERNETES_NAMESPACE: 'tenants',
      RUNTIME_IMAGE: 'registry.example.com/runtime',
      PUBLIC_URL: 'https://store.example.com',
      DEPLOY_RETRY_BASE_MS: '5',
      INSTALLER_MAX_ATTEMPTS: '4',
    });
    const aggregates = aggregatesIn(db.pool, eventStore, { idempotencyRetentionMs: 3_600_000, onBackgroundError: () => undefined });
    const installer = await startInstaller({ config, logger, pool: db.pool, eventStore, checkpoints: new CheckpointStore(db.pool), aggregates, providerFacts: new FoldedProviderFacts(aggregates) });
    try {
      const now = new Date().toISOString();
      const context = { actor: 'test', correlationId: 'c-1', idempotencyScope: 'test', now };
      await runCommand(eventStore, providerDecider, providerStream({ prefix: 'acme', name: 'db' }), {
        type: 'PublishVersion',
        provider: { prefix: 'acme', name: 'db' },
        publisher: { organizationId: 'acme', platformAdmin: false },
        version: '1.0.0',
        runtimeVersion: '3.1.0',
        wheelUrl: 'https://wheels.example.com/acme_db-1.0.0-py3-none-any.whl',
        wheelSha256: null,
        packageName: null,
        entrypoint: null,
        schemas: [],
        configSchema: null,
        outputsSchema: null,
        changelog: null,
        metadata: null,
        now,
      }, context);
      const stream = installationStream('tenant-a', { prefix: 'acme', name: 'db' });
      await runCommand(eventStore, installationDecider, stream, {
        type: 'InstallProvider',
        installationId: INSTALLATION_ID,
        tenant: 'tenant-a',
        prefix: 'acme',
        name: 'db',
        version: '1.0.0',
        resourceTier: 'free',
        upgradePolicy: 'manual',
        config: { REGION: 'eu-west-1' },
        now,
      }, context);

      await waitFor(() => double.names('deployments', 'tenants').length === 1);
      const started = (await eventStore.readStream(stream)).find((e) => e.type === 'DeployStarted');
      expect(started?.data).toMatchObject({ generation: 1, version: '1.0.0' });

      const secret = double.get('secrets', 'tenants', G(1)) as { data: Record<string, string> };
      const token = Buffer.from(secret.data['registration-token'], 'base64').toString();
      expect(hashToken(token)).toBe((started?.data as { token_hash: string }).token_hash);
      expect(token).toBe((await RegistrationTokens.load(db.pool)).tokenFor(INSTALLATION_ID, 1));

      const deployment = double.get('deployments', 'tenants', G(1)) as ReturnType<typeof expectedDeployment>;
      const container = deployment.spec.template.spec.containers[0];
      expect(container.image).toBe('registry.example.com/runtime:3.1.0');
      expect(container.resources.limits).toEqual({ cpu: '100m', memory: '128Mi' });
      expect(container.env).toContainEqual({ name: 'PROVIDER_STORE_URL', value: 'https://store.example.com' });
      expect(container.env).toContainEqual({ name: 'PROVIDER_WHEEL_SHA256', value: '' });

      // A removal the cluster keeps refusing fails the uninstall (not stuck in deleting, and the
      // installer moves on); asking again once the cluster is back removes everything.
      double.failNext('DELETE', 'deployments', 500, 'etcd is unavailable', 4);
      const later = () => ({ ...context, now: new Date().toISOString() });
      await runCommand(eventStore, installationDecider, stream, { type: 'Uninstall', now: later().now }, later());
      await waitFor(async () => (await eventStore.readStream(stream)).some((e) => e.type === 'DeployFailed'));
      const failed = (await eventStore.readStream(stream)).filter((e) => e.type === 'DeployFailed');
      expect(failed).toHaveLength(1);
      expect((failed[0].data as { message: string }).message).toMatch(/^removal failed after 4 attempts: .*etcd is unavailable/);
      await runCommand(eventStore, installationDecider, stream, { type: 'Uninstall', now: later().now }, later());
      await waitFor(async () => (await eventStore.readStream(stream)).some((e) => e.type === 'Uninstalled'));
      expect(double.names('deployments', 'tenants')).toEqual([]);
    } finally {
      await installer.stop();
      await eventStore.close();
      await db.drop();
    }
  });
});

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
