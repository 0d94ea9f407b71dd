import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ResourceTier } from '../../../libs/installations/installation.events';

/** Who a runtime runs as. Absent: the installer's own user (an installer not running as root). */
export interface RuntimeIdentity {
  uid: number;
  gid: number;
}

export interface TierLimits {
  /** RLIMIT_DATA: the process's writable private memory (heap, not its code or reserved address space). */
  memoryBytes: number;
  /** RLIMIT_CPU: CPU seconds over the runtime's life; SIGXCPU at the limit, SIGKILL 5 s of CPU later. */
  cpuSeconds: number;
  /** RLIMIT_NPROC: processes and threads of the runtime's uid (only applied under a uid of its own). */
  processes: number;
  /** RLIMIT_NOFILE: open files and sockets. */
  openFiles: number;
}

const MIB = 1024 * 1024;
const HOUR = 3600;

/**
 * The local counterpart of Kubernetes' TIER_RESOURCES (the same memory per tier), applied with prlimit:
 *
 * | tier        | memory (RLIMIT_DATA) | CPU time (RLIMIT_CPU) | processes (RLIMIT_NPROC) | open files (RLIMIT_NOFILE) |
 * |-------------|----------------------|-----------------------|--------------------------|----------------------------|
 * | free        | 128 MiB              | 1 h                   | 64                       | 256                        |
 * | standard    | 512 MiB              | 4 h                   | 256                      | 1024                       |
 * | performance | 2 GiB                | 16 h                  | 1024                     | 4096                       |
 *
 * CPU time is cumulative over the runtime's life (SIGXCPU at the limit, reported as such). Processes
 * count threads too and apply only under a uid of the runtime's own; core dumps are off.
 */
export const TIER_LIMITS: Readonly<Record<ResourceTier, TierLimits>> = {
  free: { memoryBytes: 128 * MIB, cpuSeconds: 1 * HOUR, processes: 64, openFiles: 256 },
  standard: { memoryBytes: 512 * MIB, cpuSeconds: 4 * HOUR, processes: 256, openFiles: 1024 },
  performance: { memoryBytes: 2048 * MIB, cpuSeconds: 16 * HOUR, processes: 1024, openFiles: 4096 },
};

/** How many uids from RUNTIME_UID_BASE the installer hands out: one per installation on this machine. */
export const RUNTIME_UID_COUNT = 100_000;
const PRLIMIT_CANDIDATES = ['/usr/bin/prlimit', '/bin/prlimit'];

export interface RuntimeSandboxOptions {
  /** The instance's runtime folder: `state/` (pid files), `uids/` (claims), `work/` (one dir per generation). */
  runtimeDir: string;
  uidBase: number;
  logger: Logger;
  /** Whether the installer may give runtimes uids of their own; defaults to running as root. */
  separateUids?: boolean;
}

/**
 * Where and as whom a local runtime runs. As root, every installation gets an unprivileged uid (and
 * gid) of its own, so one runtime can neither read another's /proc/<pid>/environ (its token) nor
 * signal it, and every generation a 0700 working folder owned by that uid. Limits per resource tier
 * go through prlimit in front of the command.
 */
export class RuntimeSandbox {
  readonly separateUids: boolean;
  readonly stateDir: string;
  private readonly uidDir: string;
  private readonly workDir: string;
  private readonly prlimit: string | undefined;

  constructor(private readonly options: RuntimeSandboxOptions) {
    this.separateUids = options.separateUids ?? process.getuid?.() === 0;
    this.stateDir = path.join(options.runtimeDir, 'state');
    this.uidDir = path.join(options.runtimeDir, 'uids');
    this.workDir = path.join(options.runtimeDir, 'work');
    this.prlimit = PRLIMIT_CANDIDATES.find((file) => existsSync(file));
    // 0711 above the work folders: a runtime may pass through to its own folder (its HOME), not list others'.
    for (const [dir, mode] of [[options.runtimeDir, 0o711], [this.stateDir, 0o700], [this.uidDir, 0o700], [this.workDir, 0o711]] as const) {
      mkdirSync(dir, { recursive: true, mode });
      chmodSync(dir, mode);
    }
    if (this.separateUids && !reachableByOthers(options.runtimeDir)) {
      options.logger.warn({ runtimeDir: options.runtimeDir }, 'a folder above the runtime folder is closed to other users: runtimes cannot reach their HOME by path');
    }
    if (!this.separateUids) {
      options.logger.warn({ uid: process.getuid?.() }, 'installer is not root: runtimes run as the installer\'s own user, not isolated from each other by uid');
    }
    if (!this.prlimit) options.logger.warn('prlimit not found: runtimes run without resource limits');
  }

