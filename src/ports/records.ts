import type { RefreshTokenState } from '../domain/refresh-decision.js';
import type { PendingLogin } from './mfa-store.js';

/** The records the persistence ports take and return (src/ports/store.ts names the ports). */

import type { AuthenticatorAssurance } from '../domain/assurance.js';

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
  /** When the user last proved they read mail at `email` (issue #17); null: unverified. */
  emailVerifiedAt: Date | null;
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
  /**
   * RFC 9449: the thumbprint (RFC 7638) of the key the session's tokens are bound to; its
   * access tokens carry it as `cnf.jkt`. Null or absent: a bearer session.
   */
  dpopJkt?: string | null;
}

/** The session's live refresh token, as the store saw it after an insert or a rotation. */
export interface RefreshTokenGrant extends SessionGrant {
  expiresAt: Date;
  /**
   * The user's address is verified (the `email_verified` claim): read from the user's row by
   * the statement that opened or rotated the session, so a verification shows in the next
   * access token of every session (issue #17).
   */
  emailVerified: boolean;
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
  /** The successor's `refreshTokenDeadline`; the store caps it at the session's end. */
  notAfter: Date;
  /** The refreshing request's device facts; absent values keep the session's. */
  device: DeviceInfo;
  /**
   * The key the request's DPoP proof was signed with (RFC 9449 §5), or null without one: a
   * session bound to a key rotates only for a proof by that key, in the same statement.
   */
  dpopJkt?: string | null;
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
  /** RFC 8176 methods of the session's authentication (`pwd`, `otp`, a passkey's `hwk`/`swk`, …). */
  amr: string[];
  /** The session's tokens are bound to a key the device holds (RFC 9449 DPoP). */
  keyBound: boolean;
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
  | 'revoked_by_operator'
  | 'user_disabled'
  | 'mfa_reset'
  /** The user set a new password with a reset link: every session ends. */
  | 'password_reset'
  /** "This wasn't me" from the old address of an email change: every session ends. */
  | 'email_change_reverted'
  | 'account_deleted';

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
  | 'role_changed'
  /** A reset link was sent (POST /v1/auth/password/forgot); `password_reset` when it was used. */
  | 'password_reset_requested'
  | 'password_reset'
  /** The user changed their display name. */
  | 'name_changed'
  /** Email (issue #17): a verification link was used; a change asked for, confirmed, reverted. */
  | 'email_verified'
  | 'email_change_requested'
  | 'email_changed'
  | 'email_change_reverted'
  /** The user deleted the account; the last event of its (anonymised) log. */
  | 'account_deleted'
  /** Passkeys (issue #20): added, removed, and a valid assertion whose counter went backwards. */
  | 'passkey_added'
  | 'passkey_removed'
  | 'passkey_clone_suspected'
  /** On each admin's log: a webhook endpoint kept failing and was disabled (issue #18). */
  | 'webhook_endpoint_disabled';

/**
 * Where a request came from, as every security event it causes records it (issue #15 §8): the
 * client's address and user agent (stored with the event) and the request's id (in the event's
 * log line, to find the request's own). Given by the HTTP layer to each service call that may
 * record an event; work no request caused (the CLI, the dispatchers) gives `NO_ORIGIN`.
 */
export interface RequestOrigin {
  requestId: string | null;
  ipAddress: string | null;
  userAgent: string | null;
}

/** The three facts alone, out of a device or a caller's origin (nothing else goes into an event). */
export const originOf = ({ requestId, ipAddress, userAgent }: RequestOrigin): RequestOrigin => ({
  requestId,
  ipAddress,
  userAgent,
});

/** The origin of work no request caused. */
export const NO_ORIGIN: RequestOrigin = Object.freeze({ requestId: null, ipAddress: null, userAgent: null });

/** A security event, with the origin of the request that caused it (required: none is left out by mistake). */
export interface SecurityEvent extends RequestOrigin {
  userId: string;
  sessionId?: string | null;
  type: SecurityEventType;
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
  | 'login_holds'
  | 'email_tokens'
  /** Sent and failed outbox rows (their bodies are already erased), after 30 days. */
  | 'outbox'
  | 'webauthn_challenges'
  /** DPoP proofs remembered against replay, once too old to be accepted. */
  | 'dpop_proofs'
  /** Tombstones of deleted accounts, with what is left of their events (EVENT_RETENTION). */
  | 'deleted_users';

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
