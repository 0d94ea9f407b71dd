import { ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { Deployer, DesiredDeployment, ObservedDeployment, runtimeEnvironment } from '../deployer.port';

export interface LocalProcessDeployerOptions {
  logger: Logger;
  /** `RUNTIME_COMMAND`, split on spaces; unset runs the compiled sample runtime with this Node. */
  runtimeCommand?: string;
  /** `DEPLOY_EFFECT_LOG`: one JSON line per process started or stopped. */
  effectLogFile?: string;
  /**
   * Where each running generation leaves a pid file, so an installer that restarts after a crash
   * (its children still running) recognises them instead of starting a second copy.
   */
  stateDir?: string;
  /** A runtime that exits within this window after spawning counts as a failed start. */
  startupGraceMs?: number;
  /** SIGTERM, then SIGKILL after this long. */
  stopTimeoutMs?: number;
  /** Source of PATH for the children (the installation's config is all else they see). */
  baseEnv?: NodeJS.ProcessEnv;
}

export type EffectAction = 'start' | 'stop' | 'remove';

export interface EffectLine {
  installation_id: string;
  generation: number;
  action: EffectAction;
  at: string;
  pid: number;
}

/**
 * What the deployer leaves on disk per generation. Written twice around spawn() so that an
 * installer killed at any instant leaves enough for the next one to adopt the runtime instead of
 * starting a second copy: first as an intent (`pid: null`) before spawning, then with the pid, and
 * `effect_recorded` once the effect log holds the start line.
 */
interface PidFile {
  pid: number | null;
  start_time: string | null;
  command: string;
  effect_recorded?: boolean;
}

interface Runtime {
  installationId: string;
  generation: number;
  pid: number;
  command: string;
  /** Our own child; absent for a runtime adopted from a previous installer process. */
  child?: ChildProcess;
  exited: boolean;
  exitDescription?: string;
  stderrTail: string[];
  stopping: boolean;
  whenExited: Promise<void>;
}

const STDERR_TAIL_LINES = 20;

/**
 * Runs each installation's generation as a child process of the installer: the embedded default,
 * for a single machine and for tests. Generations are independent processes, so an upgrade starts
 * the new one beside the old, and the old one stops only when the installer retires it after the new
 * one has registered.
 */
export class LocalProcessDeployer implements Deployer {
  readonly kind = 'local-process';
  private readonly runtimes = new Map<string, Runtime>();
  private readonly starting = new Map<string, Promise<void>>();
  private readonly stateDir: string;
  private readonly logger: Logger;
  private closed = false;

  constructor(private readonly options: LocalProcessDeployerOptions) {
    this.logger = options.logger.child({ component: 'local-process-deployer' });
    this.stateDir = options.stateDir ?? path.join(tmpdir(), 'provider-store-runtimes');
  }

  async apply(desired: DesiredDeployment): Promise<void> {
    if (this.closed) throw new Error('local-process deployer is closed');
    const key = keyOf(desired.installationId, desired.generation);
    const inFlight = this.starting.get(key);
    if (inFlight) return inFlight;
    const start = this.ensureRunning(desired).finally(() => this.starting.delete(key));
    this.starting.set(key, start);
    return start;
  }

  async retire(installationId: string, keepGeneration: number): Promise<void> {
    this.adoptAll(installationId);
    const older = this.runtimesOf(installationId).filter((r) => r.generation < keepGeneration);
    await Promise.all(older.map((r) => this.stop(r, 'stop')));
  }

  async remove(installationId: string): Promise<void> {
    this.adoptAll(installationId);
    await Promise.all(this.runtimesOf(installationId).map((r) => this.stop(r, 'remove')));
  }

  async status(installationId: string): Promise<ObservedDeployment | undefined> {
    this.adoptAll(installationId);
    const newest = this.runtimesOf(installationId).sort((a, b) => b.generation - a.generation)[0];
    if (!newest) return undefined;
    const up = !newest.exited;
    return {
      deployment_name: `local-${installationId}-g${newest.generation}`,
      generation: newest.generation,
      status: up ? 'available' : 'failed',
      available_replicas: up ? 1 : 0,
      ready_replicas: up ? 1 : 0,
      image: newest.command,
      message: up ? null : `runtime ${newest.exitDescription ?? 'exited'}`,
    };
  }

  /** Pids of the generations running now, newest last: what tests inspect (`/proc/<pid>/environ`). */
  running(installationId: string): Array<{ generation: number; pid: number }> {
    return this.runtimesOf(installationId)
      .filter((r) => !r.exited)
      .sort((a, b) => a.generation - b.generation)
      .map((r) => ({ generation: r.generation, pid: r.pid }));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.starting.values()]);
    await Promise.all([...this.runtimes.values()].map((r) => this.stop(r, 'stop')));
  }

  private async ensureRunning(desired: DesiredDeployment): Promise<void> {
    const key = keyOf(desired.installationId, desired.generation);
    const known = this.runtimes.get(key) ?? this.adopt(desired.installationId, desired.generation);
    if (known && !known.exited) return;

    const [file, ...args] = this.command();
    const env: NodeJS.ProcessEnv = {
      PATH: (this.options.baseEnv ?? process.env).PATH ?? '/usr/local/bin:/usr/bin:/bin',
      ...desired.config,
      ...runtimeEnvironment(desired),
    };
    const command = [file, ...args].join(' ');
    // The intent, before the process exists: an installer killed between spawn() and the pid file
    // below leaves this, and the next one finds the runtime by its environment (adoptUnrecorded).
    this.writePidFile(desired.installationId, desired.generation, { pid: null, start_time: null, command });
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const runtime: Runtime = {
      installationId: desired.installationId,
      generation: desired.generation,
      pid: child.pid ?? -1,
      command,
      child,
      exited: false,
      stderrTail: [],
      stopping: false,
      whenExited: Promise.resolve(),
    };
    runtime.whenExited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        runtime.exited = true;
        runtime.exitDescription = signal ? `killed by ${signal}` : `exited with code ${code}`;
        if (this.runtimes.get(key) === runtime) this.runtimes.delete(key);
        this.forgetPidFile(runtime);
        if (!runtime.stopping) {
          this.logger.warn({ installationId: runtime.installationId, generation: runtime.generation, pid: runtime.pid }, `runtime ${runtime.exitDescription}`);
        }
        resolve();
      });
    });
    this.pipeOutput(runtime, child);
    // The pid is known as soon as spawn() returns: record the runtime (pid file, effect line) before
    // yielding to the event loop, so an installer killed at any later moment leaves a runtime that the
    // next installer adopts instead of an untracked one that a redelivered deploy would start again.
    if (child.pid !== undefined) {
      runtime.pid = child.pid;
      this.runtimes.set(key, runtime);
      this.recordStart(runtime);
    }

    await new Promise<void>((resolve, reject) => {
      let spawned = false;
      child.once('spawn', () => {
        spawned = true;
        resolve();
      });
      // Kept for the child's whole life: an unhandled 'error' (a failed kill) would end the installer.
      child.on('error', (error) => {
        if (!spawned) {
          this.forgetPidFile(runtime);
          reject(new Error(`cannot start runtime "${runtime.command}": ${error.message}`));
        }
        else this.logger.warn({ installationId: runtime.installationId, generation: runtime.generation, err: error.message }, 'runtime process error');
      });
    });
    if (!this.runtimes.has(key) && !runtime.exited) {
      runtime.pid = child.pid ?? -1;
      this.runtimes.set(key, runtime);
      this.recordStart(runtime);
    }
    this.logger.info({ installationId: runtime.installationId, generation: runtime.generation, pid: runtime.pid }, 'runtime started');

    const grace = this.options.startupGraceMs ?? 300;
    if (grace > 0) {
      await Promise.race([runtime.whenExited, sleep(grace)]);
      if (runtime.exited) {
        const tail = runtime.stderrTail.slice(-3).join(' | ');
        throw new Error(`runtime ${runtime.exitDescription} right after start${tail ? `: ${tail}` : ''}`);
      }
    }
  }

  private command(): string[] {
    const configured = this.options.runtimeCommand?.split(' ').filter(Boolean);
    if (configured && configured.length > 0) return configured;
    return [process.execPath, sampleRuntimePath()];
  }

  private pipeOutput(runtime: Runtime, child: ChildProcess): void {
    const fields = { installationId: runtime.installationId, generation: runtime.generation };
    if (child.stdout) {
      createInterface({ input: child.stdout }).on('line', (line) => this.logger.info({ ...fields, stream: 'stdout' }, line));
    }
    if (child.stderr) {
      createInterface({ input: child.stderr }).on('line', (line) => {
        runtime.stderrTail.push(line);
        if (runtime.stderrTail.length > STDERR_TAIL_LINES) runtime.stderrTail.shift();
        this.logger.warn({ ...fields, stream: 'stderr' }, line);
      });
    }
  }

  private async stop(runtime: Runtime, action: EffectAction): Promise<void> {
    if (runtime.exited || runtime.stopping) return runtime.whenExited;
    runtime.stopping = true;
    signal(runtime, 'SIGTERM');
    const killed = await Promise.race([runtime.whenExited.then(() => true), sleep(this.options.stopTimeoutMs ?? 5000).then(() => false)]);
    if (!killed) {
      signal(runtime, 'SIGKILL');
      await runtime.whenExited;
    }
    this.recordEffect(runtime, action);
    this.logger.info({ installationId: runtime.installationId, generation: runtime.generation, pid: runtime.pid, action }, 'runtime stopped');
  }

  private runtimesOf(installationId: string): Runtime[] {
    return [...this.runtimes.values()].filter((r) => r.installationId === installationId);
  }

  /**
   * An adopted runtime whose pid file is not marked: its installer died before or just after the
   * start line. Append the line only if the log lacks it, so the start counts exactly once.
   */
  private ensureStartRecorded(runtime: Runtime, saved: PidFile): void {
    const file = this.options.effectLogFile;
    if (file) {
      let logged = false;
      try {
        logged = readFileSync(file, 'utf8')
          .split('\n')
          .some((line) => {
            if (!line.includes(runtime.installationId)) return false;
            try {
              const effect = JSON.parse(line) as EffectLine;
              return effect.action === 'start' && effect.installation_id === runtime.installationId && effect.generation === runtime.generation && effect.pid === runtime.pid;
            } catch {
              return false;
            }
          });
      } catch {
        // no log yet
      }
      if (!logged) this.recordEffect(runtime, 'start');
    }
    this.writePidFile(runtime.installationId, runtime.generation, { ...saved, effect_recorded: true });
  }

  private recordEffect(runtime: Runtime, action: EffectAction): void {
    const file = this.options.effectLogFile;
    if (!file) return;
    const line: EffectLine = {
      installation_id: runtime.installationId,
      generation: runtime.generation,
      action,
      at: new Date().toISOString(),
      pid: runtime.pid,
    };
    // One write of one short line to a file opened for append: lines from several installer
    // processes interleave whole.
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  }

  private pidFilePath(installationId: string, generation: number): string {
    return path.join(this.stateDir, `${installationId}.g${generation}.json`);
  }

  /**
   * Pid file, then the start line, then the pid file marked: killed between the first two, the next
   * installer adopts the runtime and writes the missing start line (once, see ensureStartRecorded).
   */
  private recordStart(runtime: Runtime): void {
    const saved: PidFile = { pid: runtime.pid, start_time: processStartTime(runtime.pid), command: runtime.command };
    this.writePidFile(runtime.installationId, runtime.generation, saved);
    this.recordEffect(runtime, 'start');
    this.writePidFile(runtime.installationId, runtime.generation, { ...saved, effect_recorded: true });
  }

  private writePidFile(installationId: string, generation: number, content: PidFile): void {
    try {
      mkdirSync(this.stateDir, { recursive: true });
      // Written beside and renamed over: a reader never sees half a file.
      const file = this.pidFilePath(installationId, generation);
      writeFileSync(`${file}.tmp`, JSON.stringify(content));
      renameSync(`${file}.tmp`, file);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'cannot write runtime pid file');
    }
  }

  private forgetPidFile(runtime: Runtime): void {
    rmSync(this.pidFilePath(runtime.installationId, runtime.generation), { force: true });
  }

  /** Picks up every generation of the installation a previous installer process left running. */
  private adoptAll(installationId: string): void {
    let names: string[];
    try {
      names = readdirSync(this.stateDir);
    } catch {
      return;
    }
    const pattern = new RegExp(`^${escapeRegExp(installationId)}\\.g(\\d+)\\.json$`);
    for (const name of names) {
      const match = pattern.exec(name);
      if (match) this.adopt(installationId, Number(match[1]));
    }
  }

  private adopt(installationId: string, generation: number): Runtime | undefined {
    const key = keyOf(installationId, generation);
    const known = this.runtimes.get(key);
    if (known) return known;
    const file = this.pidFilePath(installationId, generation);
    if (!existsSync(file)) return undefined;
    let saved: PidFile;
    try {
      saved = JSON.parse(readFileSync(file, 'utf8')) as PidFile;
    } catch {
      rmSync(file, { force: true });
      return undefined;
    }
    if (saved.pid === null) {
      // Only the intent: the previous installer died around spawn(). The runtime, if it was
      // started, carries its installation and generation in its environment.
      const found = findRuntimeByEnvironment(installationId, generation);
      if (found === undefined) {
        rmSync(file, { force: true });
        return undefined;
      }
      saved = { pid: found, start_time: processStartTime(found), command: saved.command };
      this.writePidFile(installationId, generation, saved);
    }
    const pid: number = saved.pid ?? -1;
    // A pid is only the same process if it also started at the same moment (pids are reused).
    if (!isAlive(pid) || (saved.start_time !== null && processStartTime(pid) !== saved.start_time)) {
      rmSync(file, { force: true });
      return undefined;
    }
    const runtime: Runtime = {
      installationId,
      generation,
      pid,
      command: saved.command,
      exited: false,
      stderrTail: [],
      stopping: false,
      whenExited: Promise.resolve(),
    };
    runtime.whenExited = (async () => {
      while (isAlive(runtime.pid)) await sleep(100);
      runtime.exited = true;
      runtime.exitDescription = 'exited';
      if (this.runtimes.get(key) === runtime) this.runtimes.delete(key);
      this.forgetPidFile(runtime);
    })();
    this.runtimes.set(key, runtime);
    if (!saved.effect_recorded) this.ensureStartRecorded(runtime, saved);
    this.logger.info({ installationId, generation, pid: saved.pid }, 'adopted a runtime left running by a previous installer');
    return runtime;
  }
}