  /** The installation's own uid: claimed once (stable across installer restarts), released by `release`. */
  identityFor(installationId: string): RuntimeIdentity | undefined {
    if (!this.separateUids) return undefined;
    const known = this.claimedIdentity(installationId);
    if (known) return known;
    const mapping = this.mappingOf(installationId);
    const start = parseInt(createHash('sha256').update(installationId).digest('hex').slice(0, 8), 16) % RUNTIME_UID_COUNT;
    for (let step = 0; step < RUNTIME_UID_COUNT; step++) {
      const uid = this.options.uidBase + ((start + step) % RUNTIME_UID_COUNT);
      if (!claim(path.join(this.uidDir, `uid-${uid}`), installationId)) continue;
      if (claim(mapping, String(uid))) return { uid, gid: uid };
      // Another installer process claimed one for this installation meanwhile: use that one.
      rmSync(path.join(this.uidDir, `uid-${uid}`), { force: true });
      const theirs = this.claimedIdentity(installationId);
      if (theirs) return theirs;
      throw new Error('runtime uid being claimed by another installer process; retry');
    }
    throw new Error(`no free runtime uid left in ${this.options.uidBase}..${this.options.uidBase + RUNTIME_UID_COUNT - 1}`);
  }

  /** The uid the installation already holds, without claiming one. */
  claimedIdentity(installationId: string): RuntimeIdentity | undefined {
    const uid = readNumber(this.mappingOf(installationId));
    return uid === undefined ? undefined : { uid, gid: uid };
  }

  /** Frees the installation's uid for another one: only once none of its processes is left. */
  release(installationId: string): void {
    const mapping = this.mappingOf(installationId);
    const uid = readNumber(mapping);
    if (uid !== undefined) rmSync(path.join(this.uidDir, `uid-${uid}`), { force: true });
    rmSync(mapping, { force: true });
  }

  /** A fresh, empty 0700 folder for the generation, owned by its runtime. */
  createWorkDir(installationId: string, generation: number, identity: RuntimeIdentity | undefined): string {
    const dir = this.workDirOf(installationId, generation);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o700 });
    if (identity) chownSync(dir, identity.uid, identity.gid);
    return dir;
  }

  removeWorkDir(installationId: string, generation: number): void {
    rmSync(this.workDirOf(installationId, generation), { recursive: true, force: true });
  }

  private mappingOf(installationId: string): string {
    return path.join(this.uidDir, `installation-${installationId}`);
  }

  workDirOf(installationId: string, generation: number): string {
    return path.join(this.workDir, `${installationId}.g${generation}`);
  }

  /** The command behind prlimit with the tier's limits (unchanged when prlimit is missing). */
  limitedCommand(tier: ResourceTier, command: string[]): string[] {
    if (!this.prlimit) return command;
    const limits = TIER_LIMITS[tier];
    const args = [
      `--data=${limits.memoryBytes}`,
      `--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + 5}`,
      `--nofile=${limits.openFiles}`,
      '--core=0',
    ];
    // RLIMIT_NPROC counts every process of the real uid: under the installer's own user it would
    // count the installer's and everything else that user runs.
    if (this.separateUids) args.push(`--nproc=${limits.processes}`);
    return [this.prlimit, ...args, '--', ...command];
  }
}

/** Whether every folder from `file` up to / lets other users pass (o+x): what a runtime's uid needs to reach it. */
export function reachableByOthers(file: string): boolean {
  for (let dir = path.dirname(path.resolve(file)); ; dir = path.dirname(dir)) {
    try {
      // eslint-disable-next-line no-bitwise
      if ((statSync(dir).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (path.dirname(dir) === dir) return true;
  }
}

/** Creates `file` holding `content` unless it exists: the claim is atomic across processes. */
function claim(file: string, content: string): boolean {
  try {
    writeFileSync(file, content, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

function readNumber(file: string): number | undefined {
  try {
    const value = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
