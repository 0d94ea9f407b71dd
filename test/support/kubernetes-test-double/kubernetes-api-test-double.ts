import { randomUUID } from 'node:crypto';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * A TEST DOUBLE of the Kubernetes API server, in process, over real HTTP: enough of it for a
 * deployer to apply, read, list and delete Secrets, Services and Deployments, answering as the API
 * server does (server-side apply creates or merges, `stringData` becomes base64 `data`, unknown
 * objects are a 404 Status). Every request is recorded so tests can assert the exact calls and
 * manifests. It is not a cluster: nothing runs, and a Deployment's status is whatever the test sets.
 * Collections can be watched (`?watch=true`): from the `resourceVersion` asked for, every change is
 * streamed as the API server streams it, one `{ type, object }` JSON line per event.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  authorization: string | undefined;
  /** Parsed JSON when the body is JSON (server-side apply bodies from the client are), else the text. */
  body: unknown;
}

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
};

interface ResourceType {
  apiVersion: string;
  kind: string;
  /** The API group, '' for the core group (`/api/v1`). */
  group: string;
}

const RESOURCES: Record<string, ResourceType> = {
  secrets: { apiVersion: 'v1', kind: 'Secret', group: '' },
  services: { apiVersion: 'v1', kind: 'Service', group: '' },
  deployments: { apiVersion: 'apps/v1', kind: 'Deployment', group: 'apps' },
  networkpolicies: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', group: 'networking.k8s.io' },
};

interface WatchEvent {
  resourceVersion: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  plural: string;
  namespace: string;
  object: KubeObject;
}

interface Watcher {
  plural: string;
  namespace: string;
  matches: (labels: Record<string, string>) => boolean;
  response: ServerResponse;
}

const APPLY_CONTENT_TYPE = 'application/apply-patch+yaml';
const PATH_PATTERN = /^\/(?:api\/v1|apis\/([a-z0-9.-]+)\/v1)\/namespaces\/([a-z0-9-]+)\/([a-z]+)(?:\/([a-z0-9.-]+))?$/;

interface Failure {
  method: string;
  resource: string;
  status: number;
  message: string;
  remaining: number;
}

export class KubernetesApiTestDouble {
  readonly requests: RecordedRequest[] = [];
  private readonly objects = new Map<string, KubeObject>();
  private readonly failures: Failure[] = [];
  private readonly history: WatchEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private server?: Server;
  private resourceVersion = 1000;
  url = '';

