import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

/**
 * What the deployer leaves on disk per generation. Written twice around spawn() so that an
 * installer killed at any instant leaves enough for the next one to adopt the runtime instead of
 * starting a second copy: first as an intent (`pid: null`) before spawning, then with the pid, and
 * `effect_recorded` once the effect log holds the start line.
 */
export interface PidFile {
  pid: number | null;
  start_time: string | null;
  /** What `status` shows as the image: never a host path. */
  image: string;
  /** The uid the runtime runs under; null for the installer's own. */
  uid: number | null;
  effect_recorded?: boolean;
}

/**
 * The pid files of one instance's runtimes, in a folder only the installer's user can read (0700):
 * they name pids and uids, and nothing in them is a runtime's business.
 */
export class PidFiles {
  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  write(installationId: string, generation: number, content: PidFile): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      // Written beside and renamed over: a reader never sees half a file.
      const file = this.pathOf(installationId, generation);
      writeFileSync(`${file}.tmp`, JSON.stringify(content), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'cannot write runtime pid file');
    }
  }

  /** The file's content; a missing or unreadable file is no runtime (and an unreadable one is removed). */
  read(installationId: string, generation: number): PidFile | undefined {
    const file = this.pathOf(installationId, generation);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const saved = JSON.parse(text) as Partial<PidFile>;
      return {
        pid: typeof saved.pid === 'number' ? saved.pid : null,
        start_time: typeof saved.start_time === 'string' ? saved.start_time : null,
        image: typeof saved.image === 'string' ? saved.image : 'local-process:unknown',
        uid: typeof saved.uid === 'number' ? saved.uid : null,
        effect_recorded: saved.effect_recorded === true,
      };
    } catch {
      rmSync(file, { force: true });
      return undefined;
    }
  }

  forget(installationId: string, generation: number): void {
    rmSync(this.pathOf(installationId, generation), { force: true });
  }

  /** The generations of the installation that have a pid file. */
  generations(installationId: string): number[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const pattern = new RegExp(`^${escapeRegExp(installationId)}\\.g(\\d+)\\.json$`);
    return names.flatMap((name) => {
      const match = pattern.exec(name);
      return match ? [Number(match[1])] : [];
    });
  }

  pathOf(installationId: string, generation: number): string {
    return path.join(this.dir, `${installationId}.g${generation}.json`);
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
