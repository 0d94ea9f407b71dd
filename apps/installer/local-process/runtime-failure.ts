import { ResourceTier } from '../../../libs/installations/installation.events';
import { TIER_LIMITS } from './runtime-sandbox';

export interface ExitFacts {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Whether any stderr line said it ran out of memory (see mentionsOutOfMemory); never quoted. */
  sawOutOfMemory: boolean;
  tier: ResourceTier;
}

/** How allocators and interpreters say they ran out of memory (Node, V8, Python, glibc, C++). */
const OUT_OF_MEMORY = /out of memory|MemoryError|Cannot allocate memory|ENOMEM|bad_alloc/i;

export function mentionsOutOfMemory(line: string): boolean {
  return OUT_OF_MEMORY.test(line);
}

/**
 * Why a runtime ended, in the platform's own words. This is what the tenant reads (the deployment's
 * message, a DeployFailed reason), so it carries no byte of the runtime's output: a runtime could
 * otherwise print whatever it read (another runtime's token, a host file) into its own failure.
 */
export function describeExit(facts: ExitFacts): string {
  const limits = TIER_LIMITS[facts.tier];
  if (facts.signal === 'SIGXCPU') return `exceeded its CPU time limit (${limits.cpuSeconds} s, ${facts.tier} tier)`;
  const crashed = facts.signal !== null || (facts.code !== null && facts.code !== 0);
  if (crashed && facts.sawOutOfMemory) {
    return `exceeded its memory limit (${Math.round(limits.memoryBytes / (1024 * 1024))} MiB, ${facts.tier} tier)`;
  }
  if (facts.signal) return `was killed by ${facts.signal}`;
  // What prlimit (and shells) answer when the program itself cannot be run.
  if (facts.code === 126) return 'exited with code 126 (its program cannot be run)';
  if (facts.code === 127) return 'exited with code 127 (its program was not found)';
  return `exited with code ${facts.code ?? 'unknown'}`;
}

/** A spawn() failure, by its error code only: the message would name host paths. */
export function describeSpawnFailure(error: NodeJS.ErrnoException): string {
  const code = typeof error.code === 'string' && /^[A-Z0-9_]+$/.test(error.code) ? error.code : 'unknown error';
  return `cannot start the runtime (${code})`;
}
