import type { DpopContext } from '../domain/bearer.js';
import { trimEnd } from '../lib/text.js';
import { VerifierUnavailableError } from './errors.js';

/**
 * DPoP-bound access tokens in the kit (RFC 9449 §7): what the resource server adds to the
 * shared proof rules of src/domain/dpop.ts: the URL the client addressed, the request's `DPoP`
 * headers, and a replay cache. The proof itself is checked by `authorizeBearer`
 * (src/domain/bearer.ts), the same code as on the Latchkey server's own routes.
 */

/**
 * Where the kit remembers the proofs it accepted, so that none is accepted twice (RFC 9449
 * §11.1: the `jti` of every proof seen within its acceptance window). `remember` records `key`
 * until `until` and answers true when the key was not there (a first use), false when it was (a
 * replay), as one atomic step: two requests racing with one proof must not both get true. Every
 * instance that accepts the same tokens must share one cache; the in-memory default is per
 * process. A cache that throws makes the request a 503 (VerifierUnavailableError), never a 401.
 */
export interface DpopReplayCache {
  remember(key: string, until: Date): Promise<boolean> | boolean;
}

export interface MemoryDpopReplayCacheOptions {
  /** How many proofs it holds at most (default 100 000: see the class). */
  maxEntries?: number;
  /** The clock, ms since the epoch (default `Date.now`). */
  now?: () => number;
}

export const DEFAULT_MAX_REPLAY_ENTRIES = 100_000;

/**
 * The default replay cache: a Map in this process. Each proof is kept until its `until` (its
 * `iat` window has then passed: an older proof is refused on its `iat`), and expired entries are
 * swept from the front on every call (insertion order is expiry order, within the few seconds
 * of clock tolerance). Bounded: when `maxEntries` unexpired proofs are held, a new proof is
 * refused (VerifierUnavailableError: a 503 with Retry-After) rather than an unexpired entry
 * forgotten, because forgetting one would let that proof be replayed. Only proofs that passed
 * every other check reach the cache (a valid token, a proof signed by its key), so a flood must
 * come from a holder of a bound token. 100 000 entries measured on Node: 14 MiB with UUID
 * `jti`s, 36 MiB with the longest accepted (256 characters).
 */
export class MemoryDpopReplayCache implements DpopReplayCache {
  readonly maxEntries: number;
  readonly #now: () => number;
  /** key → until, ms. */
  readonly #entries = new Map<string, number>();

