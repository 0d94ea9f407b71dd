import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { rootCertificates } from 'node:tls';
import * as ipaddr from 'ipaddr.js';
import { HttpsWheelServer, startHttpsWheelServer } from '../../test/support/https-wheel-server';
import { WheelAddressPolicy, embeddedIpv4 } from './wheel-address-policy';
import { WheelFetcher, WheelFetchOptions, trustedCertificates } from './wheel-fetcher';
import { wheelFetchFailure } from './wheel-fetch-failure';

jest.setTimeout(30_000);

describe('WheelAddressPolicy', () => {
  const policy = new WheelAddressPolicy([]);

  it.each([
    ['::127.0.0.1', 'IPv4-compatible loopback'],
    ['::7f00:1', 'IPv4-compatible loopback, hex'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:0:127.0.0.1', 'IPv4-translated loopback'],
    ['::ffff:169.254.169.254', 'mapped cloud metadata'],
    ['::10.0.0.1', 'IPv4-compatible private'],
    ['2002:7f00:1::', '6to4 of 127.0.0.1'],
    ['2002:a9fe:a9fe::1', '6to4 of 169.254.169.254'],
    ['64:ff9b::7f00:1', 'NAT64 of 127.0.0.1'],
    ['64:ff9b::10.1.2.3', 'NAT64 of a private address'],
    ['64:ff9b:1::a00:1', 'local-use NAT64 prefix'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo whose client is 127.0.0.1'],
    ['2001:0:7f00:1:8000:63bf:f7f7:f7f7', 'Teredo whose server is 127.0.0.1'],
    ['::1', 'IPv6 loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fd00::1', 'unique local'],
    ['127.0.0.1', 'IPv4 loopback'],
    ['100.64.0.1', 'carrier-grade NAT'],
  ])('refuses %s (%s)', (address) => {
    expect(policy.allows(address, address)).toBe(false);
  });

  it.each([
    ['8.8.8.8'],
    ['::ffff:8.8.8.8'],
    ['::8.8.8.8'],
    ['2002:808:808::1'],
    ['64:ff9b::8.8.8.8'],
    ['2001:0:4136:e378:8000:63bf:f7f7:f7f7'], // Teredo: server 65.54.227.120, client 8.8.8.8
    ['2606:4700::1111'],
  ])('allows public %s', (address) => {
    expect(policy.allows(address, address)).toBe(true);
  });

  it('reads the embedded IPv4 addresses of each form', () => {
    const v4 = (a: string) => embeddedIpv4(ipaddr.IPv6.parse(a))?.map(String);
    expect(v4('::7f00:1')).toEqual(['127.0.0.1']);
    expect(v4('2002:7f00:1::')).toEqual(['127.0.0.1']);
    expect(v4('64:ff9b::7f00:1')).toEqual(['127.0.0.1']);
    expect(v4('2001:0:4136:e378:8000:63bf:80ff:fffe')).toEqual(['65.54.227.120', '127.0.0.1']);
    expect(v4('2606:4700::1111')).toBeUndefined();
    expect(v4('::1')).toBeUndefined();
  });

  it('an allow-listed range admits the embedded address too', () => {
    const allowing = new WheelAddressPolicy(['127.0.0.0/8']);
    expect(allowing.allows('::ffff:127.0.0.2', '::ffff:127.0.0.2')).toBe(true);
    expect(allowing.allows('2002:7f00:1::', '2002:7f00:1::')).toBe(true);
    expect(allowing.allows('10.0.0.1', '10.0.0.1')).toBe(false);
  });
});

describe('WheelFetcher', () => {
  let server: HttpsWheelServer;
  const BIG = 64 * 1024 * 1024;

  beforeAll(async () => {
    server = await startHttpsWheelServer({ wheelBytes: 16 * 1024, oversizedBytes: BIG });
  });
  afterAll(() => server.close());

  const fetcher = (overrides: Partial<WheelFetchOptions> = {}) =>
    new WheelFetcher({ timeoutMs: 3_000, maxBytes: 1024 * 1024, maxRedirects: 3, allowHosts: ['127.0.0.1'], caFile: server.caFile, ...overrides });
  const settle = () => new Promise((r) => setTimeout(r, 300));

  it('downloads and hashes an allowed wheel, following a redirect', async () => {
    await expect(fetcher().digest(`${server.url}/redirect.whl`)).resolves.toEqual({ ok: true, sha256: server.sha256, bytes: server.wheel.length });
  });

  it("closes a redirect's body at once: a 64 MiB body behind a 302 is not read", async () => {
    const result = await fetcher().digest(`${server.url}/redirect-big-body.whl`);
    expect(result).toEqual({ ok: true, sha256: server.sha256, bytes: server.wheel.length });
    await settle();
    const sent = server.bytesSent['/redirect-big-body.whl'];
    await settle();
    expect(server.bytesSent['/redirect-big-body.whl']).toBe(sent); // the server stopped: the client hung up
    expect(sent).toBeLessThan(BIG / 4);
  });

  it("closes a refused status's body at once", async () => {
    await expect(fetcher().digest(`${server.url}/missing-big-body.whl`)).resolves.toMatchObject({ ok: false, category: 'http_status' });
    await settle();
    expect(server.bytesSent['/missing-big-body.whl']).toBeLessThan(BIG / 4);
  });

  it('stops at the byte cap and at the deadline', async () => {
    await expect(fetcher().digest(`${server.url}/big.whl`)).resolves.toMatchObject({ ok: false, category: 'too_large' });
    await expect(fetcher().digest(`${server.url}/big-declared.whl`)).resolves.toMatchObject({ ok: false, category: 'too_large' });
    const started = Date.now();
    await expect(fetcher({ timeoutMs: 500 }).digest(`${server.url}/slow.whl`)).resolves.toMatchObject({ ok: false, category: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2_000);
    await expect(fetcher().digest(`${server.url}/loop.whl`)).resolves.toMatchObject({ ok: false, category: 'redirects' });
  });

  it('refuses every IPv6 spelling of a loopback address without connecting', async () => {
    const port = new URL(server.url).port;
    const seen = server.requests.length;
    for (const host of ['[::127.0.0.1]', '[::ffff:127.0.0.1]', '[2002:7f00:1::]', '[64:ff9b::7f00:1]', '[::ffff:0:127.0.0.1]']) {
      await expect(fetcher({ allowHosts: [] }).digest(`https://${host}:${port}/good.whl`)).resolves.toMatchObject({ ok: false, category: 'blocked_address' });
    }
    await expect(fetcher({ allowHosts: [] }).digest(`https://localhost:${port}/good.whl`)).resolves.toMatchObject({ ok: false, category: 'blocked_address' });
    expect(server.requests.length).toBe(seen);
  });

  it('reports a category and a fixed sentence, never the socket or TLS text', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await fetcher().digest(`https://127.0.0.1:${port}/x.whl`);
    expect(refused).toEqual({ ok: false, category: 'refused', reason: 'refused: the connection was refused' });
    const tls = await fetcher({ caFile: undefined }).digest(`${server.url}/good.whl`);
    expect(tls).toEqual(wheelFetchFailure('tls'));
    const dns = await fetcher().digest('https://no-such-host.invalid/x.whl');
    expect(dns).toEqual(wheelFetchFailure('dns'));
    for (const r of [refused, tls, dns]) expect(JSON.stringify(r)).not.toMatch(/ECONN|127\.0\.0\.1|self[- ]signed|getaddrinfo|ENOTFOUND|no-such-host|\d{4,5}/i);
  });

  it('WHEEL_FETCH_CA_FILE adds to the system roots instead of replacing them', () => {
    const ca = trustedCertificates(server.caFile);
    expect(ca.slice(0, rootCertificates.length)).toEqual([...rootCertificates]);
    expect(ca).toEqual([...rootCertificates, readFileSync(server.caFile, 'utf8')]);
    expect(rootCertificates.length).toBeGreaterThan(50);
  });
});
