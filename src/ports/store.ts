import type { RefreshTokenState } from '../domain/refresh-decision.js';
import type { MfaStore, PendingLogin } from './mfa-store.js';

/**
 * The persistence port. Methods are named after what the auth flows need and each one is
 * atomic on its own (one statement or one transaction inside the adapter), so services
 * never hold a transaction open across a password hash or a signature.
 */

import type { AuthenticatorAssurance } from '../domain/assurance.js';
import type { SessionStats } from './metrics.js';

export type { AuthenticatorAssurance };

export interface UserRecord {
  id: string;
  email: string;
  name: string | null;
  passwordHash: string;
  mfaEnabled: boolean;
  createdAt: Date;
  passwordChangedAt: Date | null;
  role: UserRole;
  /** When an admin disabled the account; null while it may log in. */
  disabledAt: Date | null;
}

export type UserRole = 'user' | 'admin';

export interface DeviceInfo {
  ipAddress: string | null;
  userAgent: string | null;
  location: string | null;
}

/** What a session carries into every access token it mints. */
export interface SessionGrant {
  sessionId: string;
  userId: string;
  clientId: string;
  acr: AuthenticatorAssurance;
  amr: string[];
  authTime: Date;
  remembered: boolean;
}

/** The session's live refresh token, as the store saw it after an insert or a rotation. */
export interface RefreshTokenGrant extends SessionGrant {
  expiresAt: Date;
  /** After a rotation: the IP and user agent the replaced token was last used from. */
  previousDevice?: { ipAddress: string | null; userAgent: string | null };
}

export interface StoredRefreshToken extends RefreshTokenGrant, RefreshTokenState {
  tokenHash: string;
  issuedAt: Date;
  /** The device the token was issued to (its rotation's request), for SESSION_BINDING. */
  ipAddress: string | null;
  userAgent: string | null;
}

/** A login held at the session limit, with the assurance it already reached. */
export interface LoginHold extends PendingLogin {
  acr: AuthenticatorAssurance;
  amr: string[];
  authTime: Date;
  /** The device that was held; the one finishing the login is compared with it (SESSION_BINDING). */
  ipAddress: string | null;
  userAgent: string | null;
}

export interface NewSession extends SessionGrant, DeviceInfo {
  tokenHash: string;
  deviceName: string | null;
  createdAt: Date;
  sessionExpiresAt: Date;
  tokenExpiresAt: Date;
}

export interface RotateRefreshToken {
  presentedHash: string;
  successorHash: string;
  clientId: string;
  now: Date;
  refreshTokenTtlMs: number;
  /** The refreshing request's device facts; absent values keep the session's. */
  device: DeviceInfo;
}

export interface SessionView {
  id: string;
  deviceName: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  location: string | null;
  createdAt: Date;
  lastActiveAt: Date;
  expiresAt: Date;
  remembered: boolean;
  acr: AuthenticatorAssurance;
}

export type RevokeReason =
  | 'logout'
  | 'revoked_by_user'
  | 'revoke_all'
  | 'password_changed'
  | 'reuse_detected'
  | 'session_limit'
  | 'stepped_up'
  | 'mfa_disabled'
  | 'binding_mismatch'
  | 'revoked_by_admin'
  | 'user_disabled'
  | 'mfa_reset';

export type SecurityEventType =
  | 'user_registered'
  | 'login_succeeded'
  | 'login_failed'
  | 'login_throttled'
  | 'refresh_token_reused'
  | 'session_revoked'
  | 'sessions_revoked'
  | 'password_changed'
  | 'password_change_failed'
  | 'mfa_enabled'
  | 'mfa_disabled'
  | 'mfa_failed'
  | 'mfa_throttled'
  | 'mfa_login_succeeded'
  | 'recovery_code_used'
  | 'recovery_codes_regenerated'
  | 'step_up'
  | 'session_binding_mismatch'
  /** Admin actions, on the target user's log; `details.admin_id` names the admin. */
  | 'admin_session_revoked'
  | 'admin_sessions_revoked'
  | 'admin_user_disabled'
  | 'admin_user_enabled'
  | 'admin_mfa_reset'
  /** An operator granted or took the admin role (`npm run cli -- users:role`). */
  | 'role_changed';

export interface SecurityEvent {
  userId: string;
  sessionId?: string | null;
  type: SecurityEventType;
  ipAddress?: string | null;
  userAgent?: string | null;
  details?: Record<string, unknown>;
  at: Date;
}

export interface StoredSecurityEvent {
  id: string;
  type: string;
  sessionId: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  details: Record<string, unknown> | null;
  at: Date;
}

