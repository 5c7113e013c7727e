import ipaddr from 'ipaddr.js';

/**
 * One spelling per client network, for counters and comparisons. `2001:DB8::1`,
 * `2001:0db8::1` and `2001:db8::1` are one address; `::ffff:10.0.0.1` is the IPv4 address
 * `10.0.0.1`; and one IPv6 customer usually holds a whole /64 (RFC 6177, RFC 7421), so an
 * address keyed alone would give an attacker 2^64 fresh counters.
 */
export interface NetworkPrefixes {
  ipv4Prefix: number;
  ipv6Prefix: number;
}

/** Limits count IPv4 per address and IPv6 per /64 unless configured otherwise. */
export const DEFAULT_LIMIT_PREFIXES: NetworkPrefixes = { ipv4Prefix: 32, ipv6Prefix: 64 };

/** Parses an address; an IPv4-mapped IPv6 address is its IPv4 address. Undefined if not one. */
export function parseAddress(value: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  // The longest textual IPv6 address (with an embedded IPv4 and a zone) is well under 64.
  if (value.length > 64 || !ipaddr.isValid(value)) return undefined;
  try {
    const parsed = ipaddr.parse(value);
    return parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()
      ? (parsed as ipaddr.IPv6).toIPv4Address()
      : parsed;
  } catch {
    return undefined;
  }
}

/**
 * The network an address belongs to as CIDR text (`203.0.113.7/32`, `2001:db8::/64`), the
 * same for every spelling of every address in it; null for no or an unreadable address.
 */
export function networkOf(address: string | null, prefixes: NetworkPrefixes): string | null {
  const parsed = address === null ? undefined : parseAddress(address.trim());
  if (!parsed) return null;
  const prefix = parsed.kind() === 'ipv4' ? prefixes.ipv4Prefix : prefixes.ipv6Prefix;
  const bytes = parsed.toByteArray();
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  }
  return `${ipaddr.fromByteArray(bytes).toString()}/${prefix}`;
}

/** Whether two addresses are in one network of the given prefixes; false when either is unreadable. */
export function sameNetwork(a: string, b: string, prefixes: NetworkPrefixes): boolean {
  const left = networkOf(a, prefixes);
  return left !== null && left === networkOf(b, prefixes);
}
