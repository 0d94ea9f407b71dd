import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import path from 'node:path';
import { Pool } from 'pg';
import { runCommand } from '../../../libs/application/command-runner';
import { issueApiKey } from '../../../libs/api-keys/api-key-secret';
import { ApiKeyScope, apiKeyDecider, apiKeyStream } from '../../../libs/api-keys/api-key';
import { PostgresEventStore } from '../../../libs/event-store/postgres/postgres-event-store';
import { InlineProjections } from '../../../libs/projection-engine/inline-projections';
import { PROJECTIONS } from '../../../projections/projections';

/**
 * The whole system as `npm start` runs it (`node dist/apps/main.js`: API, projections, process
 * managers, installer with the local-process deployer and the sample runtime), as a child process
 * whose stdout and stderr (pino's JSON lines) are collected for inspection.
 */
export interface ChildApp {
  baseUrl: string;
  /** Everything the process has written so far, stdout and stderr. */
  output(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export async function startChildApp(env: Record<string, string>): Promise<ChildApp> {
  const port = await freePort();
  const main = path.resolve(__dirname, '../../../dist/apps/main.js');
  const chunks: string[] = [];
  const child: ChildProcess = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`dist/apps/main.js exited during start-up:\n${chunks.join('')}`);
    try {
      const res = await fetch(`${baseUrl}/health/ready`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dist/apps/main.js did not become ready:\n${chunks.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    baseUrl,
    output: () => chunks.join(''),
    async stop() {
      if (!exited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/**
 * Creates an API key as the operator CLI does (a CreateApiKey command, its read models written inline
 * as every process of the app writes them) and waits until the api-keys row is readable.
 */
export async function createKeyIn(pool: Pool, org: string, scopes: ApiKeyScope[]): Promise<string> {
  const issued = issueApiKey();
  const now = new Date().toISOString();
  const store = new PostgresEventStore(pool, { inline: new InlineProjections(PROJECTIONS) });
  await runCommand(
    store,
    apiKeyDecider,
    apiKeyStream(issued.keyId),
    { type: 'CreateApiKey', key_id: issued.keyId, org, scopes, platform_admin: false, secret_hash: issued.secretHash, label: null, created_by: 'test', now },
    { actor: 'test', correlationId: randomUUID(), idempotencyScope: 'test', now },
  );
  for (let i = 0; i < 400; i++) {
    const { rowCount } = await pool.query('SELECT 1 FROM api_keys WHERE key_id = $1', [issued.keyId]);
    if (rowCount) return issued.key;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('api-keys projection did not pick up the new key');
}

/** Every row of every table in the public schema, as text (to look for a secret anywhere in the database). */
export async function databaseDump(pool: Pool): Promise<string> {
  const { rows: tables } = await pool.query<{ name: string }>(`SELECT quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
  const parts: string[] = [];
  for (const { name } of tables) {
    const { rows } = await pool.query<{ t: string }>(`SELECT t::text AS t FROM ${name} t`);
    parts.push(`== ${name}\n${rows.map((r) => r.t).join('\n')}`);
  }
  return parts.join('\n');
}
