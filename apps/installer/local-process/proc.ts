import { readFileSync, readdirSync } from 'node:fs';

/*
 * What the local-process deployer reads of Linux's /proc: whether a pid is still the process it
 * started (pids are reused), whose it is, and which runtime it is.
 */

export function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive, but another user's (a runtime under its own uid, seen by a non-root reader).
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A zombie answers signal 0 but is no runtime any more.
  const stat = readStat(pid);
  return stat === undefined || stat.state !== 'Z';
}

export function processStartTime(pid: number): string | null {
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

/** The real uid of a process (`Uid:` in /proc/<pid>/status), or undefined when it is gone. */
export function processUid(pid: number): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Uid:'));
    return line ? Number(line.split(/\s+/)[1]) : undefined;
  } catch {
    return undefined;
  }
}

function numericEntries(): number[] {
  try {
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .map(Number);
  } catch {
    return [];
  }
}

/** Every live process whose real uid is `uid`: what is left of an installation whose uid is its own. */
export function pidsOfUid(uid: number): number[] {
  return numericEntries().filter((pid) => pid !== process.pid && processUid(pid) === uid && isAlive(pid));
}

/**
 * Pid of a live runtime started for this installation and generation, found through
 * /proc/<pid>/environ. `uid` (when the runtimes run under their own uids) must own it: any runtime can
 * put another installation's id in a child's environment, but not give that child another uid.
 */
export function findRuntimeByEnvironment(installationId: string, generation: number, uid: number | undefined): number | undefined {
  const wanted = [`PROVIDER_STORE_INSTALLATION_ID=${installationId}`, `PROVIDER_STORE_GENERATION=${generation}`];
  for (const pid of numericEntries()) {
    if (pid === process.pid) continue;
    if (uid !== undefined && processUid(pid) !== uid) continue;
    let environ: string[];
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (wanted.every((v) => environ.includes(v)) && isAlive(pid)) return pid;
  }
  return undefined;
}
