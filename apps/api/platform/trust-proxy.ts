import * as ipaddr from 'ipaddr.js';
import { isCidr } from '../../../libs/network/cidr';

export const TRUST_PROXY_ENV = 'TRUST_PROXY';

/** Names Fastify's trustProxy (proxy-addr) accepts for well-known ranges. */
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

export type TrustProxySetting = boolean | number | string[];

/**
 * Which `X-Forwarded-For` hops the API believes when it works out a client's address (the address
 * the anonymous rate-limit budget is kept by). Off by default: a client could otherwise name any
 * address it likes and get a fresh budget per request. Read from the environment here because it
 * concerns only the HTTP edge:
 * - unset, `false`: the socket's peer is the client;
 * - a number n: the n proxies nearest the API are trusted;
 * - a comma list of addresses, CIDRs or `loopback` / `linklocal` / `uniquelocal`: those proxies;
 * - `true`: every hop (only when the API is reachable through the proxy alone).
 */
export function trustProxySetting(env: NodeJS.ProcessEnv = process.env): TrustProxySetting {
  const raw = (env[TRUST_PROXY_ENV] ?? '').trim();
  if (raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const entries = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  for (const entry of entries) {
    if (NAMED_RANGES.has(entry) || ipaddr.isValid(entry) || isCidr(entry)) continue;
    throw new Error(`${TRUST_PROXY_ENV}: "${entry}" is not an address, a CIDR range, loopback, linklocal, uniquelocal, a hop count, true or false`);
  }
  return entries;
}
