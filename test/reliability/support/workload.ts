import { Acknowledged, HttpResult, acknowledgement, http, sleep } from './cluster';

/**
 * A steady mix of publish / install / upgrade / downgrade / uninstall commands from a few concurrent
 * clients. Every 2xx is remembered with its ETag and X-Position so the test can look each one up in
 * the log afterwards; the other outcomes are only counted.
 */
export interface WorkloadFigures {
  requests: number;
  acknowledged: number;
  rejected4xx: number;
  status5xx: number;
  status500: number;
  unanswered: number;
  timedOut: number;
  byStatus: Record<string, number>;
}

export interface WorkloadOptions {
  baseUrl: () => string;
  publisher: { org: string; key: string };
  tenants: Array<{ org: string; key: string }>;
  providers: string[];
  random: () => number;
  clients?: number;
  requestTimeoutMs?: number;
  /** Pause between two commands of one client. */
  thinkMs?: number;
  /** Called for every answer (or failure to answer), e.g. to check 503s carry Retry-After. */
  observe?: (what: string, result: HttpResult) => void;
}

export class Workload {
  readonly acks: Acknowledged[] = [];
  readonly figures: WorkloadFigures = { requests: 0, acknowledged: 0, rejected4xx: 0, status5xx: 0, status500: 0, unanswered: 0, timedOut: 0, byStatus: {} };
  private running = false;
  private loops: Promise<void>[] = [];
  private nextPatch = new Map<string, number>();

  constructor(private readonly options: WorkloadOptions) {}

  /** Publishes 1.0.0, 1.1.0 and 2.0.0 of every provider (must succeed: the cluster is healthy). */
  async seed(): Promise<void> {
    for (const provider of this.options.providers) {
      for (const version of ['1.0.0', '1.1.0', '2.0.0']) {
        const result = await this.send(`publish ${provider}@${version}`, 'POST', '/provider-versions', this.options.publisher.key, publishBody(provider, version));
        if (result.status !== 201) throw new Error(`seeding ${provider}@${version} answered ${result.status}: ${JSON.stringify(result.body)}`);
      }
    }
  }

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.options.clients ?? 3 }, () => this.loop());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const result = await this.step();
      // Nobody listening (the API is being restarted): do not spin.
      await sleep(result.status === 0 ? 200 : (this.options.thinkMs ?? 20));
    }
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.options.random() * items.length)];
  }

  async step(): Promise<HttpResult> {
    const r = this.options.random();
    const provider = this.pick(this.options.providers);
    if (r < 0.12) {
      const patch = (this.nextPatch.get(provider) ?? 0) + 1;
      this.nextPatch.set(provider, patch);
      const version = `2.0.${patch}`;
      return this.send(`publish ${provider}@${version}`, 'POST', '/provider-versions', this.options.publisher.key, publishBody(provider, version));
    }
    const tenant = this.pick(this.options.tenants);
    const route = `/providers/installed/${provider}`;
    if (r < 0.35) {
      const version = this.pick(['1.0.0', '1.1.0', undefined]);
      return this.send(`install ${tenant.org}:${provider}`, 'POST', '/providers/install', tenant.key, {
        provider_name: provider,
        ...(version ? { version } : {}),
        upgrade_policy: 'manual',
        config: { REGION: 'eu-west-1' },
      });
    }
    if (r < 0.6) {
      return this.send(`upgrade ${tenant.org}:${provider}`, 'POST', `${route}/upgrade`, tenant.key, this.options.random() < 0.5 ? { version: '2.0.0' } : {});
    }
    if (r < 0.8) {
      return this.send(`downgrade ${tenant.org}:${provider}`, 'POST', `${route}/downgrade`, tenant.key, { target_version: this.pick(['1.0.0', '1.1.0']) });
    }
    return this.send(`uninstall ${tenant.org}:${provider}`, 'DELETE', route, tenant.key, undefined);
  }

  private async send(what: string, method: string, route: string, key: string, body: unknown): Promise<HttpResult> {
    const result = await http(this.options.baseUrl(), method, route, { key, body, timeoutMs: this.options.requestTimeoutMs ?? 15_000 });
    const f = this.figures;
    f.requests++;
    const label = result.status === 0 ? 'no_answer' : result.status === -1 ? 'timeout' : String(result.status);
    f.byStatus[label] = (f.byStatus[label] ?? 0) + 1;
    if (result.status >= 200 && result.status < 300) {
      f.acknowledged++;
      this.acks.push(acknowledgement(what, result));
    } else if (result.status >= 400 && result.status < 500) f.rejected4xx++;
    else if (result.status >= 500) {
      f.status5xx++;
      if (result.status === 500) f.status500++;
    } else if (result.status === 0) f.unanswered++;
    else f.timedOut++;
    this.options.observe?.(what, result);
    return result;
  }
}

function publishBody(provider: string, version: string): Record<string, unknown> {
  const [prefix, name] = provider.split('/');
  return { name: provider, version, wheel_url: `https://files.example.com/${prefix}_${name}-${version}-py3-none-any.whl` };
}
