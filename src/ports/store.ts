import type { SessionLimitPolicy } from '../domain/session-policy.js';
import type { SignInHistory } from '../domain/unusual-time.js';
import type { DpopReplayStore } from './dpop.js';
import type {
  EmailChangeStore,
  EmailVerificationStore,
  NewEmailToken,
  PasswordResetStore,
} from './email-tokens.js';
import type { NewOutboxMessage, OutboxReview, OutboxStore } from './mail.js';
import type { SessionStats } from './metrics.js';
import type { MfaStore } from './mfa-store.js';
import type { PasskeyStore } from './passkey-store.js';
import type { LimitCharge } from './rate-limiter.js';
import type {
  AdminUserView,
  AnalyticsFigures,
  CleanupTable,
  LoginHold,
  NewSession,
  RefreshTokenGrant,
  RevokeReason,
  RotateRefreshToken,
  SecurityEvent,
  SessionView,
  StoredRefreshToken,
  StoredSecurityEvent,
  StoredSigningKey,
  UserRecord,
  UserRole,
  UserSearch,
} from './records.js';
import type { WebhookStore } from './webhooks.js';

export type { MfaStore } from './mfa-store.js';
export * from './records.js';

/**
 * The persistence ports, one per purpose: each service receives only the ones it uses.
 * Methods are named after what the flows need, and each one is atomic on its own (one
 * statement or one transaction inside the adapter), so services never hold a transaction
 * open across a password hash or a signature. test/adapters/store-contract.test.ts pins
 * their hard parts on PGlite and PostgreSQL.
 */

/** Accounts: the user rows and their password hash. */
export interface UserStore {
  createUser(input: {
    id: string;
    email: string;
    name: string | null;
    passwordHash: string;
    now: Date;
    /** The verification link of the new address and its mail, written with the user (issue #17). */
    verification?: NewEmailToken;
  }): Promise<UserRecord | 'email_taken'>;
  findUserByEmail(email: string): Promise<UserRecord | undefined>;
  findUserById(id: string): Promise<UserRecord | undefined>;
  /** Rehash on login: replaces the hash only if it is still `expectedHash`. */
  replacePasswordHash(userId: string, expectedHash: string, newHash: string): Promise<boolean>;
  /** Sets the new hash and revokes every other session of the user, in one transaction. */
  changePassword(input: {
    userId: string;
    expectedHash: string;
    newHash: string;
    now: Date;
    keepSessionId: string;
  }): Promise<{ revoked: number } | 'credentials_changed'>;
  /** Sets the display name of a user that is not deleted; undefined when there is none. */
  renameUser(userId: string, name: string | null): Promise<UserRecord | undefined>;
  /**
   * Deletes an account in one transaction: every session revoked, factors, recovery codes,
   * pending logins and email tokens deleted, queued mail to the user dropped, and the row made
   * a disabled tombstone (no email, name or password hash) whose security events lose their
   * IP address, user agent and details. Then records `event` on it, without its address and
   * user agent.
   */
  deleteAccount(input: {
    userId: string;
    now: Date;
    event: SecurityEvent;
  }): Promise<{ revoked: number } | 'not_found'>;
}

/** Sessions and their refresh tokens, and logins held at the session limit. */
export interface SessionStore {
  /**
   * Opens a session with its first refresh token, under a lock on the user: refuses when the
   * password hash is no longer the one that was verified, and revokes the least recently
   * active sessions beyond `maxSessions`, so parallel logins cannot exceed it.
   */
  openSession(
    session: NewSession,
    options: { maxSessions: number; verifiedPasswordHash: string; onLimit: SessionLimitPolicy },
  ): Promise<
    | { evictedSessionIds: string[]; emailVerified: boolean }
    | 'credentials_changed'
    | 'limit_reached'
    | 'account_disabled'
  >;
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
  }): Promise<
    { emailVerified: boolean } | 'invalid_hold' | 'no_such_session' | 'limit_reached' | 'account_disabled'
  >;
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
}

