import { appendFileSync, readFileSync } from 'node:fs';

export type EffectAction = 'start' | 'stop' | 'remove';

export interface EffectLine {
  installation_id: string;
  generation: number;
  action: EffectAction;
  at: string;
  pid: number;
}

export interface EffectSubject {
  installationId: string;
  generation: number;
  pid: number;
}

/**
 * `DEPLOY_EFFECT_LOG`: one JSON line per process started or stopped, what the reliability tests count
 * to prove that a deploy ran exactly once. Without a file it records nothing.
 */
export class EffectLog {
  constructor(private readonly file: string | undefined) {}

  record(subject: EffectSubject, action: EffectAction): void {
    if (!this.file) return;
    const line: EffectLine = {
      installation_id: subject.installationId,
      generation: subject.generation,
      action,
      at: new Date().toISOString(),
      pid: subject.pid,
    };
    // One write of one short line to a file opened for append: lines from several installer
    // processes interleave whole.
    appendFileSync(this.file, `${JSON.stringify(line)}\n`);
  }

  /**
   * Records the start unless the log already holds it: for a runtime adopted from an installer that
   * died just before or after writing the line, so that the start counts exactly once.
   */
  recordStartOnce(subject: EffectSubject): void {
    if (this.file && !this.hasStart(this.file, subject)) this.record(subject, 'start');
  }

  private hasStart(file: string, subject: EffectSubject): boolean {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return false; // no log yet
    }
    return text.split('\n').some((line) => {
      if (!line.includes(subject.installationId)) return false;
      try {
        const effect = JSON.parse(line) as EffectLine;
        return (
          effect.action === 'start' &&
          effect.installation_id === subject.installationId &&
          effect.generation === subject.generation &&
          effect.pid === subject.pid
        );
      } catch {
        return false;
      }
    });
  }
}
