import { errors } from 'jose';
import { BearerError, tokenRefused } from '../domain/bearer.js';
import { isLoopbackHost } from '../lib/hosts.js';
import { trimEnd } from '../lib/text.js';
import {
  type AccessTokenClaims,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  type KeyResolver,
  SIGNING_ALGORITHMS,
  type SigningAlgorithm,
  verifyAccessToken,
} from './claims.js';
import { type DpopOptions, MemoryDpopReplayCache, parsePublicUrl, type ResolvedDpopOptions } from './dpop.js';
import { VerifierUnavailableError } from './errors.js';
import { createKeySet, DEFAULT_JWKS_MAX_AGE_SECONDS } from './key-set.js';
import { createRevocationFeed, type FetchLike, type RevocationFeed } from './revocation-feed.js';
import { VerifiedTokenCache } from './token-cache.js';

export interface VerifierOptions {
  /** The Latchkey server's `ISSUER`, e.g. `https://auth.example.com`. */
  issuer: string;
  /** The audience (or audiences) this API accepts: the server's `AUDIENCE`. */
  audience: string | string[];
  /** Defaults to `<issuer>/.well-known/jwks.json`. */
  jwksUri?: string;
  /**
   * How old the copy of the JWKS may get, seconds (default 30): it is refetched on traffic,
   * and a key no longer published (withdrawn by `keys:rotate --now`, a compromised key) is
   * dropped with the cached tokens it signed. So its tokens are refused within this time.
   */
  jwksMaxAgeSeconds?: number;
  /** Defaults to the algorithms Latchkey signs with (EdDSA, ES256); never anything else. */
  algorithms?: SigningAlgorithm[];
  /** Clock skew allowed on `exp`, seconds (default 5). */
  clockToleranceSeconds?: number;
  /** Verified tokens kept so a repeat costs a lookup (default 10 000; 0 turns the cache off). */
  cacheSize?: number;
  /**
   * The revoked-sessions feed: tokens of a session revoked more than `maxDelaySeconds` ago
   * (default 30) are refused. `false` turns it off: tokens are then good until `exp`.
   */
  revocation?: false | { feedUri?: string; maxDelaySeconds?: number; onError?: (error: unknown) => void };
  /** A fetch to use instead of the global one (a proxy, a test). */
  fetch?: FetchLike;
  /** The clock, in ms since the epoch (default `Date.now`); for tests. */
  now?: () => number;
  /**
   * DPoP-bound tokens (RFC 9449): the API's public URL, which proofs name, and the replay cache
   * (an in-memory one per process by default; share one across instances). See src/verify/dpop.ts.
   */
  dpop?: DpopOptions;
}

export interface Verifier {
  /** The claims of a valid access token of a session not known to be revoked; throws `BearerError`. */
  verify(token: string): Promise<Readonly<AccessTokenClaims>>;
  /** The verifier's clock. */
  now(): Date;
  /** Fetches the revoked-sessions feed now (say, at start). */
  refreshRevocations(): Promise<void>;
  readonly cachedTokens: number;
  /**
   * How DPoP proofs are checked (`authenticateRequest` with a request, the Hono middleware); a
   * verifier without it accepts no DPoP-bound token.
   */
  readonly dpop?: ResolvedDpopOptions;
}

export { VerifierUnavailableError };

/** Keys and revocations are trusted input: fetch them over TLS (loopback excepted, for development). */
function trustedUrl(value: string, what: string): URL {
  const url = new URL(value);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw new TypeError(`${what} must be an https:// URL (http:// only on loopback): ${value}`);
  }
  return url;
}

/**
 * A verifier for Latchkey access tokens, for resource servers: offline (JWKS cached by jose,
 * refetched on an unknown `kid` at most every 30 s, so a rotated key is picked up by itself,
 * and every `jwksMaxAgeSeconds`, so a withdrawn one is dropped: src/verify/key-set.ts),
 * pinned to Latchkey's algorithms, `typ: at+jwt`, the issuer and the audience; repeated
 * tokens are answered from a cache; revoked sessions are learnt from the feed.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const issuer = trimEnd(options.issuer, '/');
  const fetchImpl: FetchLike = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  const now = options.now ?? Date.now;
  const toleranceSeconds = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  const cache = new VerifiedTokenCache(options.cacheSize ?? 10_000, toleranceSeconds * 1000);
  const keys = createKeySet({
    url: trustedUrl(options.jwksUri ?? `${issuer}/.well-known/jwks.json`, 'jwksUri'),
    fetch: fetchImpl,
    now,
    maxAgeMs: (options.jwksMaxAgeSeconds ?? DEFAULT_JWKS_MAX_AGE_SECONDS) * 1000,
    // A token verified under a key the server no longer publishes is no longer good.
    onWithdrawn: (kids) => cache.dropSignedBy(kids),
  });
  // No key for the token's kid is the token's fault (401); a JWKS that cannot be fetched or
  // read (network, timeout, a non-200 answer, a body that is not a key set) is not (503).
  const jwks: KeyResolver = async (header) => {
    try {
      return await keys.resolve(header);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
        throw error;
      throw new VerifierUnavailableError('The signing keys could not be fetched', { cause: error });
    }
  };
  const rules = {
    issuer,
    audience: options.audience,
    algorithms: options.algorithms ?? SIGNING_ALGORITHMS,
    clockToleranceSeconds: toleranceSeconds,
  };
  const feed: RevocationFeed | undefined =
    options.revocation === false
      ? undefined
      : createRevocationFeed({
          url: trustedUrl(options.revocation?.feedUri ?? `${issuer}/oauth/revoked-sessions`, 'feedUri').href,
          maxDelayMs: (options.revocation?.maxDelaySeconds ?? 30) * 1000,
          fetch: fetchImpl,
          now,
          ...(options.revocation?.onError ? { onError: options.revocation.onError } : {}),
        });

  async function verify(token: string): Promise<Readonly<AccessTokenClaims>> {
    const waitForKeys = keys.ready();
    const waitForFeed = feed?.ready();
    if (waitForKeys || waitForFeed) await Promise.all([waitForKeys, waitForFeed]);
    const at = now();
    let claims = cache.get(token, at);
    if (claims === undefined) {
      try {
        let kid: string | undefined;
        const verified = await verifyAccessToken(
          token,
          (header) => {
            kid = header.kid;
            return jwks(header);
          },
          rules,
          new Date(at),
        );
        claims = cache.set(token, verified);
        // Its key withdrawn while the signature was being checked: good this once, not kept.
        if (kid !== undefined && !keys.publishes(kid)) cache.delete(token);
      } catch (error) {
        if (error instanceof BearerError || error instanceof VerifierUnavailableError) throw error;
        throw new VerifierUnavailableError('The token could not be verified', { cause: error });
      }
    }
    if (feed?.isRevoked(claims.sid)) {
      throw tokenRefused('session_ended', 'The session of this access token has ended');
    }
    return claims;
  }

  const dpop: ResolvedDpopOptions = {
    replayCache: options.dpop?.replayCache ?? new MemoryDpopReplayCache({ now }),
  };
  if (options.dpop?.publicUrl !== undefined) dpop.publicUrl = parsePublicUrl(options.dpop.publicUrl);

  return {
    verify,
    now: () => new Date(now()),
    dpop,
    refreshRevocations: () => feed?.refresh() ?? Promise.resolve(),
    get cachedTokens() {
      return cache.size;
    },
  };
}
