import type { Context } from 'hono';
import { z } from 'zod';
import type { Config } from '../config.js';
import { parseAddress } from '../domain/client-network.js';
import { AuthError } from '../domain/errors.js';
import type { RequestOrigin } from '../ports/records.js';
import type { DpopProofs } from '../services/dpop.js';
import type { RequestDevice } from '../services/types.js';
import { EDGE_CF, keep, kept, ORIGIN } from './context-keys.js';

/** The runtime's view of the peer address (Node's socket, Workers' CF-Connecting-IP). */
export type GetClientIp = (c: Context) => string | undefined;

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * Header values are bounded before any split, regex or parser sees them (issue 15 §2): Node
 * caps all headers at 16 KiB, but `app.request`, Bun, Deno and Workers allow far more.
 */
const MAX_MEDIA_TYPE = 256;
const MAX_IP_TEXT = 64; // the longest IPv6 text is 45 characters, brackets and spaces aside
const MAX_FORWARDED_FOR = 8 * 1024;
const MAX_USER_AGENT = 512;
const MAX_LOCATION = 200;

/** The media type of a Content-Type header, bounded before the split. */
const mediaTypeOf = (c: Context) =>
  (c.req.header('content-type') ?? '').slice(0, MAX_MEDIA_TYPE).split(';')[0]!.trim();

const describeIssues = (error: z.ZodError) =>
  error.issues
    .slice(0, 5)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');

/**
 * Reads and validates a JSON body: 415 for another content type, 400 for malformed JSON or
 * a body the schema refuses. `allowEmpty` lets routes that also work from a cookie or a
 * Bearer token (refresh, logout, revoke-all) take no body at all.
 */
export async function readJson<S extends z.ZodType>(
  c: Context,
  schema: S,
  options: { allowEmpty?: boolean } = {},
): Promise<z.output<S>> {
  const text = await c.req.text();
  let value: unknown = {};
  if (text.trim().length > 0) {
    if (!JSON_TYPE.test(mediaTypeOf(c))) {
      throw new AuthError('unsupported_media_type', 'The request body must be application/json');
    }
    try {
      value = JSON.parse(text);
    } catch {
      throw new AuthError('invalid_request', 'The request body is not valid JSON');
    }
  } else if (!options.allowEmpty) {
    throw new AuthError('invalid_request', 'A JSON request body is required');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AuthError('invalid_request', 'The request body must be a JSON object');
  }
  // PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
  if (containsNul(value)) throw new AuthError('invalid_request', 'Strings must not contain NUL characters');
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AuthError('invalid_request', describeIssues(parsed.error));
  return parsed.data;
}

const FORM_TYPE = /^application\/x-www-form-urlencoded$/i;

/**
 * Reads the parameters of an /oauth endpoint: `application/x-www-form-urlencoded` as the
 * RFCs require (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1), or a JSON object (API.md).
 * A parameter sent twice is refused (RFC 6749 §3.2); unknown ones are ignored.
 */
export async function readParams<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  if (!FORM_TYPE.test(mediaTypeOf(c))) return readJson(c, schema, { allowEmpty: true });
  const params = new URLSearchParams(await c.req.text());
  const value: Record<string, string> = {};
  for (const [name, item] of params) {
    if (Object.hasOwn(value, name)) throw new AuthError('invalid_request', `${name} is sent more than once`);
    value[name] = item;
  }
  if (containsNul(value))
    throw new AuthError('invalid_request', 'Parameters must not contain NUL characters');
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AuthError('invalid_request', describeIssues(parsed.error));
  return parsed.data;
}

function containsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (depth > 32 || typeof value !== 'object' || value === null) return false;
  return Object.entries(value).some(([key, item]) => key.includes('\u0000') || containsNul(item, depth + 1));
}

const ipAddress = z.union([z.ipv4(), z.ipv6()]);

/** A value that will be stored in an `inet` column, or null: never let a bad header reach SQL. */
export const validIp = (value: string | undefined): string | null => {
  // Bounded first: no address is longer, and zod's IPv6 regex then sees a short string only.
  if (value === undefined || value.length > MAX_IP_TEXT) return null;
  const candidate = value.trim().replace(/^\[|\]$/g, '');
  if (!candidate || !ipAddress.safeParse(candidate).success) return null;
  // One spelling per address (::ffff:10.0.0.1 is 10.0.0.1; IPv6 compressed, lower case), so
  // the stored address, the binding check and the known-network test all agree.
  return parseAddress(candidate)?.toString() ?? null;
};

