import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';

/**
 * The control plane's kustomize base (deploy/kubernetes): every resource the kustomization lists,
 * validated against the Kubernetes schemas (kubernetes-models), and the invariants the issue asks
 * for: probes and a restricted security context on every container, an installer Role granting
 * exactly what the Kubernetes deployer calls, Services and budgets that select their Deployment.
 * Then the other deploy artefacts: the Dockerfile, docker-compose.yml and the Grafana dashboard.
 */
const ROOT = join(__dirname, '..', '..');
const BASE = join(ROOT, 'deploy', 'kubernetes');

interface Validatable {
  validate(): void;
}
type Model = new (data: never) => Validatable;

const MODELS: Record<string, Model> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

function isManifest(doc: unknown): doc is Manifest {
  if (typeof doc !== 'object' || doc === null) return false;
  const { apiVersion, kind, metadata } = doc as Record<string, unknown>;
  return typeof apiVersion === 'string' && typeof kind === 'string' && typeof metadata === 'object' && metadata !== null;
}

function load(): { kustomization: Record<string, unknown>; manifests: Manifest[] } {
  const kustomization = parseAllDocuments(readFileSync(join(BASE, 'kustomization.yaml'), 'utf8'))[0].toJS() as Record<string, unknown>;
  const resources = kustomization.resources as string[];
  const manifests: Manifest[] = [];
  for (const file of resources) {
    for (const document of parseAllDocuments(readFileSync(join(BASE, file), 'utf8'))) {
      expect(document.errors).toEqual([]);
      const doc: unknown = document.toJS();
      if (doc === null) continue;
      if (!isManifest(doc)) throw new Error(`${file}: a document without apiVersion, kind and metadata`);
      manifests.push(doc);
    }
  }
  return { kustomization, manifests };
}

const { kustomization, manifests } = load();
const of = <T>(kind: string) => manifests.filter((m) => m.kind === kind) as unknown as T[];
const deployments = of<IDeployment & Manifest>('Deployment');
const containers = deployments.flatMap((d) => d.spec?.template.spec?.containers.map((c) => ({ deployment: d.metadata.name, container: c })) ?? []);

