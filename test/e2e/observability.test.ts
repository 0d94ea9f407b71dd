import { SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { Deployer, DesiredDeployment, ObservedDeployment } from '../../apps/installer/deployer.port';
import { RunningInstaller, startInstaller } from '../../apps/installer/installer';
import { ObservedProcess, observeProcess } from '../../libs/observability/observe-process';
import { TestApp, startTestApp } from '../support/test-app';

/*
 * Every process observable: one trace from `POST /providers/install` to the deployer's apply (HTTP →
 * append → installer batch → deploy, carried across the log by `trace_context` in event metadata),
 * request ids echoed, and the health/metrics endpoints a worker process serves on HEALTH_PORT.
 */

jest.setTimeout(60_000);

/** A deployer that only records what it was asked to apply. */
class RecordingDeployer implements Deployer {
  readonly kind = 'recording';
  readonly applied: DesiredDeployment[] = [];
  async apply(desired: DesiredDeployment): Promise<void> {
    this.applied.push(desired);
  }
  async retire(): Promise<void> {}
  async stopGeneration(): Promise<void> {}
  async remove(): Promise<void> {}
  async status(): Promise<ObservedDeployment | undefined> {
    return undefined;
  }
  async close(): Promise<void> {}
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('observability', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let t: TestApp;
  let installer: RunningInstaller;
  let observed: ObservedProcess;
  const deployer = new RecordingDeployer();
  let key: string;

  beforeAll(async () => {
    provider.register();
    t = await startTestApp();
    installer = await startInstaller(t.infrastructure, { deployer, storeUrl: t.baseUrl });
    observed = await observeProcess({ ...t.infrastructure, config: { ...t.infrastructure.config, host: '127.0.0.1', healthPort: 0 } }, [installer.runner]);
    key = await t.createKey('acme', ['publish', 'install', 'read']);
  });

  afterAll(async () => {
    await observed?.stop();
    await installer?.stop();
    await t?.close();
    await provider.shutdown();
    trace.disable();
  });

  it('one trace runs from POST /providers/install through the append and the installer batch to the deploy', async () => {
    const published = await t.request('POST', '/provider-versions', {
      key,
      body: { name: 'acme/traced', version: '1.0.0', wheel_url: 'https://files.example.com/acme_traced-1.0.0-py3-none-any.whl' },
    });
    expect(published.status).toBe(201);
    exporter.reset();

    const install = await t.request('POST', '/providers/install', { key, body: { provider_name: 'acme/traced', version: '1.0.0' } });
    expect(install.status).toBe(201);
    const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
    // The batch span ends after the deploy it contains (and after the installer's own appends).
    await waitFor('the deploy and the batch around it', () => {
      const deploy = spans().find((s) => s.name === 'deploy apply');
      return spans().some((s) => s.name === 'consume installer' && s.spanContext().spanId === deploy?.parentSpanContext?.spanId);
    });

    const request = spans().find((s) => s.name === 'POST /providers/install');
    expect(request?.kind).toBe(SpanKind.SERVER);
    const traceId = request?.spanContext().traceId;
    const inTrace = spans().filter((s) => s.spanContext().traceId === traceId);
    const deploy = inTrace.find((s) => s.name === 'deploy apply');
    const batch = inTrace.find((s) => s.name === 'consume installer');
    const append = inTrace.find((s) => s.name === 'event-store append');
    expect(deploy).toBeDefined();
    expect(batch?.kind).toBe(SpanKind.CONSUMER);
    expect(append).toBeDefined();
    // The deploy is the batch's child, the batch continues the request's span (via the event's metadata).
    expect(deploy?.parentSpanContext?.spanId).toBe(batch?.spanContext().spanId);
    expect(batch?.parentSpanContext?.spanId).toBe(request?.spanContext().spanId);
    expect(append?.parentSpanContext?.spanId).toBe(request?.spanContext().spanId);
    expect(deployer.applied.map((d) => d.version)).toEqual(['1.0.0']);
  });

  it('the installation event carries the trace context of the request', async () => {
    const events = await t.infrastructure.eventStore.readAll({ filter: { eventTypes: ['InstallRequested'] } });
    const traced = events.at(-1)?.metadata.trace_context;
    expect(traced).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('echoes a well-formed X-Request-Id, replaces a malformed one, and makes one when none is sent', async () => {
    const given = await t.request('GET', '/health', { headers: { 'x-request-id': 'req-123.abc' } });
    expect(given.headers.get('x-request-id')).toBe('req-123.abc');
    const forged = await t.request('GET', '/health', { headers: { 'x-request-id': 'bad id\twith "quotes"' } });
    expect(forged.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const none = await t.request('GET', '/health');
    expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a worker process serves /health/live, /health/ready and /metrics on its health port', async () => {
    const base = `http://127.0.0.1:${observed.health?.port}`;
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    await waitFor('the installer to be active', () => installer.runner.isActive);
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ok', details: { subscriptions: { status: 'up', consumers: { installer: 'active' } } } });

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^provider_store_consumer_active\{consumer="installer"\} 1$/m);
    expect(metrics).toMatch(/^provider_store_consumer_lag_events\{consumer="installer"\} \d+$/m);
    expect(metrics).toMatch(/^provider_store_consumer_lag_seconds\{consumer="installer"\} [\d.e-]+$/m);
    expect(metrics).toMatch(/^provider_store_consumer_checkpoint_position\{consumer="installer"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^provider_store_log_head_position [1-9]\d*$/m);
    expect(metrics).toMatch(/^provider_store_deploys_total\{deployer="recording",outcome="succeeded"\} [1-9]/m);
    expect(metrics).toMatch(/^provider_store_deploy_duration_seconds_count\{deployer="recording",outcome="succeeded"\} [1-9]/m);
    expect(metrics).toMatch(/^provider_store_installations\{state="[a-z_]+",health="[a-z_]+"\} 1$/m);
    expect(metrics).toMatch(/^provider_store_http_request_duration_seconds_count\{method="POST",route="\/providers\/install",status="201"\} 1$/m);
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
  });

});
