import { Command, CommanderError } from 'commander';
import { ConfigError } from '../../libs/config/app-config';
import { DomainError } from '../../libs/domain/domain-error';
import { ProjectionBusy } from '../../libs/projection-engine/rebuild';
import { registerAudit } from './audit';
import { CliState, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, err } from './io';
import { registerKeys } from './keys';
import { registerOrganizations } from './organizations';
import { registerProjections } from './projections';
import { registerSecrets } from './secrets';
import { registerPublish } from './publish';

/** The command tree. Actions record their exit code in `state`; errors are mapped by `runCli`. */
export function buildProgram(state: CliState): Command {
  const program = new Command('provider-store');
  program
    .description('Operator CLI of the provider store: organisations, API keys, audit trail, read models.')
    .addHelpText(
      'after',
      `
Uses the same database as \`npm start\`: DATABASE_URL when set, otherwise the embedded PostgreSQL
(attached to when running, started for the command otherwise). CLI_LOG_LEVEL enables logs (on stdout).
Exit codes: 0 ok, 1 a difference or a failure, 2 a usage error.`,
    )
    // Usage errors surface as exceptions so that the exit code is always 2 and cleanup still runs.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      writeErr: (text) => process.stderr.write(text),
    })
    .showHelpAfterError('(add --help for usage)');
  registerKeys(program, state);
  registerOrganizations(program);
  registerAudit(program, state);
  registerProjections(program, state);
  registerSecrets(program, state);
  registerPublish(program, state);
  return program;
}

/** Parses and runs one command line (`argv` without node and the script); resolves to the exit code. */
export async function runCli(args: string[]): Promise<number> {
  const state: CliState = { exitCode: EXIT_OK };
  const program = buildProgram(state);
  try {
    await program.parseAsync(args, { from: 'user' });
    return state.exitCode;
  } catch (error) {
    return exitCodeFor(error);
  }
}

export function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and version exit 0; commander has already printed anything else.
    return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (error instanceof UsageError) {
    err(`error: ${error.message}\n`);
    return EXIT_USAGE;
  }
  if (error instanceof ConfigError) {
    err(`${error.message}\n`);
    return EXIT_USAGE;
  }
  if (error instanceof DomainError) {
    err(`error: ${error.message} (${error.code})\n`);
    return EXIT_FAILURE;
  }
  if (error instanceof ProjectionBusy) {
    err(`error: ${error.message}\n`);
    return EXIT_FAILURE;
  }
  err(`error: ${error instanceof Error ? (process.env.CLI_DEBUG ? (error.stack ?? error.message) : error.message) : String(error)}\n`);
  return EXIT_FAILURE;
}