describe('deploy/kubernetes: the kustomize base', () => {
  it('lists resources, and every document in them is a Kubernetes object valid against its schema', () => {
    expect(kustomization.kind).toBe('Kustomization');
    expect(manifests.length).toBeGreaterThanOrEqual(12);
    for (const manifest of manifests) {
      const model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
      if (!model) throw new Error(`${manifest.kind} ${manifest.metadata.name}: no schema known for ${manifest.apiVersion}/${manifest.kind}`);
      expect(() => new model(manifest as never).validate()).not.toThrow();
    }
  });

  it('rejects a broken document (the validation is real)', () => {
    const broken = structuredClone(deployments[0]) as unknown as { spec: { replicas: unknown } };
    broken.spec.replicas = 'two';
    expect(() => new Deployment(broken as never).validate()).toThrow(/replicas/);
  });

  it('names each object once per kind and namespace', () => {
    const keys = manifests.map((m) => `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('runs the API (Deployment, Service, HPA, PDB) and the installer and projections as 2 replicas each', () => {
    const byName = (name: string) => deployments.find((d) => d.metadata.name === name);
    for (const name of ['provider-store-api', 'provider-store-installer', 'provider-store-projections']) expect(byName(name)).toBeDefined();
    expect(byName('provider-store-installer')?.spec?.replicas).toBe(2);
    expect(byName('provider-store-projections')?.spec?.replicas).toBe(2);
    const hpa = of<Manifest & { spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number } }>('HorizontalPodAutoscaler');
    expect(hpa.map((h) => h.spec.scaleTargetRef)).toEqual([{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'provider-store-api' }]);
    expect(hpa[0].spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(of<Manifest>('PodDisruptionBudget').map((p) => p.metadata.name).sort()).toEqual(['provider-store-api', 'provider-store-installer', 'provider-store-projections']);
    expect(of<Manifest>('Service').map((s) => s.metadata.name)).toEqual(['provider-store-api']);
  });

  it('starts each process of the one image by its command', () => {
    const commands = Object.fromEntries(containers.map(({ deployment, container }) => [deployment, container.command]));
    expect(commands).toEqual({
      'provider-store-api': ['node', 'dist/apps/api/main.js'],
      'provider-store-installer': ['node', 'dist/apps/installer/main.js'],
      'provider-store-projections': ['node', 'dist/apps/projections/main.js'],
    });
    for (const { container } of containers) expect(container.image).toBe('provider-store');
    const images = kustomization.images as Array<{ name: string; newTag?: string }>;
    expect(images.find((i) => i.name === 'provider-store')?.newTag).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('probes every container for liveness and readiness on /health/live and /health/ready, on a port it declares', () => {
    expect(containers).toHaveLength(3);
    for (const { deployment, container } of containers) {
      const ports = (container.ports ?? []).map((p) => p.name);
      for (const [probe, path] of [['livenessProbe', '/health/live'], ['readinessProbe', '/health/ready']] as const) {
        const get = container[probe]?.httpGet;
        expect({ deployment, probe, path: get?.path }).toEqual({ deployment, probe, path });
        expect(ports).toContain(get?.port);
      }
    }
  });

  it('serves the installer and projections health on HEALTH_PORT 9464', () => {
    for (const { deployment, container } of containers.filter((c) => c.deployment !== 'provider-store-api')) {
      expect({ deployment, env: container.env }).toEqual({ deployment, env: [{ name: 'HEALTH_PORT', value: '9464' }] });
      expect(container.ports).toEqual([{ name: 'health', containerPort: 9464, protocol: 'TCP' }]);
    }
  });

  it('runs every container restricted: non-root, read-only root filesystem, no capabilities, seccomp RuntimeDefault', () => {
    for (const d of deployments) {
      const pod = d.spec?.template.spec?.securityContext;
      expect({ name: d.metadata.name, runAsNonRoot: pod?.runAsNonRoot, seccomp: pod?.seccompProfile?.type }).toEqual({
        name: d.metadata.name,
        runAsNonRoot: true,
        seccomp: 'RuntimeDefault',
      });
      expect(pod?.runAsUser).toBeGreaterThan(0);
    }
    for (const { deployment, container } of containers) expect({ deployment, ...restriction(container) }).toEqual({ deployment, ...RESTRICTED });
  });

  it('gives each Deployment resources, settings from the ConfigMap and the Secret, and a Kubernetes token only to the installer', () => {
    const configMap = of<Manifest>('ConfigMap')[0];
    const secret = of<Manifest>('Secret')[0];
    for (const { container } of containers) {
      expect(container.resources?.requests).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
      expect(container.resources?.limits?.memory).toEqual(expect.any(String));
      expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }, { secretRef: { name: secret.metadata.name } }]);
    }
    // The base carries no credential: an overlay fills the Secret, and production refuses to start without DATABASE_URL.
    expect(secret.data ?? {}).toEqual({});
    expect(secret.stringData ?? {}).toEqual({});
    expect((configMap.data as Record<string, string>).NODE_ENV).toBe('production');
    for (const key of ['DATABASE_URL', 'RUNTIME_TOKEN_SECRET', 'EVENTSTORE_URL']) expect(configMap.data).not.toHaveProperty(key);
    const tokens = Object.fromEntries(deployments.map((d) => [d.metadata.name, d.spec?.template.spec?.automountServiceAccountToken]));
    expect(tokens).toEqual({ 'provider-store-api': false, 'provider-store-installer': true, 'provider-store-projections': false });
  });

  it('selects each Deployment, and only it, from its Service, PDB and its own selector', () => {
    for (const d of deployments) {
      const selector = d.spec?.selector.matchLabels ?? {};
      expect(Object.keys(selector).length).toBeGreaterThan(0);
      expect(d.spec?.template.metadata?.labels).toEqual(expect.objectContaining(selector));
      const others = deployments.filter((o) => o !== d).map((o) => o.spec?.template.metadata?.labels ?? {});
      for (const labels of others) expect(matches(selector, labels)).toBe(false);
    }
    const api = deployments.find((d) => d.metadata.name === 'provider-store-api');
    const apiLabels = api?.spec?.template.metadata?.labels ?? {};
    const service = of<Manifest & { spec: { selector: Record<string, string>; ports: Array<{ targetPort: string }> } }>('Service')[0];
    expect(matches(service.spec.selector, apiLabels)).toBe(true);
    const apiPorts = api?.spec?.template.spec?.containers[0].ports?.map((p) => p.name);
    for (const port of service.spec.ports) expect(apiPorts).toContain(port.targetPort);
    // Each budget covers its own Deployment's pods and no other's.
    for (const pdb of of<Manifest & { spec: { selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget')) {
      const covered = deployments.filter((d) => matches(pdb.spec.selector.matchLabels, d.spec?.template.metadata?.labels ?? {})).map((d) => d.metadata.name);
      expect({ pdb: pdb.metadata.name, covered }).toEqual({ pdb: pdb.metadata.name, covered: [pdb.metadata.name] });
    }
    expect(apiLabels).toEqual(expect.objectContaining(service.spec.selector));
  });

  it('binds the installer ServiceAccount to a Role in the runtimes namespace (KUBERNETES_NAMESPACE)', () => {
    const installer = deployments.find((d) => d.metadata.name === 'provider-store-installer');
    const account = of<Manifest>('ServiceAccount')[0];
    expect(installer?.spec?.template.spec?.serviceAccountName).toBe(account.metadata.name);
    const runtimesNamespace = (of<Manifest>('ConfigMap')[0].data as Record<string, string>).KUBERNETES_NAMESPACE;
    expect(runtimesNamespace).not.toBe(installer?.metadata.namespace);
    expect(of<Manifest>('Namespace').map((n) => n.metadata.name).sort()).toEqual([installer?.metadata.namespace, runtimesNamespace].sort());
    const [role] = of<IRole & Manifest>('Role');
    const [binding] = of<Manifest & { roleRef: { kind: string; name: string }; subjects: unknown[] }>('RoleBinding');
    expect(role.metadata.namespace).toBe(runtimesNamespace);
    expect(binding.metadata.namespace).toBe(runtimesNamespace);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: account.metadata.name, namespace: account.metadata.namespace }]);
    expect(of<Manifest>('ClusterRole')).toEqual([]);
  });

  it('grants the installer exactly the verbs the Kubernetes deployer calls, on exactly the resources it touches', () => {
    const [role] = of<IRole & Manifest>('Role');
    const granted = new Set<string>();
    for (const rule of role.rules ?? []) {
      expect(rule.resourceNames ?? []).toEqual([]);
      for (const group of rule.apiGroups ?? []) for (const resource of rule.resources ?? []) for (const verb of rule.verbs) granted.add(`${group}/${resource}:${verb}`);
    }
    const used = verbsTheDeployerCalls();
    expect(used.size).toBeGreaterThan(0);
    expect([...granted].sort()).toEqual([...used].sort());
  });
});

const RESTRICTED = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, drop: ['ALL'], add: [], seccomp: 'RuntimeDefault', privileged: false };

function restriction(container: IContainer) {
  const s = container.securityContext;
  return {
    allowPrivilegeEscalation: s?.allowPrivilegeEscalation,
    readOnlyRootFilesystem: s?.readOnlyRootFilesystem,
    runAsNonRoot: s?.runAsNonRoot,
    drop: s?.capabilities?.drop,
    add: s?.capabilities?.add ?? [],
    seccomp: s?.seccompProfile?.type,
    privileged: s?.privileged ?? false,
  };
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/** API group and plural resource of each kind the deployer's clients touch. */
const RESOURCES: Record<string, string> = {
  Secret: '/secrets',
  Service: '/services',
  Deployment: 'apps/deployments',
  NetworkPolicy: 'networking.k8s.io/networkpolicies',
  Pod: '/pods',
  ConfigMap: '/configmaps',
};

/**
 * Reads the deployer's source for its client calls (`patchNamespacedSecret`, `listNamespacedDeployment`,
 * …) and turns each into the RBAC (group/resource, verb) it needs. A server-side apply is a PATCH
 * that may create the object, which the API server also authorises as `create`.
 */
function verbsTheDeployerCalls(): Set<string> {
  const dir = join(ROOT, 'apps', 'installer', 'kubernetes');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  const source = files.map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
  const verbs: Record<string, string[]> = { patch: ['patch', 'create'], create: ['create'], list: ['list'], delete: ['delete'], read: ['get'], replace: ['update'] };
  const used = new Set<string>();
  for (const [, call, kind] of source.matchAll(/\b(patch|create|list|delete|read|replace)Namespaced([A-Z][A-Za-z]*?)\(/g)) {
    const resource = RESOURCES[kind];
    if (!resource) throw new Error(`the deployer calls ${call}Namespaced${kind}: add ${kind} to RESOURCES`);
    for (const verb of verbs[call]) used.add(`${resource}:${verb}`);
  }
  // An informer lists, then watches from the list's resourceVersion.
  for (const [, kind] of source.matchAll(/\bmakeInformer<V1([A-Z][A-Za-z]*)>\(/g)) {
    const resource = RESOURCES[kind];
    if (!resource) throw new Error(`the deployer watches ${kind}: add ${kind} to RESOURCES`);
    for (const verb of ['list', 'watch']) used.add(`${resource}:${verb}`);
  }
  return used;
}

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const stages = instructions.reduce<string[][]>((all, line) => (line.startsWith('FROM ') ? [...all, [line]] : all.length ? [...all.slice(0, -1), [...all[all.length - 1], line]] : all), []);
  const runtime = stages[stages.length - 1];

  it('builds from a Node 20 base pinned to a full version tag', () => {
    const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
    expect(base).toMatch(/^node:20\.\d+\.\d+-[a-z-]+$/);
    for (const from of instructions.filter((l) => l.startsWith('FROM '))) expect(from).toMatch(/^FROM \$\{NODE_IMAGE\} AS [a-z-]+$/);
  });

  it('builds with the dev dependencies, and runs with production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    expect(stages[0].some((l) => /^RUN npm ci\b(?!.*--omit=dev)/.test(l))).toBe(true);
    expect(stages[0].some((l) => l.startsWith('RUN npm run -s build'))).toBe(true);
    const installs = instructions.filter((l) => / npm ci\b/.test(l));
    expect(installs.filter((l) => l.includes('--omit=dev'))).toHaveLength(1);
    const copied = runtime.filter((l) => l.startsWith('COPY'));
    expect(copied).toEqual(expect.arrayContaining([expect.stringMatching(/--from=production-dependencies \/app\/node_modules/), expect.stringMatching(/--from=build \/app\/dist/)]));
    expect(copied.some((l) => /--from=build \S*node_modules/.test(l))).toBe(false);
    expect(runtime.some((l) => / npm (ci|install)\b/.test(l))).toBe(false);
  });

  it('runs as a non-root numeric user, in production mode, with a healthcheck on /health/live', () => {
    const users = runtime.filter((l) => l.startsWith('USER '));
    expect(users).toHaveLength(1);
    const [uid] = users[0].slice('USER '.length).split(':');
    expect(Number(uid)).toBeGreaterThan(0);
    expect(runtime.some((l) => /^ENV NODE_ENV=production\b/.test(l))).toBe(true);
    expect(runtime.find((l) => l.startsWith('HEALTHCHECK'))).toMatch(/\/health\/live/);
    expect(runtime[runtime.length - 1]).toBe('CMD ["node", "dist/apps/api/main.js"]');
  });

  it('keeps node_modules, dist and local data out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.data', '.git']));
  });
});

describe('docker-compose.yml', () => {
  interface ComposeService {
    image?: string;
    build?: unknown;
    command?: string[];
    environment?: Record<string, string>;
    healthcheck?: { test?: string[]; disable?: boolean };
    depends_on?: Record<string, { condition?: string }>;
  }
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
  const services = compose.services;

  it('runs the whole system: api, installer, projections, PostgreSQL and KurrentDB', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'eventstoredb', 'installer', 'postgres', 'projections']);
    for (const name of ['api', 'installer', 'projections']) {
      expect(services[name].build).toBe('.');
      expect(services[name].command).toEqual(['node', `dist/apps/${name}/main.js`]);
      expect(services[name].environment?.DATABASE_URL).toMatch(/@postgres:5432\//);
      expect(services[name].environment?.NODE_ENV).toBe('production');
    }
  });

  it('pins every image to a version tag (never latest)', () => {
    for (const [name, service] of Object.entries(services)) {
      const image = service.image ?? '';
      const tag = image.includes(':') ? image.slice(image.lastIndexOf(':') + 1) : '';
      expect({ name, tag }).toEqual({ name, tag: expect.stringMatching(/^(dev|\d+(\.\d+)+(-[a-z0-9]+)?)$/) });
    }
    expect(services.eventstoredb.image).toMatch(/kurrentdb:\d+\.\d+\.\d+$/);
    expect(services.postgres.image).toMatch(/^postgres:\d+\.\d+/);
  });

  it('gives every service a healthcheck, and starts each one only once what it depends on is healthy', () => {
    for (const [name, service] of Object.entries(services)) {
      expect({ name, test: service.healthcheck?.test?.[0], disabled: service.healthcheck?.disable ?? false }).toEqual({ name, test: expect.stringMatching(/^CMD(-SHELL)?$/), disabled: false });
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(services[dependency]).toBeDefined();
        expect({ name, dependency, condition }).toEqual({ name, dependency, condition: 'service_healthy' });
      }
    }
    for (const name of ['api', 'installer', 'projections']) expect(Object.keys(services[name].depends_on ?? {})).toEqual(expect.arrayContaining(['postgres', 'eventstoredb']));
    expect(services.api.healthcheck?.test?.join(' ')).toMatch(/127\.0\.0\.1:3000\/health\/ready/);
    for (const name of ['installer', 'projections']) {
      expect(services[name].environment?.HEALTH_PORT).toBe('9464');
      expect(services[name].healthcheck?.test?.join(' ')).toMatch(/127\.0\.0\.1:9464\/health\/ready/);
    }
  });
});

describe('deploy/grafana: the control plane dashboard', () => {
  interface Panel {
    type: string;
    title: string;
    targets?: Array<{ expr: string }>;
  }
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'provider-store.dashboard.json'), 'utf8')) as { uid: string; title: string; panels: Panel[] };
  const graphs = dashboard.panels.filter((p) => p.type !== 'row');
  const exprs = graphs.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

  it('has a panel with a query for every view the issue asks for', () => {
    expect(dashboard.uid).toBe('provider-store-control-plane');
    const titles = graphs.map((p) => p.title);
    for (const wanted of [/request rate by route/i, /latency .*by route/i, /lag \(events\)/i, /lag \(seconds\)/i, /checkpoint positions/i, /active \/ standby/i, /deploy outcomes by deployer/i, /deploy duration .*by deployer/i, /by lifecycle state/i, /by health/i]) {
      expect(titles).toContainEqual(expect.stringMatching(wanted));
    }
    for (const panel of graphs) expect({ title: panel.title, hasQuery: (panel.targets?.length ?? 0) > 0 }).toEqual({ title: panel.title, hasQuery: true });
  });

  it('queries only the provider_store_* metrics the processes export', () => {
    const metrics = new Set(exprs.flatMap((e) => [...e.matchAll(/\b([a-z_]+)\{/g)].map((m) => m[1])));
    expect([...metrics].sort()).toEqual([
      'provider_store_consumer_active',
      'provider_store_consumer_checkpoint_position',
      'provider_store_consumer_lag_events',
      'provider_store_consumer_lag_seconds',
      'provider_store_deploy_duration_seconds_bucket',
      'provider_store_deploys_total',
      'provider_store_http_request_duration_seconds_bucket',
      'provider_store_http_request_duration_seconds_count',
      'provider_store_installations',
      'provider_store_log_head_position',
    ]);
  });
});
