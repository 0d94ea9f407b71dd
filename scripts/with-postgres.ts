import { spawn } from 'node:child_process';
import { startOrAttachEmbeddedPostgres } from '../libs/database/embedded-postgres';

/**
 * `node dist/scripts/with-postgres.js [--name <data folder>] -- <command> [args…]`
 *
 * Runs the command with DATABASE_URL set: the caller's own when it is set, otherwise an embedded
 * PostgreSQL server started (or found running) for the named data folder, stopped again on exit
 * when this process started it.
 */
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const sep = argv.indexOf('--');
  const own = sep === -1 ? [] : argv.slice(0, sep);
  const command = sep === -1 ? argv : argv.slice(sep + 1);
  const nameAt = own.indexOf('--name');
  const name = nameAt === -1 ? 'postgres' : own[nameAt + 1];
  if (command.length === 0) {
    process.stderr.write('usage: with-postgres [--name <data folder>] -- <command> [args…]\n');
    process.exit(2);
  }

  const env = { ...process.env };
  let stop: () => Promise<void> = async () => undefined;
  if (!env.DATABASE_URL) {
    const pg = await startOrAttachEmbeddedPostgres(name);
    env.DATABASE_URL = pg.url;
    stop = pg.stop;
    if (pg.owned) process.stderr.write(`embedded PostgreSQL started for "${name}"\n`);
  }

  const child = spawn(command[0], command.slice(1), { stdio: 'inherit', env, shell: false });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  child.on('exit', (code, signal) => {
    void stop().finally(() => process.exit(code ?? (signal ? 1 : 0)));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`with-postgres: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