/**
 * What cleanup removes, each past its own cutoff: refresh tokens past their expiry (a replay
 * of one is then unknown rather than reuse, harmless since it expired), used or expired
 * `mfa_token` challenges, the token rows of sessions revoked longer ago than their retention, ended rate-limit windows, old security events, and signing keys
 * retired so long ago that no token they signed is alive (their private halves go too).
 */
export type CleanupTable =
  | 'refresh_tokens'
  | 'revoked_sessions'
  | 'mfa_challenges'
  | 'rate_limits'
  | 'security_events'
  | 'signing_keys'
  | 'login_holds';

export interface StoredSigningKey {
  kid: string;
  alg: string;
  publicJwk: Record<string, unknown>;
  /** The private JWK, sealed with AES-256-GCM under a key derived from the master secret. */
  privateKeySealed: string;
  encryptionKeyId: string;
  /** Published in the JWKS from here on. */
  createdAt: Date;
  /** Signs from here on: a rotated-in key is published for a while before it signs. */
  activatesAt: Date;
  /** Stops signing here (the next key's `activatesAt`); published a token lifetime longer. */
  retiredAt: Date | null;
}

/** A page of the admin's user search: by email prefix or exact id, in email order. */
export interface UserSearch {
  emailPrefix?: string;
  id?: string;
  limit: number;
  /** Keyset paging: emails strictly after this one. */
  afterEmail?: string;
}

export interface AdminUserView {
  id: string;
  email: string;
  name: string | null;
  role: UserRole;
  mfaEnabled: boolean;
  createdAt: Date;
  disabledAt: Date | null;
  liveSessions: number;
}

/** Counts for a day (UTC), `YYYY-MM-DD`. */
export interface DayCount {
  day: string;
  count: number;
}

/**
 * The raw figures of GET /v1/admin/analytics, each from one bounded, indexed query
 * (src/adapters/db/analytics-queries.ts); the service shapes them.
 */
export interface AnalyticsFigures {
  /** Live sessions per user, for users with at least one. */
  liveSessionsPerUser: {
    users: number;
    sessions: number;
    p50: number;
    p90: number;
    p99: number;
    max: number;
  };
  /** Sessions opened per day (one `login_succeeded` event each) since `since`. */
  sessionsCreated: DayCount[];
  /** Durations in seconds of sessions ended by revocation since `since` (not step-ups), bucketed. */
  endedSessionDurations: { upToSeconds: number | null; count: number }[];
  /** Ages in seconds of the live sessions, bucketed the same way. */
  liveSessionAges: { upToSeconds: number | null; count: number }[];
  loginsByCountry: { country: string | null; count: number }[];
  /** Logins per user-agent string (the most frequent first, at most `userAgentLimit`). */
  loginsByUserAgent: { userAgent: string | null; count: number }[];
  reuseDetections: DayCount[];
  throttled: DayCount[];
}

export interface Store extends MfaStore {
  /** Throws when the database cannot answer. */
  ping(): Promise<void>;

  createUser(input: {
    id: string;
    email: string;
    name: string | null;
    passwordHash: string;
    now: Date;
  }): Promise<UserRecord | 'email_taken'>;
  findUserByEmail(email: string): Promise<UserRecord | undefined>;
  findUserById(id: string): Promise<UserRecord | undefined>;
  /** Rehash on login: replaces the hash only if it is still `expectedHash`. */
  replacePasswordHash(userId: string, expectedHash: string, newHash: string): Promise<boolean>;

  /**
   * Opens a session with its first refresh token, under a lock on the user: refuses when the
   * password hash is no longer the one that was verified, and revokes the least recently
   * active sessions beyond `maxSessions`, so parallel logins cannot exceed it.
   */
  openSession(
    session: NewSession,
    options: { maxSessions: number; verifiedPasswordHash: string; onLimit?: 'evict' | 'reject' },
  ): Promise<{ evictedSessionIds: string[] } | 'credentials_changed' | 'limit_reached' | 'account_disabled'>;

  /** Keeps a login held at the session limit (SESSION_LIMIT_POLICY=reject). */
  createLoginHold(hold: LoginHold & { tokenHash: string }): Promise<void>;
  findLoginHold(tokenHash: string, now: Date): Promise<LoginHold | undefined>;
  /**
   * In one transaction under the user's lock: uses the hold (once), revokes the user's live
   * session `revokeSessionId`, and opens `session` if the user is then below `maxSessions`.
   * Nothing changes unless all three succeed.
   */
  completeLoginHold(input: {
    holdId: string;
    revokeSessionId: string;
    session: NewSession;
    maxSessions: number;
    now: Date;
  }): Promise<'ok' | 'invalid_hold' | 'no_such_session' | 'limit_reached' | 'account_disabled'>;
  /** Uses up a hold without finishing it (a binding mismatch); false when it was not usable. */
  dropLoginHold(holdId: string, now: Date): Promise<boolean>;

