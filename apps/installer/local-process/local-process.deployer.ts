import { deploymentImageOf, localGenerationName } from '../../../libs/installations/deployment-name';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { defaultRuntimeDir } from '../../../libs/config/app-config';
import { DEFAULT_RUNTIME_SETTINGS, Deployer, DesiredDeployment, ObservedDeployment, RuntimeSettings } from '../deployer.port';
import { EffectAction, EffectLog } from './effect-log';
import { pidsOfUid, processStartTime } from './proc';
import { adoptRuntime } from './runtime-adoption';
import { RUNTIME_PATH, buildRuntimeEnvironment } from './runtime-environment';
import { describeSpawnFailure } from './runtime-failure';
import { LaunchPlan, Runtime, launch, signal, sleep, spawned } from './runtime-process';
import { RuntimeSandbox, reachableByOthers } from './runtime-sandbox';
import { PidFiles } from './runtime-state';

export type { EffectAction, EffectLine } from './effect-log';

export interface LocalProcessDeployerOptions {
  logger: Logger;
  /** `RUNTIME_DIR`: the instance's runtime folder (pid files, uid claims, one work folder per generation). */
  runtimeDir?: string;
  /** `RUNTIME_UID_BASE`: first uid handed to runtimes when the installer runs as root. */
  uidBase?: number;
  /** `RUNTIME_COMMAND`, split on spaces; unset runs the compiled sample runtime with this Node. */
  runtimeCommand?: string;
  /** `DEPLOY_EFFECT_LOG`: one JSON line per process started or stopped. */
  effectLogFile?: string;
  /** `RUNTIME_HEARTBEAT_INTERVAL_MS`: given to every runtime as PROVIDER_STORE_HEARTBEAT_INTERVAL_MS. */
  heartbeatIntervalMs?: number;
  /** A runtime that exits within this window after spawning counts as a failed start. */
  startupGraceMs?: number;
  /** SIGTERM, then SIGKILL after this long. */
  stopTimeoutMs?: number;
  /** Give runtimes uids of their own (default: when running as root). */
  separateUids?: boolean;
}

export const DEFAULT_RUNTIME_UID_BASE = 200_000;
const LEFTOVER_WAIT_MS = 2_000;

/**
 * Runs each installation's generation as a child process of the installer: the embedded default,
 * for a single machine and for tests. Generations are independent processes, so an upgrade starts
 * the new one beside the old, and the old one stops only when the installer retires it after the new
 * one has registered. Each runs sandboxed (see RuntimeSandbox) with an environment built from nothing.
 */
export class LocalProcessDeployer implements Deployer {
  readonly kind = 'local-process';
  private readonly runtimes = new Map<string, Runtime>();
  private readonly starting = new Map<string, Promise<void>>();
  private readonly logger: Logger;
  private readonly sandbox: RuntimeSandbox;
  private readonly pidFiles: PidFiles;
  private readonly effects: EffectLog;
  private readonly settings: RuntimeSettings;
  private closed = false;

  constructor(private readonly options: LocalProcessDeployerOptions) {
    this.logger = options.logger.child({ component: 'local-process-deployer' });
    this.sandbox = new RuntimeSandbox({
      runtimeDir: options.runtimeDir ?? defaultRuntimeDir(),
      uidBase: options.uidBase ?? DEFAULT_RUNTIME_UID_BASE,
      logger: this.logger,
      separateUids: options.separateUids,
    });
    this.pidFiles = new PidFiles(this.sandbox.stateDir, this.logger);
    this.effects = new EffectLog(options.effectLogFile);
    this.settings = { heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULT_RUNTIME_SETTINGS.heartbeatIntervalMs };
    if (this.sandbox.separateUids && !options.runtimeCommand && !reachableByOthers(sampleRuntimePath())) {
      // Runtimes run under uids of their own: the sample runtime must be readable by them.
      this.logger.warn({ program: sampleRuntimePath() }, 'a folder above the sample runtime is closed to other users: runtimes will fail to start');
    }
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
    await Promise.all(older.map((r) => this.stopRuntime(r, 'stop')));
  }

  async stopGeneration(installationId: string, generation: number): Promise<void> {
    const runtime = this.runtimes.get(keyOf(installationId, generation)) ?? this.adopt(installationId, generation);
    if (runtime) await this.stopRuntime(runtime, 'stop');
    this.sandbox.removeWorkDir(installationId, generation);
  }

