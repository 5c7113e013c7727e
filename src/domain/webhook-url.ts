import ipaddr from 'ipaddr.js';

/**
 * Where a webhook may be sent (issue #18, Safety): the URL an operator registers and the
 * addresses a sender may connect to. Pure (ipaddr.js and the WHATWG URL parser only), so the
 * admin API, the Node sender and the Workers sender apply one rule.
 *
 * Server-side request forgery (OWASP SSRF Prevention Cheat Sheet; OWASP ASVS 4.0 12.6.1): an
 * endpoint's URL is chosen by whoever holds the admin role, but the request leaves from inside
 * our network, so loopback, private, link-local (cloud metadata at 169.254.169.254) and other
 * non-public destinations are refused unless development says otherwise
 * (`WEBHOOK_ALLOW_PRIVATE=true`). A name is checked here only by its shape; the Node sender
 * checks every address the name resolves to at connect time (DNS rebinding).
 */
export interface WebhookUrlPolicy {
  /** Production: `https:` only. Otherwise `http:` is allowed too. */
  requireHttps: boolean;
  /** Development and tests: loopback, private and local names allowed. */
  allowPrivate: boolean;
}

export type WebhookUrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

/** Longest URL accepted, checked before any parser sees the text (the de facto limit of browsers and CDNs). */
export const MAX_WEBHOOK_URL_LENGTH = 2000;

/**
 * Names that never leave the machine or the site: RFC 6761 §6.3 (`localhost`), RFC 6762
 * (`.local`, multicast DNS), RFC 8375 (`.home.arpa`), and `.internal` (reserved for private use,
 * ICANN 2024; cloud providers' internal DNS, e.g. `metadata.google.internal`). A single-label
 * name (`intranet`, `metadata`) is resolved through the host's search domains, so it is
 * refused too.
 */
const LOCAL_SUFFIXES = ['.localhost', '.local', '.internal', '.home.arpa'];

const shorten = (text: string, max = 80) => (text.length > max ? `${text.slice(0, max)}…` : text);

/** Checks a webhook URL against the policy; on success the parsed URL (its `href` is what to store). */
export function checkWebhookUrl(raw: string, policy: WebhookUrlPolicy): WebhookUrlCheck {
  // Bounded before parsing (docs/security.md: counted before the work it guards).
  if (typeof raw !== 'string' || raw.length === 0) return { ok: false, reason: 'URL is empty' };
  if (raw.length > MAX_WEBHOOK_URL_LENGTH)
    return { ok: false, reason: `URL longer than ${MAX_WEBHOOK_URL_LENGTH} characters` };
  // The URL parser silently drops tabs and newlines and trims spaces and controls; refusing
  // them keeps what is stored identical to what was checked.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u0020\u007f-\u009f]/.test(raw))
    return { ok: false, reason: 'URL contains spaces or control characters' };

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'not a URL' };
  }
  if (policy.requireHttps ? url.protocol !== 'https:' : url.protocol !== 'https:' && url.protocol !== 'http:')
    return { ok: false, reason: policy.requireHttps ? 'URL must be https:' : 'URL must be http: or https:' };
  // Credentials in a URL end up in logs and the admin API's listings (RFC 3986 §3.2.1: deprecated).
  if (url.username !== '' || url.password !== '')
    return { ok: false, reason: 'URL must not contain a user name or password' };
  // A fragment is never sent; a URL that has one was probably meant to be something else. The
  // serialization has a `#` even for an empty fragment (url.hash is then '').
  if (url.href.includes('#')) return { ok: false, reason: 'URL must not contain a fragment' };

  const host = hostOf(url);
  if (host === '') return { ok: false, reason: 'URL has no host' };
  if (policy.allowPrivate) return { ok: true, url };

  // The WHATWG parser has already turned every spelling of an IPv4 address (`0x7f.1`,
  // `2130706433`, `127.1`, `127.0.0.1.`) into dotted decimal, and an IPv6 one into brackets.
  if (ipaddr.isValid(host)) {
    return isPublicAddress(host) ? { ok: true, url } : { ok: false, reason: `address not allowed: ${host}` };
  }
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name === 'localhost' || LOCAL_SUFFIXES.some((suffix) => name.endsWith(suffix)))
    return { ok: false, reason: `host not allowed: ${shorten(host)} (a local name)` };
  if (!name.includes('.'))
    return { ok: false, reason: `host not allowed: ${shorten(host)} (a single-label name)` };
  return { ok: true, url };
}