  /**
   * Marks the presented token rotated and inserts its successor in one statement, only if the
   * presented token is live and bound to `clientId`. Undefined when it was not.
   */
  rotateRefreshToken(input: RotateRefreshToken): Promise<RefreshTokenGrant | undefined>;

  /** Rows for the given token hashes, whatever their state. */
  findRefreshTokens(tokenHashes: string[]): Promise<StoredRefreshToken[]>;

  /**
   * Sessions revoked after `since` (not step-up replacements, which keep the session), oldest
   * first: the revoked-sessions feed for resource servers.
   */
  listRevokedSessions(since: Date): Promise<{ sessionId: string; revokedAt: Date }[]>;

  /** Counts for the metrics endpoint, in one statement. */
  sessionStats(now: Date): Promise<SessionStats>;

  /** Liveness of a session for the server's own Bearer routes (API.md, Liveness). */
  isSessionLive(sessionId: string, userId: string, now: Date): Promise<boolean>;

  /** Live sessions of a user, newest activity first. */
  listSessions(userId: string, now: Date): Promise<SessionView[]>;

  /** Revokes every token of the session; false when it was not a live session (of `userId`, if given). */
  revokeSession(input: {
    sessionId: string;
    userId?: string;
    now: Date;
    reason: RevokeReason;
  }): Promise<boolean>;

  /** Revokes the user's live sessions, but `exceptSessionId`; returns how many. */
  revokeUserSessions(input: {
    userId: string;
    now: Date;
    reason: RevokeReason;
    exceptSessionId?: string;
  }): Promise<number>;

  /** Sets the new hash and revokes every other session of the user, in one transaction. */
  changePassword(input: {
    userId: string;
    expectedHash: string;
    newHash: string;
    now: Date;
    keepSessionId: string;
  }): Promise<{ revoked: number } | 'credentials_changed'>;

  recordSecurityEvent(event: SecurityEvent): Promise<void>;
  /**
   * Whether the user has opened a session from an address in `network` (CIDR text) since
   * `since`: such a network is the owner's, and a stranger's guessing must not lock it out.
   */
  hasLoggedInFrom(userId: string, network: string, since: Date): Promise<boolean>;
  /** Whether the user has logged in before with this user agent, and from this location. */
  seenBefore(
    userId: string,
    device: { userAgent: string | null; location: string | null },
  ): Promise<{
    device: boolean;
    location: boolean;
  }>;
  /** A user's events, newest first, strictly older than `before` when given (keyset paging). */
  listSecurityEvents(
    userId: string,
    page: { limit: number; before?: { at: Date; id: string } },
  ): Promise<StoredSecurityEvent[]>;

  /**
   * Deletes one batch (at most `batchSize` rows) of what has outlived its use in `table`,
   * skipping rows another instance is deleting (FOR UPDATE SKIP LOCKED). Returns the count.
   */
  deleteExpiredBatch(table: CleanupTable, cutoff: Date, batchSize: number): Promise<number>;

  listSigningKeys(): Promise<StoredSigningKey[]>;

  // Administration (/v1/admin/*).
  searchUsers(search: UserSearch, now: Date): Promise<AdminUserView[]>;
  setUserRole(userId: string, role: UserRole): Promise<boolean>;
  /**
   * Disables the user and revokes every session, in one transaction under the user's lock
   * (so no login can open a session in between). 'unchanged' when already disabled.
   */
  disableUser(input: { userId: string; now: Date }): Promise<{ revoked: number } | 'not_found' | 'unchanged'>;
  enableUser(userId: string): Promise<'ok' | 'not_found' | 'unchanged'>;
  /**
   * Removes the user's TOTP factor (active or pending) and recovery codes, clears
   * `mfa_enabled` and revokes every session, in one transaction.
   */
  resetMfa(input: { userId: string; now: Date }): Promise<{ revoked: number } | 'not_found' | 'not_enabled'>;
  analytics(input: {
    now: Date;
    since: Date;
    durationBuckets: number[];
    userAgentLimit: number;
  }): Promise<AnalyticsFigures>;
  /**
   * Adds a signing key under a lock, so instances starting together agree. It retires the
   * current keys of its own algorithm (`retire: 'same-alg'`, safe while instances configured
   * for another algorithm still run) or every current key (`'all'`, an operator's rotation).
   * With `onlyIfNone`, adds nothing when an unretired key of the same algorithm exists.
   */
  addSigningKey(
    key: StoredSigningKey,
    options: { onlyIfNone: boolean; retire: 'same-alg' | 'all' },
  ): Promise<boolean>;
}