/** A user's security events, and what the login flows learn from them. */
export interface SecurityEventLog {
  /** Records the event, and with it (one transaction) the notices it causes (issue #17 §4). */
  recordSecurityEvent(event: SecurityEvent, notices?: readonly NewOutboxMessage[]): Promise<void>;
  /**
   * Whether the user has opened a session from an address in `network` (CIDR text) since
   * `since`: such a network is the owner's, and a stranger's guessing must not lock it out.
   */
  hasLoggedInFrom(userId: string, network: string, since: Date): Promise<boolean>;
  /**
   * Whether the user has logged in before with this user agent, and from this location; and
   * their sign-ins of the last `UNUSUAL_TIME.HISTORY_DAYS` days near the time of day of `at`
   * (domain/unusual-time.ts; `count` stops at its MIN_HISTORY).
   */
  seenBefore(
    userId: string,
    device: { userAgent: string | null; location: string | null },
    at: Date,
  ): Promise<SeenBefore>;
  /** A user's events, newest first, strictly older than `before` when given (keyset paging). */
  listSecurityEvents(
    userId: string,
    page: { limit: number; before?: { at: Date; id: string } },
  ): Promise<StoredSecurityEvent[]>;
}

/** Whether and how the user signed in before with this device (SecurityEventLog.seenBefore). */
export interface SeenBefore {
  device: boolean;
  location: boolean;
  signIns: SignInHistory;
}

/** What a password login learns before the hash, in one read (LoginStore.readLoginAttempt). */
export interface LoginAttempt {
  /** Seconds to wait for each charge, as RateLimiter.hit answers them (0: within its limit). */
  waits: number[];
  user: UserRecord | undefined;
  /** hasLoggedInFrom for `ownedNetwork`; false when not asked (see readLoginAttempt). */
  fromOwnedNetwork: boolean;
  /** Whether the user has a passkey (the MFA step offers it). */
  hasPasskey: boolean;
  /** seenBefore for the device at `now`; undefined without a user. */
  seen: SeenBefore | undefined;
}

/**
 * A password login in as few round trips as it can (issue #21): everything it reads before
 * the argon2id verification in one statement, and everything it writes after it in one.
 */
export interface LoginStore {
  /**
   * Charges the attempt counters (atomically, as RateLimiter.hit: counted BEFORE the hash) and
   * reads the user by normalised email, whether they have a passkey, and seenBefore for
   * `device`, all in one statement. `ownedNetwork` is looked up (hasLoggedInFrom) only when the
   * charge `whenOver` is over its limit.
   */
  readLoginAttempt(input: {
    email: string;
    charges: LimitCharge[];
    ownedNetwork: { network: string; since: Date; whenOver: LimitCharge } | null;
    device: { userAgent: string | null; location: string | null };
    now: Date;
  }): Promise<LoginAttempt>;
  /**
   * openSession, and with it (one transaction, all or nothing) the `login_succeeded` event,
   * its webhook deliveries and `notices`, and the refund of a right password's attempt
   * (RateLimiter.refund's keys and clear; given back exactly once, whatever the outcome). The
   * event's details gain `evicted_sessions` when sessions were evicted to make room.
   */
  openLoginSession(input: {
    session: NewSession;
    maxSessions: number;
    verifiedPasswordHash: string;
    onLimit: SessionLimitPolicy;
    event: SecurityEvent;
    notices?: readonly NewOutboxMessage[];
    refund?: { keys: string[]; clear: string[] };
  }): Promise<
    | { evictedSessionIds: string[]; emailVerified: boolean }
    | 'credentials_changed'
    | 'limit_reached'
    | 'account_disabled'
  >;
}

/** The signing keys every instance shares. */
export interface SigningKeyStore {
  listSigningKeys(): Promise<StoredSigningKey[]>;
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

/** Administration (/v1/admin/*): search, roles, disabling, MFA reset, analytics. */
export interface AdminQueries {
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
}

/** Health, metrics and cleanup. */
export interface Maintenance {
  /** Throws when the database cannot answer. */
  ping(): Promise<void>;
  /** Counts for the metrics endpoint, in one statement. */
  sessionStats(now: Date): Promise<SessionStats>;
  /**
   * Deletes one batch (at most `batchSize` rows) of what has outlived its use in `table`,
   * skipping rows another instance is deleting (FOR UPDATE SKIP LOCKED). Returns the count.
   */
  deleteExpiredBatch(table: CleanupTable, cutoff: Date, batchSize: number): Promise<number>;
}

/** Every port at once: what the database adapter implements and the entry points hand out. */
export interface Store
  extends UserStore,
    SessionStore,
    LoginStore,
    SecurityEventLog,
    SigningKeyStore,
    AdminQueries,
    Maintenance,
    MfaStore,
    PasskeyStore,
    PasswordResetStore,
    EmailVerificationStore,
    EmailChangeStore,
    OutboxStore,
    OutboxReview,
    WebhookStore,
    DpopReplayStore {}
