import { ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Pool } from 'pg';
import { INSTALLER_EVENT_TYPES } from '../../../apps/installer/installer.consumer';
import { PROJECTIONS } from '../../../projections/projections';

/*
 * Support for the reliability tests: the compiled apps (dist/) run as real OS processes, are killed
 * with real signals and restarted; HTTP goes through fetch with a deadline so a hang is a failure.
 */

export const ROOT = path.resolve(__dirname, '..', '..', '..');
const DIST = path.join(ROOT, 'dist');

export type AppName = 'api' | 'installer' | 'projections';

export interface AppProcess {
  readonly label: string;
  readonly app: AppName;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<void>;
  alive(): boolean;
  kill(signal: NodeJS.Signals): void;
  log(): string;
}

export function assertBuilt(): void {
  for (const app of ['api', 'installer', 'projections', 'cli'] as const) {
    const file = path.join(DIST, 'apps', app, 'main.js');
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run -s build\` first (npm test does)`);
  }
}

export function spawnApp(app: AppName, label: string, env: Record<string, string>, logDir: string): AppProcess {
  const logFile = path.join(logDir, `${label}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [path.join(DIST, 'apps', app, 'main.js')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let done = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      done = true;
      resolve();
    });
  });
  child.on('error', () => undefined);
  return {
    label,
    app,
    child,
    pid: child.pid ?? -1,
    logFile,
    exited,
    alive: () => !done,
    kill: (signal) => {
      if (!done) child.kill(signal);
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
}

/** SIGKILLs the process and waits until the OS has reaped it. */
export async function killHard(proc: AppProcess): Promise<void> {
  proc.kill('SIGKILL');
  await withTimeout(proc.exited, 10_000, `${proc.label} did not die on SIGKILL`);
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` answers true (or a value), failing after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | false | undefined | null>, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await sleep(everyMs);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface HttpResult {
  /** 0: no answer (connection refused or reset: the API process was down). -1: no answer within the deadline. */
  status: number;
  headers: Headers | undefined;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON of the route called
  ms: number;
  error?: string;
}

export async function http(baseUrl: string, method: string, route: string, options: { key?: string; body?: unknown; timeoutMs?: number } = {}): Promise<HttpResult> {
  const headers: Record<string, string> = {};
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const started = Date.now();
  try {
    const response = await fetch(`${baseUrl}${route}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    return { status: response.status, headers: response.headers, body, ms: Date.now() - started };
  } catch (error) {
    const name = (error as Error).name;
    const timedOut = name === 'TimeoutError' || name === 'AbortError';
    return { status: timedOut ? -1 : 0, headers: undefined, body: undefined, ms: Date.now() - started, error: String((error as Error).message ?? error) };
  }
}

export async function waitForApi(baseUrl: string, timeoutMs = 60_000): Promise<void> {
  await waitFor('the API to answer /health/ready', async () => (await http(baseUrl, 'GET', '/health/ready', { timeoutMs: 3000 })).status === 200, timeoutMs, 150);
}

export function runCli(args: string[], databaseUrl: string, timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(DIST, 'apps', 'cli', 'main.js'), ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export async function createKeyWithCli(databaseUrl: string, org: string): Promise<string> {
  const result = await runCli(['keys', 'create', '--org', org, '--scopes', 'publish,install,read', '--json'], databaseUrl);
  if (result.code !== 0) throw new Error(`keys create failed (${result.code}): ${result.stderr}`);
  return (JSON.parse(result.stdout) as { key: string }).key;
}

/** `projections verify all --json`: exit 0 and no difference, or the output for the failure message. */
export async function verifyAll(databaseUrl: string): Promise<{ ok: boolean; output: string }> {
  const result = await runCli(['projections', 'verify', 'all', '--json'], databaseUrl, 90_000);
  return { ok: result.code === 0, output: `${result.stdout}\n${result.stderr}`.trim() };
}

// ---------------------------------------------------------------- acknowledged commands vs the log

export interface Acknowledged {
  what: string;
  status: number;
  etag: string | null;
  position: string | null;
}

export function acknowledgement(what: string, result: HttpResult): Acknowledged {
  return { what, status: result.status, etag: result.headers?.get('etag') ?? null, position: result.headers?.get('x-position') ?? null };
}

/** Acknowledged commands whose X-Position (with the ETag's stream revision) is not in es_events. */
export async function lostAcknowledgements(pool: Pool, acks: Acknowledged[]): Promise<Acknowledged[]> {
  const lost: Acknowledged[] = [];
  for (const ack of acks) {
    const match = /^(\d+):(\d+)$/.exec(ack.position ?? '');
    if (!match) {
      lost.push(ack);
      continue;
    }
    const revision = ack.etag ? Number(ack.etag.replace(/^W\//, '').replace(/"/g, '')) : undefined;
    const { rows } = await pool.query<{ stream_revision: string }>(
      'SELECT stream_revision FROM es_events WHERE transaction_id = $1::text::xid8 AND global_position = $2',
      [match[1], match[2]],
    );
    if (rows.length === 0 || (revision !== undefined && Number.isFinite(revision) && Number(rows[0].stream_revision) !== revision)) lost.push(ack);
  }
  return lost;
}

/** Events recorded twice for one decision: the same deploy generation started, or the same uninstall completed, more than once. */
export async function duplicatedEvents(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT coalesce(sum(n - 1), 0) AS n FROM (
       SELECT count(*) AS n FROM es_events
        WHERE event_type IN ('DeployStarted', 'Uninstalled')
        GROUP BY stream_name, event_type, data->>'generation' HAVING count(*) > 1) d`,
  );
  return Number(rows[0].n);
}

export async function eventCount(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM es_events');
  return Number(rows[0].n);
}

// ---------------------------------------------------------------- checkpoints

export const PROJECTION_CONSUMERS: Array<{ name: string; eventTypes: readonly string[] }> = PROJECTIONS.map((p) => ({ name: p.name, eventTypes: p.eventTypes }));
export const INSTALLER_CONSUMER_SPEC = { name: 'installer', eventTypes: INSTALLER_EVENT_TYPES as readonly string[] };

/** Consumers whose checkpoint is behind the newest event they subscribe to. */
export async function laggingConsumers(pool: Pool, consumers: Array<{ name: string; eventTypes: readonly string[] }>): Promise<string[]> {
  const lagging: string[] = [];
  for (const consumer of consumers) {
    const { rows } = await pool.query<{ behind: boolean }>(
      `WITH head AS (
         SELECT transaction_id::text::numeric AS c, global_position AS p FROM es_events
          WHERE event_type = ANY($2) ORDER BY transaction_id DESC, global_position DESC LIMIT 1)
       SELECT NOT EXISTS (
         SELECT 1 FROM es_checkpoints k, head h
          WHERE k.consumer = $1 AND (k.commit_position::numeric, k.prepare_position) >= (h.c, h.p)) AS behind
         FROM head`,
      [consumer.name, consumer.eventTypes],
    );
    if (rows[0]?.behind) lagging.push(consumer.name);
  }
  return lagging;
}

/** The consumer's checkpoint has reached the given wire position. */
export async function checkpointReached(pool: Pool, consumer: string, position: string): Promise<boolean> {
  const [commit, prepare] = position.split(':');
  const { rows } = await pool.query<{ ok: boolean }>(
    `SELECT (commit_position::numeric, prepare_position) >= ($2::numeric, $3::bigint) AS ok FROM es_checkpoints WHERE consumer = $1`,
    [consumer, commit, prepare],
  );
  return rows[0]?.ok === true;
}

// ---------------------------------------------------------------- deploy effects

export interface Effect {
  installation_id: string;
  generation: number;
  action: 'start' | 'stop' | 'remove';
  at: string;
  pid: number;
}

export function readEffects(file: string): Effect[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Effect);
}

/** (installation, generation) pairs started more than once: each extra start is a duplicated effect. */
export function duplicatedStarts(effects: Effect[]): Array<{ key: string; starts: number }> {
  const starts = new Map<string, number>();
  for (const e of effects) if (e.action === 'start') starts.set(`${e.installation_id}#${e.generation}`, (starts.get(`${e.installation_id}#${e.generation}`) ?? 0) + 1);
  return [...starts].filter(([, n]) => n > 1).map(([key, n]) => ({ key, starts: n }));
}

/** Pids of the sample runtimes alive now that call back to this store URL (each test has its own port). */
export function liveRuntimes(storeUrl: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('sample-runtime')) continue;
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      if (environ.includes(`PROVIDER_STORE_URL=${storeUrl}\0`) && state !== 'Z') pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** Runtimes alive that no 'start' effect accounts for: started behind the effect log's back. */
export async function installationIds(pool: Pool): Promise<Set<string>> {
  const { rows } = await pool.query<{ id: string }>(`SELECT DISTINCT data->>'installation_id' AS id FROM es_events WHERE event_type = 'InstallRequested'`);
  return new Set(rows.map((r) => r.id));
}

function installationOf(pid: number): string | undefined {
  try {
    return /PROVIDER_STORE_INSTALLATION_ID=([^\0]*)/.exec(readFileSync(`/proc/${pid}/environ`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

export async function untrackedRuntimes(pool: Pool, storeUrl: string, effects: Effect[]): Promise<string[]> {
  const started = new Set(effects.filter((e) => e.action === 'start').map((e) => e.pid));
  // Only this database's installations: a runtime another test left behind may call back to a port
  // that has since been handed to this test.
  const ours = await installationIds(pool);
  const untracked: string[] = [];
  for (const pid of liveRuntimes(storeUrl)) {
    if (started.has(pid)) continue;
    let env = '';
    try {
      env = readFileSync(`/proc/${pid}/environ`, 'utf8');
    } catch {
      continue;
    }
    const get = (name: string) => new RegExp(`${name}=([^\\0]*)`).exec(env)?.[1] ?? '?';
    const id = get('PROVIDER_STORE_INSTALLATION_ID');
    if (!ours.has(id)) continue;
    const generation = get('PROVIDER_STORE_GENERATION');
    const lines = effects.filter((e) => e.installation_id === id && String(e.generation) === generation);
    untracked.push(`pid ${pid} installation ${id} generation ${generation}; effects of that generation: ${JSON.stringify(lines)}`);
  }
  return untracked;
}

/** Kills every runtime the effect log names (the installer's children outlive a SIGKILLed installer) and forgets their pid files. */
export function killRuntimes(effects: Effect[], storeUrl?: string, installations: Set<string> = new Set()): number {
  let killed = 0;
  const ours = new Set([...installations, ...effects.map((e) => e.installation_id)]);
  for (const pid of storeUrl ? liveRuntimes(storeUrl) : []) {
    const id = installationOf(pid);
    if (!id || !ours.has(id)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // gone already
    }
  }
  for (const e of effects) {
    if (e.action !== 'start' || e.pid <= 0) continue;
    // A pid is reused once its process is gone: only kill what is still this installation's runtime.
    let environ = '';
    try {
      environ = readFileSync(`/proc/${e.pid}/environ`, 'utf8');
    } catch {
      continue;
    }
    if (!environ.includes(`PROVIDER_STORE_INSTALLATION_ID=${e.installation_id}\0`)) continue;
    try {
      process.kill(e.pid, 'SIGKILL');
      killed++;
    } catch {
      // gone already
    }
  }
  const stateDir = path.join(tmpdir(), 'provider-store-runtimes');
  const ids = new Set(effects.map((e) => e.installation_id));
  try {
    for (const name of readdirSync(stateDir)) {
      const id = name.replace(/\.g\d+\.json$/, '');
      if (ids.has(id)) rmSync(path.join(stateDir, name), { force: true });
    }
  } catch {
    // no state dir
  }
  return killed;
}

/** A seeded PRNG (mulberry32) so a failing run can be repeated with RELIABILITY_SEED. */
export function prng(seed: number): () => number {
  let a = (seed ^ 0x9e3779b9) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function report(title: string, figures: Record<string, unknown>): void {
  process.stdout.write(`\n[reliability] ${title}: ${Object.entries(figures).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ')}\n`);
}