  constructor(options: MemoryDpopReplayCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_REPLAY_ENTRIES;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  remember(key: string, until: Date): boolean {
    const now = this.#now();
    for (const [oldest, expires] of this.#entries) {
      if (expires > now) break;
      this.#entries.delete(oldest);
    }
    const seen = this.#entries.get(key);
    if (seen !== undefined) {
      if (seen > now) return false;
      this.#entries.delete(key); // expired, behind a later entry: goes to the end again
    }
    if (this.#entries.size >= this.maxEntries) {
      throw new VerifierUnavailableError('Too many DPoP proofs in the last minute: try again shortly');
    }
    this.#entries.set(key, until.getTime());
    return true;
  }
}

/** The DPoP settings of a verifier (`createVerifier({ dpop })`). */
export interface DpopOptions {
  /**
   * This API's public base URL, as clients address it: `https://api.example.com`, or
   * `https://example.com/api` behind a proxy that forwards `/api/orders` as `/orders`. A proof's
   * `htu` must then be this followed by the request's path (RFC 9449 §4.3 item 9), whatever the
   * request's `Host` header says. Without it the request's own URL is used: a fetch `Request.url`,
   * which Node adapters (@hono/node-server, and the like) build from the `Host` header that any
   * client can set; and a request whose url is a bare path (`node:http`, Express) cannot be checked.
   */
  publicUrl?: string;
  /** Where accepted proofs are remembered (RFC 9449 §11.1); default: a MemoryDpopReplayCache, per process. */
  replayCache?: DpopReplayCache;
}

export interface ResolvedDpopOptions {
  publicUrl?: string;
  replayCache: DpopReplayCache;
}

/**
 * A request as the kit reads it: a fetch `Request` (Hono's `c.req.raw`, Workers, Deno, Bun), or
 * `{ method, url, headers }` of a Node request (Express's `req`; `url` may then be the path,
 * resolved against `publicUrl`; `headers` with lower-case names, as Node gives them).
 */
export interface RequestLike {
  method: string;
  url: string;
  headers: { get(name: string): string | null } | Readonly<Record<string, string | string[] | undefined>>;
}

/** Long enough for any URL a client sends; a longer one is not looked at (its proof is refused). */
const MAX_URL_LENGTH = 8192;

/** `publicUrl` checked once, at createVerifier: an http(s) URL with no query, fragment or credentials. */
export function parsePublicUrl(value: string): string {
  let url: URL | undefined;
  try {
    url = value.length <= MAX_URL_LENGTH ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (
    !url ||
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    url.username ||
    url.password ||
    url.search ||
    url.hash
  ) {
    throw new TypeError(`dpop.publicUrl must be an http(s) URL without query or fragment: ${value}`);
  }
  return `${url.protocol}//${url.host}${trimEnd(url.pathname, '/')}`;
}

const isAbsoluteHttpUrl = (url: string) => {
  const start = url.slice(0, 8).toLowerCase();
  return start.startsWith('http://') || start.startsWith('https://');
};

/**
 * The URL the client addressed, for the `htu` check (RFC 9449 §4.3 item 9, which ignores query
 * and fragment): `publicUrl` and the request's path when configured, else the request's own
 * absolute URL. An over-long or unparsable url gives '', which no `htu` matches.
 */
export function addressedUrl(options: Pick<ResolvedDpopOptions, 'publicUrl'>, request: RequestLike): string {
  const { url } = request;
  if (url.length > MAX_URL_LENGTH) return '';
  if (options.publicUrl === undefined) {
    if (!isAbsoluteHttpUrl(url)) {
      throw new TypeError(
        'A DPoP proof cannot be checked against a request url without scheme and host: set the verifier option dpop.publicUrl',
      );
    }
    return url;
  }
  if (url.startsWith('/')) return `${options.publicUrl}${url}`;
  if (!isAbsoluteHttpUrl(url)) return '';
  try {
    const parsed = new URL(url);
    return `${options.publicUrl}${parsed.pathname}${parsed.search}`;
  } catch {
    return '';
  }
}

/** Every value of a request header: a fetch `Headers` joins repeats with ", " (refused for DPoP). */
export function headerValues(headers: RequestLike['headers'], name: string): string[] {
  if (typeof headers.get === 'function') {
    const value = (headers as { get(name: string): string | null }).get(name);
    return value === null ? [] : [value];
  }
  const value = (headers as Readonly<Record<string, string | string[] | undefined>>)[name];
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : [...value];
}

/** The `Authorization` header of a request; undefined when absent or repeated. */
export function authorizationOf(request: RequestLike): string | undefined {
  const values = headerValues(request.headers, 'authorization');
  return values.length === 1 ? values[0] : undefined;
}

/**
 * What `authorizeBearer` needs to check a DPoP-bound token's proof on this request. The URL is
 * worked out only if a bound token is presented (a misconfigured server throws its TypeError
 * then, not on every request); the replay key is the proof's key and `jti` (RFC 9449 §11.1:
 * `jti` is unique per key), and the proof is remembered only after every other check passed.
 */
export function dpopContextFor(options: ResolvedDpopOptions, request: RequestLike): DpopContext {
  return {
    method: request.method,
    get url() {
      return addressedUrl(options, request);
    },
    proofs: headerValues(request.headers, 'dpop'),
    async remember(proof) {
      try {
        return (await options.replayCache.remember(`${proof.jkt}.${proof.jti}`, proof.replayUntil)) === true;
      } catch (error) {
        if (error instanceof VerifierUnavailableError) throw error;
        throw new VerifierUnavailableError('The DPoP replay cache could not be reached', { cause: error });
      }
    },
  };
}
