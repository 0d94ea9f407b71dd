/**
 * The baseline of query_installed_get_http: `GET /providers/installed/{prefix}/{name}` on bare
 * `node:http` and node-postgres, doing what the API's route does against the database (the same
 * SELECT of the row and its catalog entry's latest version, by primary key) and answering the same
 * JSON body and ETag, with nothing else per request: no framework, middleware, validation or logging.
 * The bearer key is compared with the one key the run created (the API's key lookup is an in-memory
 * cache hit too, so neither side reads the database for it).
 */
import { IncomingMessage, ServerResponse, createServer } from 'node:http';
import { Pool } from 'pg';
import { InstalledRow, installedFromRow } from '../apps/api/installations/installed-provider.mapping';
import { errorBody } from '../apps/api/platform/error-body';
import { createPool } from '../libs/database/database';
import { catalogProjection } from '../projections/catalog.projection';
import { installedProvidersProjection } from '../projections/installed-providers.projection';

const ROUTE = /^\/providers\/installed\/([^/?]+)\/([^/?]+)$/;
const SELECT_BY_KEY = `SELECT i.*, c.latest_version AS catalog_latest_version
   FROM ${installedProvidersProjection.table.name} i
   LEFT JOIN ${catalogProjection.table.name} c ON c.prefix = i.prefix AND c.name = i.name
  WHERE i.tenant = $1 AND i.prefix = $2 AND i.name = $3`;

export interface BareHttpServer {
  baseUrl: string;
  close(): Promise<void>;
}

export interface BareHttpOptions {
  databaseUrl: string;
  /** The API's pool size, so that neither side has more connections to the database. */
  poolSize: number;
  tenant: string;
  /** The whole `Authorization` header value the bench sends. */
  authorization: string;
}

function send(response: ServerResponse, status: number, body: unknown, etag?: string): void {
  const json = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
    ...(etag ? { etag } : {}),
  });
  response.end(json);
}

async function answer(pool: Pool, o: BareHttpOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const route = request.method === 'GET' ? ROUTE.exec(request.url ?? '') : null;
  if (!route) return send(response, 404, errorBody('not_found', 'No such route.'));
  if (request.headers.authorization !== o.authorization) return send(response, 401, errorBody('unauthorized', 'A valid API key is required.'));
  const [prefix, name] = [decodeURIComponent(route[1]), decodeURIComponent(route[2])];
  const { rows } = await pool.query<InstalledRow & { catalog_latest_version: string | null }>(SELECT_BY_KEY, [o.tenant, prefix, name]);
  const row = rows[0];
  if (!row) return send(response, 404, errorBody('not_installed', `${prefix}/${name} is not installed.`));
  send(response, 200, installedFromRow(row, row.catalog_latest_version), `"${row.revision}"`);
}

/** Listens on 127.0.0.1, on a port of the system's choosing. */
export async function startBareHttpServer(o: BareHttpOptions): Promise<BareHttpServer> {
  const pool = createPool(o.databaseUrl, o.poolSize, 'bench-bare-http');
  const server = createServer((request, response) => {
    answer(pool, o, request, response).catch((error: unknown) => send(response, 500, errorBody('internal', error instanceof Error ? error.message : String(error))));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error(`the bare HTTP server listens on ${String(address)}, not on a TCP port`);
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      await pool.end();
    },
  };
}