  async start(): Promise<string> {
    const server = createServer((req, res) => void this.serve(req, res));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    for (const watcher of this.watchers) watcher.response.end();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** A kubeconfig whose only cluster is this double (plain HTTP; TLS verification off as for a dev cluster). */
  kubeconfig(token = 'test-double-token', namespace = 'provider-store'): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '  - name: test-double',
      '    cluster:',
      `      server: ${this.url}`,
      '      insecure-skip-tls-verify: true',
      'users:',
      '  - name: test-double-user',
      '    user:',
      `      token: ${token}`,
      'contexts:',
      '  - name: test-double',
      '    context:',
      '      cluster: test-double',
      '      user: test-double-user',
      `      namespace: ${namespace}`,
      'current-context: test-double',
      '',
    ].join('\n');
  }

  /** The next `times` requests of this method on this resource type answer with an error Status. */
  failNext(method: string, resource: string, status: number, message: string, times = 1): void {
    this.failures.push({ method: method.toUpperCase(), resource, status, message, remaining: times });
  }

  get(resource: string, namespace: string, name: string): KubeObject | undefined {
    const object = this.objects.get(keyOf(resource, namespace, name));
    return object ? structuredClone(object) : undefined;
  }

  names(resource: string, namespace: string): string[] {
    const prefix = `${resource}/${namespace}/`;
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length)).sort();
  }

  /** What the deployment controller would write: the test plays the cluster's part. */
  setDeploymentStatus(namespace: string, name: string, status: Record<string, unknown>): void {
    const object = this.objects.get(keyOf('deployments', namespace, name));
    if (!object) throw new Error(`no deployment ${namespace}/${name}`);
    object.status = structuredClone(status);
    object.metadata = { ...object.metadata, resourceVersion: String(++this.resourceVersion) };
    this.record('MODIFIED', 'deployments', namespace, object);
  }

  /** Open watches (the informer's), for tests that assert status comes from one. */
  get openWatches(): number {
    return this.watchers.size;
  }

  private record(type: WatchEvent['type'], plural: string, namespace: string, object: KubeObject): void {
    const event: WatchEvent = { resourceVersion: this.resourceVersion, type, plural, namespace, object: structuredClone(object) };
    this.history.push(event);
    for (const watcher of this.watchers) this.deliver(watcher, event);
  }

  private deliver(watcher: Watcher, event: WatchEvent): void {
    if (event.plural !== watcher.plural || event.namespace !== watcher.namespace) return;
    if (!watcher.matches(event.object.metadata?.labels ?? {})) return;
    watcher.response.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
  }

  private watch(res: ServerResponse, plural: string, namespace: string, query: URLSearchParams): void {
    const watcher: Watcher = { plural, namespace, matches: parseSelector(query.get('labelSelector')), response: res };
    res.writeHead(200, { 'content-type': 'application/json' });
    // As the API server does: the headers go at once, events follow as they happen.
    res.flushHeaders();
    const since = Number(query.get('resourceVersion') ?? 0);
    for (const event of this.history) if (event.resourceVersion > since) this.deliver(watcher, event);
    this.watchers.add(watcher);
    res.on('close', () => this.watchers.delete(watcher));
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    const text = await readBody(req);
    const contentType = req.headers['content-type']?.split(';')[0].trim();
    let body: unknown = text === '' ? undefined : text;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: kept as text (real YAML would land here).
      }
    }
    const method = req.method ?? 'GET';
    this.requests.push({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType,
      authorization: req.headers.authorization,
      body,
    });

    const match = PATH_PATTERN.exec(url.pathname);
    const resource = match ? RESOURCES[match[3]] : undefined;
    if (!match || !resource || (match[1] ?? '') !== resource.group) {
      return send(res, 404, status(404, 'NotFound', `the server could not find the requested resource (${method} ${url.pathname})`));
    }
    const [, , namespace, plural, name] = match;

    const failure = this.failures.find((f) => f.method === method && f.resource === plural && f.remaining > 0);
    if (failure) {
      failure.remaining--;
      return send(res, failure.status, status(failure.status, 'Invalid', failure.message));
    }

    if (!name) {
      if (method !== 'GET') return send(res, 405, status(405, 'MethodNotAllowed', `${method} on a collection is not supported by the test double`));
      if (url.searchParams.get('watch') === 'true') return this.watch(res, plural, namespace, url.searchParams);
      return send(res, 200, this.list(plural, resource, namespace, url.searchParams.get('labelSelector')));
    }
    const key = keyOf(plural, namespace, name);
    const existing = this.objects.get(key);
    const notFound = () => send(res, 404, status(404, 'NotFound', `${plural}${resource.group ? `.${resource.group}` : ''} "${name}" not found`, { name, kind: plural }));

    switch (method) {
      case 'GET':
        return existing ? send(res, 200, existing) : notFound();
      case 'DELETE':
        if (!existing) return notFound();
        this.objects.delete(key);
        existing.metadata = { ...existing.metadata, resourceVersion: String(++this.resourceVersion) };
        this.record('DELETED', plural, namespace, existing);
        return send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: plural, uid: existing.metadata?.uid } });
      case 'PATCH':
        return this.apply(res, plural, resource, namespace, name, contentType, body, url.searchParams);
      default:
        return send(res, 405, status(405, 'MethodNotAllowed', `${method} is not supported by the test double`));
    }
  }

  private apply(
    res: ServerResponse,
    plural: string,
    resource: ResourceType,
    namespace: string,
    name: string,
    contentType: string | undefined,
    body: unknown,
    query: URLSearchParams,
  ): void {
    if (contentType !== APPLY_CONTENT_TYPE) {
      return send(res, 415, status(415, 'UnsupportedMediaType', `the test double only answers server-side apply (${APPLY_CONTENT_TYPE}), got ${contentType}`));
    }
    if (!query.get('fieldManager')) {
      return send(res, 422, status(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'));
    }
    if (typeof body !== 'object' || body === null) return send(res, 400, status(400, 'BadRequest', 'apply body is not an object'));
    const applied = structuredClone(body) as KubeObject;
    if (applied.apiVersion !== resource.apiVersion || applied.kind !== resource.kind) {
      return send(res, 400, status(400, 'BadRequest', `expected ${resource.apiVersion} ${resource.kind}, got ${applied.apiVersion} ${applied.kind}`));
    }
    if (applied.metadata?.name !== name || (applied.metadata.namespace !== undefined && applied.metadata.namespace !== namespace)) {
      return send(res, 400, status(400, 'BadRequest', 'the name or namespace of the object does not match the request'));
    }

    const key = keyOf(plural, namespace, name);
    const existing = this.objects.get(key);
    const { metadata: appliedMeta = {}, ...appliedRest } = applied;
    const content = normalise(resource.kind, appliedRest);
    const previousContent = existing ? stripServerFields(existing) : undefined;
    const next: KubeObject = {
      ...content,
      metadata: {
        ...appliedMeta,
        namespace,
        uid: existing?.metadata?.uid ?? randomUUID(),
        creationTimestamp: existing?.metadata?.creationTimestamp ?? new Date().toISOString(),
        resourceVersion: existing?.metadata?.resourceVersion,
        ...(resource.kind === 'Deployment' ? { generation: existing?.metadata?.generation ?? 1 } : {}),
      },
      ...(existing?.status !== undefined ? { status: existing.status } : {}),
    };
    const changed = !existing || JSON.stringify(previousContent) !== JSON.stringify(stripServerFields(next));
    if (changed) {
      next.metadata = { ...next.metadata, resourceVersion: String(++this.resourceVersion) };
      if (existing && resource.kind === 'Deployment') next.metadata.generation = Number(existing.metadata?.generation ?? 1) + 1;
    }
    this.objects.set(key, next);
    if (changed) this.record(existing ? 'MODIFIED' : 'ADDED', plural, namespace, next);
    send(res, existing ? 200 : 201, next);
  }

  private list(plural: string, resource: ResourceType, namespace: string, selector: string | null): KubeObject {
    const matches = parseSelector(selector);
    const prefix = `${plural}/${namespace}/`;
    const items = [...this.objects.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .map(([, object]) => object)
      .filter((object) => matches(object.metadata?.labels ?? {}))
      .sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
    return { apiVersion: resource.apiVersion, kind: `${resource.kind}List`, metadata: { resourceVersion: String(this.resourceVersion) }, items };
  }
}

/** What the API server stores for what was applied: a Secret's `stringData` is folded into base64 `data`. */
function normalise(kind: string, content: Record<string, unknown>): Record<string, unknown> {
  if (kind !== 'Secret' || !content.stringData) return content;
  const { stringData, ...rest } = content as { stringData: Record<string, string>; data?: Record<string, string> };
  const data = { ...(rest.data ?? {}) };
  for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(v, 'utf8').toString('base64');
  return { ...rest, data };
}

function stripServerFields(object: KubeObject): unknown {
  const { status: _status, metadata = {}, ...rest } = object;
  const { uid: _uid, creationTimestamp: _created, resourceVersion: _rv, generation: _generation, ...meta } = metadata;
  return { ...rest, metadata: meta };
}

/** Equality (`k=v`, `k==v`), inequality (`k!=v`) and existence (`k`, `!k`) terms, comma-separated. */
function parseSelector(selector: string | null): (labels: Record<string, string>) => boolean {
  if (!selector) return () => true;
  const terms = selector.split(',').map((t) => t.trim()).filter(Boolean);
  return (labels) =>
    terms.every((term) => {
      const ne = term.split('!=');
      if (ne.length === 2) return labels[ne[0]] !== ne[1];
      const eq = term.split(/==?/);
      if (eq.length === 2) return labels[eq[0]] === eq[1];
      if (term.startsWith('!')) return !(term.slice(1) in labels);
      return term in labels;
    });
}

function keyOf(resource: string, namespace: string, name: string): string {
  return `${resource}/${namespace}/${name}`;
}

function status(code: number, reason: string, message: string, details?: Record<string, unknown>): KubeObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