  async remove(installationId: string): Promise<void> {
    this.adoptAll(installationId);
    await Promise.all(this.runtimesOf(installationId).map((r) => this.stopRuntime(r, 'remove')));
    const identity = this.sandbox.claimedIdentity(installationId);
    if (identity) {
      // Whatever its runtimes left behind under their uid (a daemonised child) goes too, so the
      // uid can be handed to another installation.
      for (const pid of pidsOfUid(identity.uid)) signalPid(pid, 'SIGKILL');
      for (let waited = 0; waited < LEFTOVER_WAIT_MS && pidsOfUid(identity.uid).length > 0; waited += 50) await sleep(50);
      if (pidsOfUid(identity.uid).length === 0) this.sandbox.release(installationId);
      else this.logger.warn({ installationId, uid: identity.uid }, 'processes of a removed installation outlived SIGKILL; its uid stays claimed');
    }
  }

  async status(installationId: string): Promise<ObservedDeployment | undefined> {
    this.adoptAll(installationId);
    const newest = this.runtimesOf(installationId).sort((a, b) => b.generation - a.generation)[0];
    if (!newest) return undefined;
    const up = !newest.exited;
    return {
      deployment_name: localGenerationName(installationId, newest.generation),
      generation: newest.generation,
      status: up ? 'available' : 'failed',
      available_replicas: up ? 1 : 0,
      ready_replicas: up ? 1 : 0,
      image: newest.image,
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

  /** The generation's working folder (its HOME), removed once it stops. */
  workDirOf(installationId: string, generation: number): string {
    return this.sandbox.workDirOf(installationId, generation);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.starting.values()]);
    await Promise.all([...this.runtimes.values()].map((r) => this.stopRuntime(r, 'stop')));
  }

  private async ensureRunning(desired: DesiredDeployment): Promise<void> {
    const { installationId, generation } = desired;
    const key = keyOf(installationId, generation);
    const known = this.runtimes.get(key) ?? this.adopt(installationId, generation);
    if (known && !known.exited) return;

    const plan = this.planFor(desired);
    // The intent, before the process exists: an installer killed between spawn() and the pid file
    // below leaves this, and the next one finds the runtime by its environment (see adoptRuntime).
    this.pidFiles.write(installationId, generation, { pid: null, start_time: null, image: plan.image, uid: plan.identity?.uid ?? null });
    const { runtime, child } = launch(desired, plan, this.logger, (r) => this.afterExit(r));
    // The pid is known as soon as spawn() returns: record the runtime (pid file, effect line) before
    // yielding to the event loop, so an installer killed at any later moment leaves a runtime that the
    // next installer adopts instead of an untracked one that a redelivered deploy would start again.
    if (child.pid !== undefined) this.track(runtime, child.pid);
    try {
      await spawned(child, (error) => this.logger.warn({ installationId, generation, err: error.message }, 'runtime process error'));
    } catch (error) {
      this.logger.error({ installationId, generation, err: (error as Error).message }, 'cannot start runtime');
      this.pidFiles.forget(installationId, generation);
      this.sandbox.removeWorkDir(installationId, generation);
      throw new Error(describeSpawnFailure(error as NodeJS.ErrnoException));
    }
    if (!this.runtimes.has(key) && !runtime.exited) this.track(runtime, child.pid ?? -1);
    this.logger.info({ installationId, generation, pid: runtime.pid, uid: runtime.uid }, 'runtime started');

    const grace = this.options.startupGraceMs ?? 300;
    if (grace > 0) {
      await Promise.race([runtime.whenExited, sleep(grace)]);
      if (runtime.exited) throw new Error(`runtime ${runtime.exitDescription} right after start`);
    }
  }

  private planFor(desired: DesiredDeployment): LaunchPlan {
    const { installationId, generation } = desired;
    const configured = this.options.runtimeCommand?.split(' ').filter(Boolean);
    const custom = configured !== undefined && configured.length > 0;
    const command = custom ? configured : [process.execPath, sampleRuntimePath()];
    // Checked here, not left to spawn(): behind prlimit a missing program is only an exit code 127.
    if (!isProgram(command[0])) throw new Error(describeSpawnFailure({ name: 'Error', message: '', code: 'ENOENT' }));
    const identity = this.sandbox.identityFor(installationId);
    const cwd = this.sandbox.createWorkDir(installationId, generation, identity);
    const { env, dropped } = buildRuntimeEnvironment(desired, this.settings, cwd);
    if (dropped.length > 0) this.logger.warn({ installationId, generation, keys: dropped }, 'reserved config keys left out of the runtime environment');
    return {
      command: this.sandbox.limitedCommand(desired.resourceTier, command),
      env,
      cwd,
      identity,
      image: deploymentImageOf('local-process', desired, { kubernetesRuntimeImage: '', localRuntimeCommand: custom }),
      tier: desired.resourceTier,
    };
  }

