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

/** A refresh token lives its TTL from its last rotation, and never past its session (API.md, Tokens). */
export function refreshTokenExpiry(now: Date, sessionExpiresAt: Date, policy: SessionPolicy): Date {
  return new Date(Math.min(now.getTime() + policy.refreshTokenTtlMs, sessionExpiresAt.getTime()));
}
