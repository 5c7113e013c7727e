import {
  createRemoteJWKSet,
  customFetch,
  type ExportedJWKSCache,
  type JWKSCacheInput,
  jwksCache,
} from 'jose';
import type { KeyResolver } from './claims.js';
import { createRefreshSchedule } from './refresh-schedule.js';
import type { FetchLike } from './revocation-feed.js';

/**
 * The kit's copy of the server's JWKS. jose fetches, caches, selects and imports the keys
 * (refetching on an unknown `kid` at most every 30 s); this adds what a withdrawn key needs:
 *
 * - the copy is refetched when it is `maxAgeMs` old, riding on traffic like the revocation
 *   feed (works without timers, on edge runtimes too): a verification that finds it older
 *   than half of that refetches in the background, one that finds it older than all of it
 *   waits for the refetch. When the JWKS cannot be fetched, the last copy is kept (jose's
 *   own limit, 10 minutes, still applies to tokens not in the cache) and the next attempt
 *   waits `retryMs`, so an outage costs no request a wait;
 * - after any fetch (ours or jose's), the kids that left the set are reported to
 *   `onWithdrawn`, so the verified-token cache drops the tokens they signed. A key leaves
 *   the JWKS when its last token has expired (scheduled rotation: nothing left to drop) or
 *   when `keys:rotate --now` withdrew it (a compromised key: its tokens must go now).
 */

/** How old the kit lets its copy of the JWKS get, by default: a withdrawn key is refused within it. */
export const DEFAULT_JWKS_MAX_AGE_SECONDS = 30;

export interface KeySetOptions {
  url: URL;
  fetch: FetchLike;
  now: () => number;
  maxAgeMs: number;
  onWithdrawn: (kids: ReadonlySet<string>) => void;
}

export interface KeySet {
  /** jose's resolver: the key for a header's `kid` and `alg` (fetching on first use). */
  resolve: KeyResolver;
  /** Undefined when the copy is fresh enough; otherwise a promise to await first (never rejects). */
  ready(): Promise<void> | undefined;
  /** Whether the last fetched JWKS publishes `kid`. */
  publishes(kid: string): boolean;
}

export function createKeySet(options: KeySetOptions): KeySet {
  const { now, maxAgeMs } = options;
  // jose writes each JWKS it fetches here (its `jwksCache` option), `uat` moving every time.
  const fetched: Partial<ExportedJWKSCache> = {};
  const remote = createRemoteJWKSet(options.url, {
    cooldownDuration: 30_000,
    cacheMaxAge: 600_000,
    [customFetch]: options.fetch,
    [jwksCache]: fetched as JWKSCacheInput,
  });
  let seenUat: number | undefined;
  let kids = new Set<string>();
  const schedule = createRefreshSchedule({
    now,
    maxAgeMs,
    async fetch() {
      const askedAt = now();
      try {
        await remote.reload();
        sync(askedAt);
      } catch {
        // The last copy stays; jose's own fetch on a token not in the cache reports the outage (503).
        schedule.failed();
      }
    },
  });

  /** After a fetch that began at `askedAt` (on our clock): note it, and report the kids that left. */
  function sync(askedAt: number): void {
    if (fetched.uat === undefined || fetched.uat === seenUat || !fetched.jwks) return;
    seenUat = fetched.uat;
    schedule.fetched(askedAt);
    const next = new Set<string>();
    for (const key of fetched.jwks.keys) if (typeof key.kid === 'string') next.add(key.kid);
    const gone = new Set([...kids].filter((kid) => !next.has(kid)));
    kids = next;
    if (gone.size > 0) options.onWithdrawn(gone);
  }

  return {
    async resolve(header) {
      const askedAt = now();
      try {
        return await remote(header);
      } finally {
        sync(askedAt);
      }
    },

    // The first fetch is jose's, for the first token: nothing to refresh before it.
    ready: () => (seenUat === undefined ? undefined : schedule.ready()),

    publishes: (kid) => kids.has(kid),
  };
}