  /**
   * Pid file, then the start line, then the pid file marked: killed between the first two, the next
   * installer adopts the runtime and writes the missing start line (once, see adoptRuntime).
   */
  private track(runtime: Runtime, pid: number): void {
    runtime.pid = pid;
    this.runtimes.set(keyOf(runtime.installationId, runtime.generation), runtime);
    const saved = { pid, start_time: processStartTime(pid), image: runtime.image, uid: runtime.uid };
    this.pidFiles.write(runtime.installationId, runtime.generation, saved);
    this.effects.record(runtime, 'start');
    this.pidFiles.write(runtime.installationId, runtime.generation, { ...saved, effect_recorded: true });
  }

  /** Once a generation's process is gone: its pid file and its work folder go too. */
  private afterExit(runtime: Runtime): void {
    const key = keyOf(runtime.installationId, runtime.generation);
    if (this.runtimes.get(key) === runtime && runtime.stopping) this.runtimes.delete(key);
    this.pidFiles.forget(runtime.installationId, runtime.generation);
    this.sandbox.removeWorkDir(runtime.installationId, runtime.generation);
    if (!runtime.stopping) {
      // The tail stays here, in the operator's log; the tenant sees only exitDescription.
      this.logger.warn(
        { installationId: runtime.installationId, generation: runtime.generation, pid: runtime.pid, stderrTail: runtime.stderrTail },
        `runtime ${runtime.exitDescription}`,
      );
    }
  }

  private async stopRuntime(runtime: Runtime, action: EffectAction): Promise<void> {
    if (runtime.exited || runtime.stopping) {
      this.runtimes.delete(keyOf(runtime.installationId, runtime.generation));
      return runtime.whenExited;
    }
    runtime.stopping = true;
    signal(runtime, 'SIGTERM');
    const killed = await Promise.race([runtime.whenExited.then(() => true), sleep(this.options.stopTimeoutMs ?? 5000).then(() => false)]);
    if (!killed) {
      signal(runtime, 'SIGKILL');
      await runtime.whenExited;
    }
    this.runtimes.delete(keyOf(runtime.installationId, runtime.generation));
    this.effects.record(runtime, action);
    this.logger.info({ installationId: runtime.installationId, generation: runtime.generation, pid: runtime.pid, action }, 'runtime stopped');
  }

  private runtimesOf(installationId: string): Runtime[] {
    return [...this.runtimes.values()].filter((r) => r.installationId === installationId);
  }

  /** Picks up every generation of the installation a previous installer process left running. */
  private adoptAll(installationId: string): void {
    for (const generation of this.pidFiles.generations(installationId)) this.adopt(installationId, generation);
  }

  private adopt(installationId: string, generation: number): Runtime | undefined {
    const key = keyOf(installationId, generation);
    const known = this.runtimes.get(key);
    if (known) return known;
    const runtime = adoptRuntime(this.pidFiles, this.effects, { installationId, generation }, (r) => this.afterExit(r));
    if (!runtime) {
      this.sandbox.removeWorkDir(installationId, generation);
      return undefined;
    }
    this.runtimes.set(key, runtime);
    this.logger.info({ installationId, generation, pid: runtime.pid }, 'adopted a runtime left running by a previous installer');
    return runtime;
  }
}

/** The compiled sample runtime beside this file in dist/, or in dist/ when running from sources (tests). */
export function sampleRuntimePath(): string {
  const sibling = path.resolve(__dirname, '../sample-runtime/main.js');
  if (existsSync(sibling)) return sibling;
  return path.resolve(__dirname, '../../../dist/apps/installer/sample-runtime/main.js');
}

/** Whether `file` (a path, or a name looked up on the runtime's PATH) exists as a file. */
function isProgram(file: string): boolean {
  const candidates = file.includes('/') ? [file] : RUNTIME_PATH.split(':').map((dir) => path.join(dir, file));
  return candidates.some((candidate) => existsSync(candidate) && statSync(candidate).isFile());
}

function keyOf(installationId: string, generation: number): string {
  return `${installationId}#${generation}`;
}

function signalPid(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}
