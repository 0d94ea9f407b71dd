/**
 * `node dist/bench/api-process.js <dist> [adapter]` (forked by bench/http-builds.ts): the real API
 * of the build under `<dist>` (its own `bench/http.js` startApi, projections included) on
 * DATABASE_URL, logging at LOG_LEVEL (default silent). Sends `{ baseUrl }` once listening; stops on
 * the message `stop`. `adapter` is passed through for builds that still had HTTP_ADAPTER's choice.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

interface StartedApi {
  baseUrl: string;
  close(): Promise<void>;
}

type StartApi = (databaseUrl: string, env: Record<string, string>, adapter?: string) => Promise<StartedApi>;

function isStartApiModule(loaded: unknown): loaded is { startApi: StartApi } {
  return typeof loaded === 'object' && loaded !== null && 'startApi' in loaded && typeof loaded.startApi === 'function';
}

async function main(): Promise<void> {
  const [dist, adapter] = process.argv.slice(2);
  const databaseUrl = process.env.DATABASE_URL;
  if (!dist || !databaseUrl) throw new Error('usage: DATABASE_URL=… api-process.js <dist> [adapter]');
  const loaded: unknown = createRequire(__filename)(resolve(dist, 'bench/http.js'));
  if (!isStartApiModule(loaded)) throw new Error(`${dist}/bench/http.js exports no startApi`);
  const api = await loaded.startApi(databaseUrl, { LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' }, adapter || undefined);
  process.on('message', (message) => {
    if (message === 'stop') void api.close().finally(() => process.exit(0));
  });
  process.send?.({ baseUrl: api.baseUrl });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
