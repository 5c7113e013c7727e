/**
 * The client side of the server's revoked-sessions feed (`GET /oauth/revoked-sessions`):
 * the ids of sessions revoked within the last access-token lifetime. Access tokens are
 * stateless; with this list a resource server refuses the tokens of a revoked session
 * within `maxDelayMs` of the revocation, without a call per request.
 *
 * Polling rides on traffic, so it works the same on a long-running server and on an edge
 * runtime with no timers: a verification that finds the list older than half the delay
 * starts a refresh in the background; one that finds it older than the whole delay waits
 * for that refresh. Requests share the one refresh in flight, and `If-None-Match` makes an
 * unchanged feed a 304. When the feed cannot be fetched, verification goes on with the last
 * list (tokens still expire within their lifetime) and `onError` hears about it; the next
 * attempt waits `retryMs`, so an outage costs no request a wait.
 */

export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

export interface RevocationFeedOptions {
  url: string;
  maxDelayMs: number;
  fetch: FetchLike;
  now: () => number;
  timeoutMs?: number;
  onError?: (error: unknown) => void;
}

export interface RevocationFeed {
  /** Undefined when the list is fresh enough; otherwise a promise to await first (never rejects). */
  ready(): Promise<void> | undefined;
  isRevoked(sessionId: string): boolean;
  /** Fetches now (shares a fetch in flight). */
  refresh(): Promise<void>;
}

interface FeedBody {
  revoked_sessions: { sid: string }[];
}

const isFeedBody = (value: unknown): value is FeedBody =>
  typeof value === 'object' &&
  value !== null &&
  Array.isArray((value as FeedBody).revoked_sessions) &&
  (value as FeedBody).revoked_sessions.every((entry) => typeof entry?.sid === 'string');

export function createRevocationFeed(options: RevocationFeedOptions): RevocationFeed {
  const { url, maxDelayMs, now } = options;
  const retryMs = Math.min(5_000, maxDelayMs / 2);
  let revoked = new Set<string>();
  let fetchedAt = Number.NEGATIVE_INFINITY;
  let failedAt = Number.NEGATIVE_INFINITY;
  let etag: string | undefined;
  let inflight: Promise<void> | undefined;

  async function poll(): Promise<void> {
    // The list reflects the server as of (at least) when we asked.
    const askedAt = now();
    try {
      const response = await options.fetch(url, {
        headers: etag
          ? { 'if-none-match': etag, accept: 'application/json' }
          : { accept: 'application/json' },
        signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
      });
      if (response.status === 304) {
        fetchedAt = askedAt;
        return;
      }
      if (!response.ok) throw new Error(`the revocation feed answered HTTP ${response.status}`);
      const body: unknown = await response.json();
      if (!isFeedBody(body)) throw new Error('the revocation feed sent an unexpected body');
      revoked = new Set(body.revoked_sessions.map((entry) => entry.sid));
      etag = response.headers.get('etag') ?? undefined;
      fetchedAt = askedAt;
    } catch (error) {
      failedAt = now();
      try {
        options.onError?.(error);
      } catch {
        // A failing error handler must not fail verifications (nor leave a rejection unhandled).
      }
    }
  }

  function refresh(): Promise<void> {
    inflight ??= poll().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  return {
    ready() {
      const at = now();
      const age = at - fetchedAt;
      if (age < maxDelayMs / 2) return undefined;
      // Wait only when the list is too old and the feed was answering: during an outage
      // requests go on with the last list instead of queueing behind a timeout.
      const wait = age >= maxDelayMs && failedAt <= fetchedAt;
      if (inflight) return wait ? inflight : undefined;
      if (at - failedAt < retryMs) return undefined;
      const pending = refresh();
      return wait ? pending : undefined;
    },
    isRevoked: (sessionId) => revoked.has(sessionId),
    refresh,
  };
}
