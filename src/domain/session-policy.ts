/** Session and refresh token lifetimes as pure functions of `now`. */

export interface SessionPolicy {
  refreshTokenTtlMs: number;
  sessionTtlMs: number;
  sessionRememberTtlMs: number;
  maxSessionsPerUser: number;
}

export function sessionExpiry(remembered: boolean, now: Date, policy: SessionPolicy): Date {
  return new Date(now.getTime() + (remembered ? policy.sessionRememberTtlMs : policy.sessionTtlMs));
}

/**
 * A refresh token lives its TTL from its last rotation, and never past its session (API.md,
 * Tokens). Rotation happens in one SQL statement that never reads the session's end into
 * TypeScript, so the store is handed `refreshTokenDeadline` and applies the second half,
 * `LEAST(deadline, session_expires_at)` (src/adapters/db/token-rows.ts); the store contract
 * suite checks both halves agree with this function.
 */
export function refreshTokenExpiry(now: Date, sessionExpiresAt: Date, policy: SessionPolicy): Date {
  return new Date(Math.min(refreshTokenDeadline(now, policy).getTime(), sessionExpiresAt.getTime()));
}

/** The refresh token's own lifetime from `now`, before its session's end caps it. */
export function refreshTokenDeadline(now: Date, policy: Pick<SessionPolicy, 'refreshTokenTtlMs'>): Date {
  return new Date(now.getTime() + policy.refreshTokenTtlMs);
}

/** What a login does at the session limit (SESSION_LIMIT_POLICY, API.md "Sessions"). */
export type SessionLimitPolicy = 'evict' | 'reject';

/**
 * Whether one more session may open for a user whose live sessions are `liveNewestFirst`
 * (most recently active first), and which of them make room: with `evict`, the least recently
 * active ones beyond `maxSessions - 1`; with `reject`, none, and the login is refused (it may
 * be held for the user to choose one to sign out). The store applies the decision in the same
 * transaction, under the user's lock, so parallel logins cannot all see room.
 */
export function admitSession(
  liveNewestFirst: readonly string[],
  maxSessions: number,
  policy: SessionLimitPolicy,
): { admitted: true; evict: string[] } | { admitted: false } {
  const full = liveNewestFirst.length >= maxSessions;
  if (full && policy === 'reject') return { admitted: false };
  return { admitted: true, evict: liveNewestFirst.slice(Math.max(0, maxSessions - 1)) };
}
