import { createHash } from 'node:crypto';
import { lookup as dnsLookup, LookupAddress } from 'node:dns';
import { readFileSync } from 'node:fs';
import { get as httpsGet, RequestOptions } from 'node:https';
import { isIP } from 'node:net';
import * as ipaddr from 'ipaddr.js';

export interface WheelFetchOptions {
  timeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
  /** Hosts (names or IPs) and CIDR ranges that may be fetched even when private or loopback. */
  allowHosts: readonly string[];
  caFile?: string;
}

export type WheelDigestResult = { ok: true; sha256: string; bytes: number } | { ok: false; reason: string };

/**
 * Downloads a wheel and hashes it as it streams, within a size cap, an overall deadline and a
 * bounded number of redirects. Every hop's address is checked after DNS resolution, so neither a
 * name nor a redirect can reach a private, loopback or link-local address unless the configuration
 * allows that host.
 */
export class WheelFetcher {
  private readonly ca?: Buffer;

  constructor(private readonly options: WheelFetchOptions) {
    this.ca = options.caFile ? readFileSync(options.caFile) : undefined;
  }

  digest(url: string): Promise<WheelDigestResult> {
    const deadline = Date.now() + this.options.timeoutMs;
    return this.fetch(new URL(url), 0, deadline);
  }

  private async fetch(url: URL, redirects: number, deadline: number): Promise<WheelDigestResult> {
    if (url.protocol !== 'https:') return { ok: false, reason: `only https is fetched (got ${url.protocol})` };
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && !this.addressAllowed(host, host)) {
      return { ok: false, reason: `${host} is a private or loopback address` };
    }
    return new Promise<WheelDigestResult>((resolve) => {
      let settled = false;
      const finish = (result: WheelDigestResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.destroy();
        resolve(result);
      };
      const options: RequestOptions = {
        ca: this.ca,
        timeout: Math.max(1, deadline - Date.now()),
        lookup: (hostname, opts, callback) => {
          dnsLookup(hostname, { ...opts, all: true }, (error, addresses: LookupAddress[]) => {
            if (error) return callback(error, '', 4);
            const allowed = addresses.filter((a) => this.addressAllowed(a.address, hostname));
            if (allowed.length === 0) {
              return callback(Object.assign(new Error(`${hostname} resolves only to private or loopback addresses`), { code: 'EPRIVATE' }), '', 4);
            }
            if ((opts as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
            callback(null, allowed[0].address, allowed[0].family);
          });
        },
      };
      const timer = setTimeout(() => finish({ ok: false, reason: 'timed out' }), Math.max(1, deadline - Date.now()));
      const request = httpsGet(url, options, (response) => {
        const status = response.statusCode ?? 0;
        if (status >= 300 && status < 400 && response.headers.location) {
          response.resume();
          if (redirects >= this.options.maxRedirects) return finish({ ok: false, reason: 'too many redirects' });
          let next: URL;
          try {
            next = new URL(response.headers.location, url);
          } catch {
            return finish({ ok: false, reason: 'invalid redirect location' });
          }
          settled = true;
          clearTimeout(timer);
          void this.fetch(next, redirects + 1, deadline).then(resolve);
          return;
        }
        if (status !== 200) {
          response.resume();
          return finish({ ok: false, reason: `HTTP ${status}` });
        }
        const declared = Number(response.headers['content-length'] ?? 0);
        if (declared > this.options.maxBytes) {
          response.resume();
          return finish({ ok: false, reason: `wheel is larger than ${this.options.maxBytes} bytes` });
        }
        const hash = createHash('sha256');
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > this.options.maxBytes) return finish({ ok: false, reason: `wheel is larger than ${this.options.maxBytes} bytes` });
          hash.update(chunk);
        });
        response.on('end', () => finish({ ok: true, sha256: hash.digest('hex'), bytes }));
        response.on('error', (error) => finish({ ok: false, reason: error.message }));
      });
      request.on('timeout', () => finish({ ok: false, reason: 'timed out' }));
      request.on('error', (error) => finish({ ok: false, reason: error.message }));
    });
  }

  private addressAllowed(address: string, hostname: string): boolean {
    if (this.options.allowHosts.includes(hostname.toLowerCase())) return true;
    let parsed = ipaddr.parse(address);
    if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
    for (const entry of this.options.allowHosts) {
      if (entry === address) return true;
      if (entry.includes('/')) {
        try {
          const [range, bits] = ipaddr.parseCIDR(entry);
          if (range.kind() === parsed.kind() && parsed.match([range, bits] as [ipaddr.IPv4 & ipaddr.IPv6, number])) return true;
        } catch {
          // not a CIDR: a host name, checked above
        }
      }
    }
    return parsed.range() === 'unicast';
  }
}