/** The URL's host without IPv6 brackets, lower case (the parser lowercases names). */
function hostOf(url: URL): string {
  const host = url.hostname;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * Whether a request may be sent to this address: true only for globally routable unicast.
 *
 * IPv4: only ipaddr.js's `unicast`, so not 0.0.0.0/8, 10/8, 100.64/10 (carrier-grade NAT,
 * RFC 6598), 127/8, 169.254/16 (link-local, the cloud metadata address 169.254.169.254),
 * 172.16/12, 192.0.0/24, the documentation networks, 192.168/16, 198.18/15, multicast, 240/4
 * and 255.255.255.255 (RFC 6890 special-purpose registry).
 *
 * IPv6: global unicast 2000::/3 only (RFC 4291 §2.4), without ipaddr.js's special ranges
 * (documentation 2001:db8::/32, benchmarking, ORCHID, …): so never ::, ::1, fe80::/10,
 * fc00::/7, fec0::/10, multicast, or the deprecated IPv4-compatible ::a.b.c.d. Addresses
 * that embed an IPv4 address are judged by that address:
 * - IPv4-mapped ::ffff:a.b.c.d and IPv4-translated ::ffff:0:a.b.c.d (RFC 6145): the socket
 *   reaches a.b.c.d itself;
 * - NAT64 64:ff9b::a.b.c.d (RFC 6052): the translator reaches a.b.c.d; the local-use prefix
 *   64:ff9b:1::/48 (RFC 8215) is refused whole;
 * - 6to4 2002:aabb:ccdd::/48 (RFC 3056): the relay reaches aa.bb.cc.dd;
 * - Teredo 2001:0::/32 (RFC 4380): both the server (bits 32–63) and the client (the last 32
 *   bits, inverted) must be public.
 * An address with a zone (`fe80::1%eth0`) is never public.
 */
export function isPublicAddress(ip: string): boolean {
  // The longest textual IPv6 address (with an embedded IPv4 and a zone) is well under 64.
  if (typeof ip !== 'string' || ip.length > 64 || !ipaddr.isValid(ip)) return false;
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(ip);
  } catch {
    return false;
  }
  return parsed.kind() === 'ipv4' ? isPublicV4(parsed as ipaddr.IPv4) : isPublicV6(parsed as ipaddr.IPv6);
}

const isPublicV4 = (address: ipaddr.IPv4): boolean => address.range() === 'unicast';

const v4 = (a: number, b: number): ipaddr.IPv4 => new ipaddr.IPv4([a >> 8, a & 0xff, b >> 8, b & 0xff]);

const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3');

function isPublicV6(address: ipaddr.IPv6): boolean {
  if (address.zoneId) return false;
  const p = address.parts;
  switch (address.range()) {
    case 'ipv4Mapped':
    case 'rfc6145':
      return isPublicV4(v4(p[6]!, p[7]!));
    case 'rfc6052':
      return address.match(NAT64_WELL_KNOWN) && isPublicV4(v4(p[6]!, p[7]!));
    case '6to4':
      return isPublicV4(v4(p[1]!, p[2]!));
    case 'teredo':
      return isPublicV4(v4(p[2]!, p[3]!)) && isPublicV4(v4(p[6]! ^ 0xffff, p[7]! ^ 0xffff));
    case 'unicast':
      return address.match(GLOBAL_UNICAST);
    default:
      return false;
  }
}
