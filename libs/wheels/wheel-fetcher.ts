import { createHash } from 'node:crypto';
import { lookup as dnsLookup, LookupAddress } from 'node:dns';
import { readFileSync } from 'node:fs';
import { IncomingMessage } from 'node:http';
import { get as httpsGet, RequestOptions } from 'node:https';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { WheelAddressPolicy } from './wheel-address-policy';
import { WheelFetchFailure, categoryOfError, wheelFetchFailure } from './wheel-fetch-failure';

export interface WheelFetchOptions {
  timeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
  /** Hosts (names or IPs) and CIDR ranges that may be fetched even when private or loopback. */
  allowHosts: readonly string[];
  /** Extra CA certificates (PEM), trusted besides the system's roots. */
  caFile?: string;
}

export type WheelDigestResult = { ok: true; sha256: string; bytes: number } | WheelFetchFailure;
type HopOutcome = WheelDigestResult | { redirect: URL };

/** TLS's `ca` option replaces Node's trust store, so the system roots go in with the extra bundle. */
export function trustedCertificates(caFile: string): string[] {
  return [...rootCertificates, readFileSync(caFile, 'utf8')];
}

function isRedirect(outcome: HopOutcome): outcome is { redirect: URL } {
  return 'redirect' in outcome;
}

/**
 * Downloads a wheel and hashes it as it streams, within a size cap, an overall deadline and a
 * bounded number of redirects. Every hop's address is checked after DNS resolution (by the lookup
 * the connection itself uses, so a name cannot resolve differently for the check and the connect),
 * and IP literals before any connection, so neither a name nor a redirect reaches a private,
 * loopback or link-local address unless the configuration allows that host. Each hop's request is
 * destroyed as soon as the hop is decided (redirect, refusal, cap, deadline or end), so no response
 * body is read beyond what the decision needed; connections are never pooled.
 */
export class WheelFetcher {
  private readonly ca?: string[];
  private readonly policy: WheelAddressPolicy;

  constructor(private readonly options: WheelFetchOptions) {
    this.ca = options.caFile ? trustedCertificates(options.caFile) : undefined;
    this.policy = new WheelAddressPolicy(options.allowHosts);
  }

  async digest(raw: string): Promise<WheelDigestResult> {
    const deadline = Date.now() + this.options.timeoutMs;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return wheelFetchFailure('unsupported_url');
    }
    for (let redirects = 0; ; redirects++) {
      const outcome = await this.hop(url, deadline);
      if (!isRedirect(outcome)) return outcome;
      if (redirects >= this.options.maxRedirects) return wheelFetchFailure('redirects');
      url = outcome.redirect;
    }
  }

  private async hop(url: URL, deadline: number): Promise<HopOutcome> {
    if (url.protocol !== 'https:' || url.username || url.password) return wheelFetchFailure('unsupported_url');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && !this.policy.allows(host, host)) return wheelFetchFailure('blocked_address');
    const remaining = deadline - Date.now();
    if (remaining <= 0) return wheelFetchFailure('timeout');
    return new Promise<HopOutcome>((resolve) => {
      let decided = false;
      const decide = (outcome: HopOutcome) => {
        if (decided) return;
        decided = true;
        clearTimeout(timer);
        request.destroy(); // closes the socket: whatever body is left is never read
        resolve(outcome);
      };
      const timer = setTimeout(() => decide(wheelFetchFailure('timeout')), remaining);
      const options: RequestOptions = { agent: false, ca: this.ca, timeout: remaining, lookup: this.lookup };
      const request = httpsGet(url, options, (response) => this.read(response, url, decide));
      request.on('timeout', () => decide(wheelFetchFailure('timeout')));
      request.on('error', (error) => decide(wheelFetchFailure(categoryOfError(error))));
    });
  }

  private read(response: IncomingMessage, url: URL, decide: (outcome: HopOutcome) => void): void {
    response.on('error', (error) => decide(wheelFetchFailure(categoryOfError(error))));
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (status >= 300 && status < 400 && location) {
      try {
        return decide({ redirect: new URL(location, url) });
      } catch {
        return decide(wheelFetchFailure('redirects'));
      }
    }
    if (status !== 200) return decide(wheelFetchFailure('http_status', status));
    if (Number(response.headers['content-length'] ?? 0) > this.options.maxBytes) return decide(wheelFetchFailure('too_large'));
    const hash = createHash('sha256');
    let bytes = 0;
    response.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > this.options.maxBytes) return decide(wheelFetchFailure('too_large'));
      hash.update(chunk);
    });
    response.on('end', () => {
      // A body cut short (the server closed early) is not a wheel.
      decide(response.complete ? { ok: true, sha256: hash.digest('hex'), bytes } : wheelFetchFailure('connection'));
    });
  }

  /** DNS lookup for the connection, keeping only the addresses the policy allows. */
  private readonly lookup: RequestOptions['lookup'] = (hostname, opts, callback) => {
    dnsLookup(hostname, { ...opts, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 4);
      const allowed = addresses.filter((a) => this.policy.allows(a.address, hostname));
      if (allowed.length === 0) {
        return callback(Object.assign(new Error('the host resolves only to blocked addresses'), { code: 'EBLOCKED' }), '', 4);
      }
      if (opts.all) return callback(null, allowed);
      callback(null, allowed[0].address, allowed[0].family);
    });
  };
}
