import * as ipaddr from 'ipaddr.js';
import { isCidr } from '../network/cidr';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');
const IPV4_MAPPED = ipaddr.parseCIDR('::ffff:0:0/96');
const IPV4_TRANSLATED = ipaddr.parseCIDR('::ffff:0:0:0/96');
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');
const SIX_TO_FOUR = ipaddr.parseCIDR('2002::/16');
const TEREDO = ipaddr.parseCIDR('2001::/32');

function inRange(address: ipaddr.IPv6, [range, bits]: [Address, number]): boolean {
  return range.kind() === 'ipv6' && address.match(range, bits);
}

function ipv4At(bytes: readonly number[], offset: number, invert = false): ipaddr.IPv4 {
  const octets = bytes.slice(offset, offset + 4).map((b) => (invert ? b ^ 0xff : b));
  return new ipaddr.IPv4(octets);
}

/**
 * Every IPv4 address an IPv6 address carries, in any of the forms a packet can end up delivered to:
 * IPv4-compatible (`::a.b.c.d`), -mapped (`::ffff:a.b.c.d`), -translated (`::ffff:0:a.b.c.d`),
 * NAT64 (`64:ff9b::a.b.c.d`), 6to4 (`2002:AABB:CCDD::`) and Teredo (server and obfuscated client).
 * `undefined` when the address embeds none; an empty list never happens.
 */
export function embeddedIpv4(address: ipaddr.IPv6): ipaddr.IPv4[] | undefined {
  const bytes = address.toByteArray();
  if (inRange(address, IPV4_COMPATIBLE)) {
    // `::` and `::1` are IPv6's own unspecified and loopback addresses, judged as IPv6.
    return bytes.slice(12, 15).every((b) => b === 0) && bytes[15] <= 1 ? undefined : [ipv4At(bytes, 12)];
  }
  if (inRange(address, IPV4_MAPPED) || inRange(address, IPV4_TRANSLATED) || inRange(address, NAT64_WELL_KNOWN)) return [ipv4At(bytes, 12)];
  if (inRange(address, SIX_TO_FOUR)) return [ipv4At(bytes, 2)];
  if (inRange(address, TEREDO)) return [ipv4At(bytes, 4), ipv4At(bytes, 12, true)];
  return undefined;
}

/**
 * Whether a wheel may be fetched from an address: public unicast only, unless the host name, the
 * address or a CIDR range covering it is on the allow-list. An IPv6 address that embeds IPv4
 * addresses is judged by those (all of them must pass): `[::127.0.0.1]` is loopback, however written.
 */
export class WheelAddressPolicy {
  private readonly names: ReadonlySet<string>;
  private readonly ranges: Array<[Address, number]> = [];
  private readonly addresses: Address[] = [];

  constructor(allowHosts: readonly string[]) {
    const names = new Set<string>();
    for (const entry of allowHosts.map((e) => e.trim().toLowerCase()).filter((e) => e !== '')) {
      if (entry.includes('/') && isCidr(entry)) this.ranges.push(ipaddr.parseCIDR(entry));
      else if (ipaddr.isValid(entry.replace(/^\[|\]$/g, ''))) this.addresses.push(ipaddr.process(entry.replace(/^\[|\]$/g, '')));
      else names.add(entry);
    }
    this.names = names;
  }

  allows(address: string, hostname: string): boolean {
    if (this.names.has(hostname.toLowerCase())) return true;
    if (!ipaddr.isValid(address)) return false;
    const parsed = ipaddr.parse(address);
    if (this.listed(parsed)) return true;
    if (parsed.kind() === 'ipv4') return parsed.range() === 'unicast';
    const embedded = embeddedIpv4(parsed as ipaddr.IPv6);
    if (embedded) return embedded.every((v4) => this.listed(v4) || v4.range() === 'unicast');
    return parsed.range() === 'unicast';
  }

  private listed(address: Address): boolean {
    if (this.addresses.some((a) => a.kind() === address.kind() && a.toNormalizedString() === address.toNormalizedString())) return true;
    return this.ranges.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits));
  }
}
