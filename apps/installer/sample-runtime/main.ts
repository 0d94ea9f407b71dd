import { createServer } from 'node:http';

/**
 * The smallest real runtime: what a provider's runtime does towards the platform, without running a
 * provider. It registers its generation with the registration token it was handed, retrying until the
 * platform answers 2xx, then sends heartbeats until it is told to stop.
 *
 * Env: PROVIDER_STORE_URL, PROVIDER_STORE_INSTALLATION_ID, PROVIDER_STORE_GENERATION,
 * PROVIDER_STORE_REGISTRATION_TOKEN, PROVIDER_STORE_VERSION; PROVIDER_STORE_HEARTBEAT_INTERVAL_MS (default
 * 2000), set by the installer (RUNTIME_HEARTBEAT_INTERVAL_MS), never by the tenant's config.
 * When PROVIDER_WHEEL_URL points at the store's `/artifacts/` (an uploaded wheel), the runtime
 * downloads it with its token, checks PROVIDER_WHEEL_SHA256 before registering and reports the
 * wheel's METADATA Name and Version in its registration.
 */
import { LoadedWheel, WheelDigestMismatch, WheelSource, fetchStoredWheel, isStoredWheel } from './stored-wheel';

interface RuntimeSettings {
  storeUrl: string;
  installationId: string;
  generation: number;
  token: string;
  version: string;
  heartbeatIntervalMs: number;
  wheel: WheelSource | undefined;
}

const REGISTRATION_BACKOFF_START_MS = 200;
const REGISTRATION_BACKOFF_MAX_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;

let stopping = false;
let wake: (() => void) | undefined;
/** Aborts a request in flight when the runtime is told to stop. */
const stopSignal = new AbortController();

function write(level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown> = {}): void {
  const stream = level === 'info' ? process.stdout : process.stderr;
  stream.write(`${JSON.stringify({ level, msg: message, ...fields, time: new Date().toISOString() })}\n`);
}

function readSettings(env: NodeJS.ProcessEnv): RuntimeSettings {
  const missing = ['PROVIDER_STORE_URL', 'PROVIDER_STORE_INSTALLATION_ID', 'PROVIDER_STORE_GENERATION', 'PROVIDER_STORE_REGISTRATION_TOKEN', 'PROVIDER_STORE_VERSION'].filter(
    (name) => !env[name],
  );
  if (missing.length > 0) throw new Error(`missing environment: ${missing.join(', ')}`);
  const generation = Number(env.PROVIDER_STORE_GENERATION);
  if (!Number.isInteger(generation) || generation < 1) throw new Error(`PROVIDER_STORE_GENERATION="${env.PROVIDER_STORE_GENERATION}" is not a generation`);
  const interval = Number(env.PROVIDER_STORE_HEARTBEAT_INTERVAL_MS || 2000);
  if (!Number.isFinite(interval) || interval < 10) {
    throw new Error(`PROVIDER_STORE_HEARTBEAT_INTERVAL_MS="${env.PROVIDER_STORE_HEARTBEAT_INTERVAL_MS}" must be a number of milliseconds >= 10`);
  }
  return {
    storeUrl: (env.PROVIDER_STORE_URL as string).replace(/\/+$/, ''),
    installationId: env.PROVIDER_STORE_INSTALLATION_ID as string,
    generation,
    token: env.PROVIDER_STORE_REGISTRATION_TOKEN as string,
    version: env.PROVIDER_STORE_VERSION as string,
    heartbeatIntervalMs: interval,
    wheel: env.PROVIDER_WHEEL_URL ? { url: env.PROVIDER_WHEEL_URL, sha256: env.PROVIDER_WHEEL_SHA256 ?? '' } : undefined,
  };
}

