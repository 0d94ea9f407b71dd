import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Server, createServer } from 'node:https';
import { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/**
 * A local HTTPS wheel registry for the publish path's download checks, with a certificate made by
 * `selfsigned` for localhost / 127.0.0.1 / 127.0.0.2 (written to a temp file for WHEEL_FETCH_CA_FILE).
 *
 * Routes (on every host it listens on):
 * - `/good.whl`: the wheel (deterministic bytes, `Content-Length` set); `sha256` is its digest
 * - `/redirect.whl`: 302 to `/good.whl`
 * - `/chain/<n>.whl`: 302 to `/chain/<n-1>.whl`, `/chain/0.whl` to `/good.whl` (n + 1 redirects in all)
 * - `/loop.whl`: 302 to itself, for ever
 * - `/missing.whl`: 404
 * - `/slow.whl`: headers and the first bytes, then nothing, never ending (for the fetch timeout)
 * - `/stall.whl`: accepts the request and never answers at all
 * - `/big.whl`: 200, chunked (no `Content-Length`), `oversizedBytes` bytes
 * - `/big-declared.whl`: 200 with `Content-Length: oversizedBytes`
 * - `/to-alt.whl`: 302 to the second host's `/good.whl` (a redirect to another address)
 * - `/redirect-big-body.whl`: 302 to `/good.whl` whose body then streams `oversizedBytes` bytes
 * - `/missing-big-body.whl`: 404 whose body streams `oversizedBytes` bytes
 */
export interface HttpsWheelServer {
  /** Base URL on 127.0.0.1, no trailing slash: `https://127.0.0.1:<port>`. */
  url: string;
  /** Base URL of the same routes on 127.0.0.2 (also loopback, but another address). */
  altUrl: string;
  caFile: string;
  /** Hex SHA-256 of the bytes at `/good.whl`. */
  sha256: string;
  wheel: Buffer;
  /** Every request received: the local address it arrived at and its path. */
  requests: Array<{ address: string; path: string }>;
  /** Body bytes written so far per path (streamed routes only), to tell whether a client hung up. */
  bytesSent: Record<string, number>;
  close(): Promise<void>;
}

export interface HttpsWheelServerOptions {
  /** Size of `/good.whl` (default 256 KiB). */
  wheelBytes?: number;
  /** Size of `/big.whl` and `/big-declared.whl` (default 3 MiB). */
  oversizedBytes?: number;
}

const PRIMARY_HOST = '127.0.0.1';
const ALT_HOST = '127.0.0.2';

/** Deterministic, wheel-looking bytes: a zip local-file-header magic, then a SHA-256 chain. */
export function deterministicWheel(size: number, seed = 'provider-store-wheel'): Buffer {
  const out = Buffer.alloc(size);
  out.write('PK\u0003\u0004', 0, 'latin1');
  let block = createHash('sha256').update(seed).digest();
  for (let offset = 4; offset < size; offset += block.length) {
    block.copy(out, offset, 0, Math.min(block.length, size - offset));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export async function startHttpsWheelServer(options: HttpsWheelServerOptions = {}): Promise<HttpsWheelServer> {
  const wheel = deterministicWheel(options.wheelBytes ?? 256 * 1024);
  const sha256 = createHash('sha256').update(wheel).digest('hex');
  const oversized = options.oversizedBytes ?? 3 * 1024 * 1024;

  const pems = generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    days: 2,
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', keyCertSign: true, digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: PRIMARY_HOST },
          { type: 7, ip: ALT_HOST },
        ],
      },
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), 'wheel-server-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, pems.cert);

  const requests: HttpsWheelServer['requests'] = [];
  const sockets = new Set<Socket>();
  const bases: Record<string, string> = {};
  const bytesSent: Record<string, number> = {};

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'https://local').pathname;
    requests.push({ address: req.socket.localAddress ?? '', path });
    res.on('error', () => undefined);
    const redirect = (location: string) => {
      res.writeHead(302, { location, 'content-length': '0' });
      res.end();
    };
    const chain = /^\/chain\/(\d+)\.whl$/.exec(path);
    if (chain) {
      const n = Number(chain[1]);
      return redirect(n === 0 ? '/good.whl' : `/chain/${n - 1}.whl`);
    }
    switch (path) {
      case '/good.whl':
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(wheel.length) });
        res.end(wheel);
        return;
      case '/redirect.whl':
        return redirect('/good.whl');
      case '/loop.whl':
        return redirect('/loop.whl');
      case '/to-alt.whl':
        return redirect(`${bases[ALT_HOST]}/good.whl`);
      case '/slow.whl':
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(wheel.length) });
        res.write(wheel.subarray(0, 1024));
        return; // never ends
      case '/stall.whl':
        return; // never answers
      case '/redirect-big-body.whl':
      case '/missing-big-body.whl':
        res.writeHead(path === '/missing-big-body.whl' ? 404 : 302, { location: '/good.whl', 'content-type': 'application/octet-stream' });
        streamBytes(res, oversized, (n) => (bytesSent[path] = (bytesSent[path] ?? 0) + n));
        return;
      case '/big.whl':
      case '/big-declared.whl': {
        const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
        if (path === '/big-declared.whl') headers['content-length'] = String(oversized);
        res.writeHead(200, headers);
        streamBytes(res, oversized, (n) => (bytesSent[path] = (bytesSent[path] ?? 0) + n));
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
    }
  };

  const servers: Server[] = [];
  for (const host of [PRIMARY_HOST, ALT_HOST]) {
    const server = createServer({ key: pems.private, cert: pems.cert }, handler);
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    bases[host] = `https://${host}:${(server.address() as AddressInfo).port}`;
    servers.push(server);
  }

  return {
    url: bases[PRIMARY_HOST],
    altUrl: bases[ALT_HOST],
    caFile,
    sha256,
    wheel,
    requests,
    bytesSent,
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes `total` bytes in 64 KiB chunks, honouring back-pressure, until done or the peer goes away. */
function streamBytes(res: ServerResponse, total: number, sent: (bytes: number) => void = () => undefined): void {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let written = 0;
  const pump = () => {
    while (written < total && !res.destroyed) {
      const size = Math.min(chunk.length, total - written);
      written += size;
      sent(size);
      if (!res.write(size === chunk.length ? chunk : chunk.subarray(0, size))) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  pump();
}
