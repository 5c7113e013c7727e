/**
 * When the kit refreshes a copy of something the server publishes (the JWKS, the
 * revoked-sessions feed). It rides on traffic, so it works the same on a long-running server
 * and on an edge runtime with no timers: a verification that finds the copy older than half
 * of `maxAgeMs` starts a refresh in the background; one that finds it older than all of it
 * waits for that refresh. Requests share the one refresh in flight. When fetching fails,
 * verification goes on with the last copy and the next attempt waits `retryMs`, so an outage
 * costs no request a wait.
 */
export interface RefreshSchedule {
  /** Undefined when the copy is fresh enough; otherwise a promise to await first (never rejects). */
  ready(): Promise<void> | undefined;
  /** Fetches now (shares a fetch in flight). */
  refresh(): Promise<void>;
  /** A fetch that began at `askedAt` (on `now`'s clock) brought a good copy. */
  fetched(askedAt: number): void;
  /** A fetch failed: the last copy stays, and the next try waits `retryMs`. */
  failed(): void;
}

export function createRefreshSchedule(options: {
  now: () => number;
  maxAgeMs: number;
  /** Fetches and reports through `fetched` or `failed`; must not reject. */
  fetch: () => Promise<void>;
}): RefreshSchedule {
  const { now, maxAgeMs } = options;
  const retryMs = Math.min(5_000, maxAgeMs / 2);
  let fetchedAt = Number.NEGATIVE_INFINITY;
  let failedAt = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;

  function refresh(): Promise<void> {
    inflight ??= options.fetch().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  return {
    ready() {
      const at = now();
      const age = at - fetchedAt;
      if (age < maxAgeMs / 2) return undefined;
      // Wait only when the copy is too old and the source was answering: during an outage
      // requests go on with the last copy instead of queueing behind a timeout.
      const wait = age >= maxAgeMs && failedAt <= fetchedAt;
      if (inflight) return wait ? inflight : undefined;
      if (at - failedAt < retryMs) return undefined;
      const pending = refresh();
      return wait ? pending : undefined;
    },
    refresh,
    fetched(askedAt) {
      fetchedAt = Math.max(fetchedAt, askedAt);
    },
    failed() {
      failedAt = now();
    },
  };
}