/** Waits, but a SIGTERM ends the wait at once. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      wake = undefined;
      resolve();
    }
    wake = done;
  });
}

async function post(settings: RuntimeSettings, path: string, body: Record<string, unknown>): Promise<number> {
  const response = await fetch(`${settings.storeUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${settings.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.any([AbortSignal.timeout(REQUEST_TIMEOUT_MS), stopSignal.signal]),
  });
  await response.arrayBuffer().catch(() => undefined);
  return response.status;
}

/** The uploaded wheel, downloaded and verified; retried while the store is unreachable, never past a wrong digest. */
async function loadWheel(settings: RuntimeSettings): Promise<LoadedWheel | undefined> {
  if (!isStoredWheel(settings.wheel, settings.storeUrl)) return undefined;
  let delay = REGISTRATION_BACKOFF_START_MS;
  while (!stopping) {
    try {
      const wheel = await fetchStoredWheel(settings.wheel, settings, AbortSignal.any([AbortSignal.timeout(REQUEST_TIMEOUT_MS * 6), stopSignal.signal]));
      write('info', 'wheel downloaded and verified', { wheel_name: wheel.name, wheel_version: wheel.version });
      return wheel;
    } catch (error) {
      if (error instanceof WheelDigestMismatch || stopping) throw error;
      write('warn', 'wheel download failed; retrying', { error: (error as Error).message, retry_in_ms: delay });
    }
    await pause(delay);
    delay = Math.min(delay * 2, REGISTRATION_BACKOFF_MAX_MS);
  }
  return undefined;
}

async function register(settings: RuntimeSettings, wheel: LoadedWheel | undefined): Promise<boolean> {
  let delay = REGISTRATION_BACKOFF_START_MS;
  const body = {
    installation_id: settings.installationId,
    generation: settings.generation,
    version: settings.version,
    endpoint: null,
    ...(wheel ? { wheel_name: wheel.name, wheel_version: wheel.version } : {}),
  };
  while (!stopping) {
    try {
      const status = await post(settings, '/runtime/registrations', body);
      if (status >= 200 && status < 300) {
        write('info', 'registered', { generation: settings.generation, version: settings.version });
        return true;
      }
      write('warn', 'registration refused; retrying', { status, retry_in_ms: delay });
    } catch (error) {
      if (stopping) break;
      write('warn', 'registration failed; retrying', { error: (error as Error).message, retry_in_ms: delay });
    }
    await pause(delay);
    delay = Math.min(delay * 2, REGISTRATION_BACKOFF_MAX_MS);
  }
  return false;
}

async function heartbeat(settings: RuntimeSettings): Promise<void> {
  const body = { installation_id: settings.installationId, generation: settings.generation, status: 'healthy' };
  while (!stopping) {
    await pause(settings.heartbeatIntervalMs);
    if (stopping) break;
    try {
      const status = await post(settings, '/runtime/heartbeats', body);
      if (status < 200 || status >= 300) write('warn', 'heartbeat refused', { status });
    } catch (error) {
      if (stopping) break;
      write('warn', 'heartbeat failed', { error: (error as Error).message });
    }
  }
}

/**
 * `GET /healthz` on PROVIDER_STORE_HEALTH_PORT (set on Kubernetes, where the pod's probes ask it;
 * unset locally, where many runtimes share one machine). Answers 200 while the runtime runs.
 */
function serveHealth(port: string | undefined): void {
  if (!port) return;
  createServer((request, response) => {
    response.writeHead(request.url === '/healthz' ? 200 : 404, { 'content-type': 'text/plain' }).end(request.url === '/healthz' ? 'ok' : '');
  })
    .on('error', (error) => write('error', 'health endpoint failed', { err: error.message }))
    .listen(Number(port))
    .unref();
}

async function main(): Promise<void> {
  // The installer that started this runtime may die while the runtime runs on (it is adopted by the
  // next one): writing to its closed pipes must not end the runtime.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  const settings = readSettings(process.env);
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    write('info', 'stopping', { signal });
    stopSignal.abort();
    wake?.();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  write('info', 'runtime starting', { installation_id: settings.installationId, generation: settings.generation, version: settings.version });
  serveHealth(process.env.PROVIDER_STORE_HEALTH_PORT);
  const wheel = await loadWheel(settings);
  if (stopping) return;
  if (await register(settings, wheel)) await heartbeat(settings);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    write('error', error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
