import { runCli } from './program';

/**
 * Operator CLI: `node dist/apps/cli/main.js <command> …` or `npm run cli -- <command> …`.
 * Every command closes its connections before the process exits with the command's code.
 */
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  // A reader that went away (`… | head`) is not a failure of the command.
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