/**
 * Pid of a live runtime started for this installation and generation, found through
 * /proc/<pid>/environ (Linux: the local-process deployer's platform). Our own runtimes only: the
 * environment is readable for processes of this user.
 */
function findRuntimeByEnvironment(installationId: string, generation: number): number | undefined {
  const wanted = [`PROVIDER_STORE_INSTALLATION_ID=${installationId}`, `PROVIDER_STORE_GENERATION=${generation}`];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let environ: string[];
    try {
      environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (wanted.every((v) => environ.includes(v)) && isAlive(pid)) return pid;
  }
  return undefined;
}

/** The compiled sample runtime beside this file in dist/, or in dist/ when running from sources (tests). */
export function sampleRuntimePath(): string {
  const sibling = path.resolve(__dirname, '../sample-runtime/main.js');
  if (existsSync(sibling)) return sibling;
  return path.resolve(__dirname, '../../../dist/apps/installer/sample-runtime/main.js');
}

function keyOf(installationId: string, generation: number): string {
  return `${installationId}#${generation}`;
}

function signal(runtime: Runtime, name: NodeJS.Signals): void {
  try {
    if (runtime.child) runtime.child.kill(name);
    else process.kill(runtime.pid, name);
  } catch {
    // Already gone.
  }
}

function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie answers signal 0 but is no runtime any more.
  const stat = readStat(pid);
  return stat === undefined || stat.state !== 'Z';
}

function processStartTime(pid: number): string | null {
  return readStat(pid)?.startTime ?? null;
}

/** Linux /proc/<pid>/stat: the state (field 3) and the start time in clock ticks (field 22). */
function readStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: split after its last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], startTime: fields[19] };
  } catch {
    return undefined;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
