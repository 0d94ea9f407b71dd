import { AppConfig, loadConfig } from '../../libs/config/app-config';
import type { Infrastructure } from '../../libs/infrastructure/infrastructure';

/** Exit codes: 0 ok, 1 a difference or a failure, 2 a usage error. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A bad argument or option: reported on stderr, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Writes to stdout, waiting for the pipe to drain so a long listing never piles up in memory. */
export async function out(text: string): Promise<void> {
  if (!process.stdout.write(text)) {
    await new Promise<void>((resolve) => {
      const done = () => {
        process.stdout.off('drain', done);
        process.stdout.off('close', done);
        resolve();
      };
      process.stdout.on('drain', done);
      process.stdout.on('close', done);
    });
  }
}

export function err(text: string): void {
  process.stderr.write(text);
}

/**
 * The CLI's configuration: the app's, with logging silenced unless CLI_LOG_LEVEL asks for it, since
 * the logger writes to stdout, where scripts read the CLI's own (JSON) output.
 */
export function cliConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return loadConfig({ ...env, LOG_LEVEL: env.CLI_LOG_LEVEL || 'silent' });
}

/** Connects (to the embedded server too, as `npm start` does), runs `work`, and always disconnects. */
export async function withInfrastructure<T>(work: (infra: Infrastructure) => Promise<T>): Promise<T> {
  const config = cliConfig();
  // Loaded on first use: TypeORM alone takes most of a second, which `--help` and usage errors skip.
  const { createInfrastructure } = await import('../../libs/infrastructure/infrastructure');
  const infra = await createInfrastructure(config, 'cli');
  try {
    return await work(infra);
  } finally {
    await infra.close();
  }
}

/** Result of an action: the process exits with it once the infrastructure is closed. */
export interface CliState {
  exitCode: number;
}

export function fail(state: CliState, code = EXIT_FAILURE): void {
  state.exitCode = Math.max(state.exitCode, code);
}

export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Renders rows as aligned columns for people; scripts use --json. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}