/** Header-derived text for the database: no control characters (NUL cannot be stored), bounded. */
const limit = (value: string | undefined, max: number) => {
  // Cut before cleaning: the work is bounded whatever the header's length.
  const trimmed = value
    ?.slice(0, 4 * max)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .trim();
  return trimmed ? trimmed.slice(0, max) : null;
};

/** The client's address: from the connection, or from the configured trusted proxy header. */
function clientIp(c: Context, config: Config, getClientIp: GetClientIp): string | null {
  if (!config.trustedIpHeader) return validIp(getClientIp(c));
  // The right-most entry, found from the end: a long list is never split.
  const header = c.req.header(config.trustedIpHeader)?.slice(-MAX_FORWARDED_FOR);
  return validIp(header?.slice(header.lastIndexOf(',') + 1));
}

/**
 * Where the request came from, for the security events it may cause (issue #15 §8): its id, the
 * client's address (see `requestDevice`) and user agent. Worked out once per request and kept.
 */
export function requestOrigin(c: Context, config: Config, getClientIp: GetClientIp): RequestOrigin {
  let origin = kept(c, ORIGIN);
  if (!origin) {
    origin = {
      requestId: (c.get('requestId') as string | undefined) ?? null,
      ipAddress: clientIp(c, config, getClientIp),
      // ua-parser-js only ever sees this bounded value (the binding check, the account pages).
      userAgent: limit(c.req.header('user-agent'), MAX_USER_AGENT),
    };
    keep(c, ORIGIN, origin);
  }
  return origin;
}

/**
 * Device facts for a session: the request's origin (the IP comes from the connection unless a
 * trusted proxy header is configured; for `X-Forwarded-For`, the right-most entry: the one our
 * own proxy added), and the location, only from the configured edge headers (e.g. `cf-ipcity`).
 */
export function requestDevice(c: Context, config: Config, getClientIp: GetClientIp): RequestDevice {
  const location = config.locationHeaders
    // Bounded before decoding: a cut %XX escape only makes decodeURIComponent fall back.
    .map((name) =>
      c.req
        .header(name)
        ?.slice(0, 3 * MAX_LOCATION)
        .trim(),
    )
    .filter((value): value is string => Boolean(value))
    .map((value) => {
      try {
        return decodeURIComponent(value);
      } catch {
        return value;
      }
    })
    .join(', ');
  const country = config.countryHeader ? c.req.header(config.countryHeader) : edgeCountry(c);
  return {
    ...requestOrigin(c, config, getClientIp),
    location: limit(location || edgeLocation(c), MAX_LOCATION),
    country:
      country && country.length <= 8 && /^[A-Za-z0-9]{2}$/.test(country.trim())
        ? country.trim().toUpperCase()
        : null,
  };
}

/** Cloudflare's `request.cf.country` on Workers (it sets "XX" when it does not know, "T1" for Tor). */
function edgeCountry(c: Context): string | undefined {
  const cf = kept(c, EDGE_CF);
  return typeof cf?.country === 'string' ? cf.country : undefined;
}

/**
 * On Cloudflare Workers, where Cloudflare (not the client) sets `request.cf`: "City, CC".
 * Elsewhere a Request has no `cf`, and nothing a client sends can make one.
 */
function edgeLocation(c: Context): string {
  const cf = kept(c, EDGE_CF);
  if (!cf) return '';
  return [cf.city, cf.country]
    .filter((part): part is string => typeof part === 'string' && part !== '')
    .join(', ');
}

/** What services/dpop.ts needs of a request: its `DPoP` header (Headers joins two with a comma: refused), method and path. */
export function dpopFacts(c: Context): { proofs: string[]; method: string; path: string } {
  const proof = c.req.header('dpop');
  return { proofs: proof === undefined ? [] : [proof], method: c.req.method, path: c.req.path };
}

/**
 * A token request's device, with the key of its DPoP proof when it sent one (RFC 9449 §5),
 * checked and remembered before any work; `clientId` when the route knows it. For every route
 * that hands out tokens: /v1/auth/* and /oauth/token.
 */
export async function tokenRequestDevice(
  c: Context,
  deps: { config: Config; getClientIp: GetClientIp; dpop: DpopProofs },
  clientId?: string,
): Promise<RequestDevice> {
  return {
    ...requestDevice(c, deps.config, deps.getClientIp),
    dpopJkt: await deps.dpop.tokenRequestKey(dpopFacts(c), clientId),
  };
}
