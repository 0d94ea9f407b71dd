import * as ipaddr from 'ipaddr.js';

/** Whether `entry` is an IPv4 or IPv6 range in CIDR notation (`10.0.0.0/8`, `fd00::/8`). */
export function isCidr(entry: string): boolean {
  try {
    ipaddr.parseCIDR(entry);
    return true;
  } catch {
    return false;
  }
}
