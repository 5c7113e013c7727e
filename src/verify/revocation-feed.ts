import { createRefreshSchedule } from './refresh-schedule.js';

/**
 * The client side of the server's revoked-sessions feed (`GET /oauth/revoked-sessions`):
 * the ids of sessions revoked within the last access-token lifetime. Access tokens are
 * stateless; with this list a resource server refuses the tokens of a revoked session
 * within `maxDelayMs` of the revocation, without a call per request.
 *
 * Polled on traffic by a RefreshSchedule (refresh-schedule.ts); `If-None-Match` makes an
 * unchanged feed a 304. When the feed cannot be fetched, verification goes on with the last
 * list (tokens still expire within their lifetime) and `onError` hears about it.
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
  let revoked = new Set<string>();
  let etag: string | undefined;
  const schedule = createRefreshSchedule({ now, maxAgeMs: maxDelayMs, fetch: poll });

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
        schedule.fetched(askedAt);
        return;
      }
      if (!response.ok) throw new Error(`the revocation feed answered HTTP ${response.status}`);
      const body: unknown = await response.json();
      if (!isFeedBody(body)) throw new Error('the revocation feed sent an unexpected body');
      revoked = new Set(body.revoked_sessions.map((entry) => entry.sid));
      etag = response.headers.get('etag') ?? undefined;
      schedule.fetched(askedAt);
    } catch (error) {
      schedule.failed();
      try {
        options.onError?.(error);
      } catch {
        // A failing error handler must not fail verifications (nor leave a rejection unhandled).
      }
    }
  }

  return {
    ready: () => schedule.ready(),
    isRevoked: (sessionId) => revoked.has(sessionId),
    refresh: () => schedule.refresh(),
  };
}
