import { ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { ResourceTier } from '../../../libs/installations/installation.events';
import { describeExit, mentionsOutOfMemory } from './runtime-failure';
import { RuntimeIdentity } from './runtime-sandbox';

/** One generation's process, started here or adopted from a previous installer process. */
export interface Runtime {
  installationId: string;
  generation: number;
  pid: number;
  image: string;
  /** The uid it runs under; null for the installer's own. */
  uid: number | null;
  /** Our own child; absent for a runtime adopted from a previous installer process. */
  child?: ChildProcess;
  exited: boolean;
  /** Why it ended, in the platform's words (see describeExit). */
  exitDescription?: string;
  /** Operator eyes only: logged, never shown to the tenant. */
  stderrTail: string[];
  /** Set when a stderr line said it ran out of memory: the only thing its output decides. */
  sawOutOfMemory: boolean;
  stopping: boolean;
  whenExited: Promise<void>;
}

/** Everything spawn() needs, decided by the deployer before anything starts. */
export interface LaunchPlan {
  command: string[];
  env: Record<string, string>;
  cwd: string;
  identity: RuntimeIdentity | undefined;
  image: string;
  tier: ResourceTier;
}

const STDERR_TAIL_LINES = 20;
const STDERR_DRAIN_MS = 200;

/**
 * Spawns the generation's process and wires its end: `onExit` runs once it has exited, whatever the
 * reason. spawn() failing (a missing program) surfaces as the child's 'error' before 'spawn'.
 */
export function launch(
  target: { installationId: string; generation: number },
  plan: LaunchPlan,
  logger: Logger,
  onExit: (runtime: Runtime) => void,
): { runtime: Runtime; child: ChildProcess } {
  const [file, ...args] = plan.command;
  const child = spawn(file, args, {
    env: plan.env,
    cwd: plan.cwd,
    // libuv drops supplementary groups, then sets gid and uid, before exec: the program itself never
    // runs with the installer's privileges.
    ...(plan.identity ? { uid: plan.identity.uid, gid: plan.identity.gid } : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const runtime: Runtime = {
    installationId: target.installationId,
    generation: target.generation,
    pid: child.pid ?? -1,
    image: plan.image,
    uid: plan.identity?.uid ?? null,
    child,
    exited: false,
    stderrTail: [],
    sawOutOfMemory: false,
    stopping: false,
    whenExited: Promise.resolve(),
  };
  // stderr may still hold its last lines (an out-of-memory report) when 'exit' fires; 'close' would
  // wait for them but never comes while a grandchild keeps the pipe open: wait a moment at most.
  const stderrEnded = new Promise<void>((resolve) => (child.stderr ? child.stderr.once('close', () => resolve()) : resolve()));
  runtime.whenExited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      void Promise.race([stderrEnded, sleep(STDERR_DRAIN_MS)]).then(() => {
        runtime.exited = true;
        runtime.exitDescription = describeExit({ code, signal, sawOutOfMemory: runtime.sawOutOfMemory, tier: plan.tier });
        onExit(runtime);
        resolve();
      });
    });
  });
  pipeOutput(runtime, child, logger);
  return { runtime, child };
}

/** The runtime's output goes to the operator's log, with the last stderr lines kept for its exit. */
function pipeOutput(runtime: Runtime, child: ChildProcess, logger: Logger): void {
  const fields = { installationId: runtime.installationId, generation: runtime.generation };
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => logger.info({ ...fields, stream: 'stdout' }, line));
  }
  if (child.stderr) {
    createInterface({ input: child.stderr }).on('line', (line) => {
      runtime.stderrTail.push(line);
      if (mentionsOutOfMemory(line)) runtime.sawOutOfMemory = true;
      if (runtime.stderrTail.length > STDERR_TAIL_LINES) runtime.stderrTail.shift();
      logger.warn({ ...fields, stream: 'stderr' }, line);
    });
  }
}

/** Resolves once the child has spawned; rejects with the spawn error if it never does. */
export function spawned(child: ChildProcess, onLateError: (error: Error) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let started = false;
    child.once('spawn', () => {
      started = true;
      resolve();
    });
    // Kept for the child's whole life: an unhandled 'error' (a failed kill) would end the installer.
    child.on('error', (error) => {
      if (started) onLateError(error);
      else reject(error);
    });
  });
}

export function signal(runtime: Runtime, name: NodeJS.Signals): void {
  try {
    if (runtime.child) runtime.child.kill(name);
    else process.kill(runtime.pid, name);
  } catch {
    // Already gone.
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
