import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  inet,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { ENDED_HEAD, HEAD } from './live-sessions.js';

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey(),
    /** Stored normalised (trimmed, NFKC, lower-case); the unique constraint makes one account per mailbox. */
    email: text('email').notNull().unique('users_email_key'),
    name: text('name'),
    passwordHash: text('password_hash').notNull(),
    mfaEnabled: boolean('mfa_enabled').notNull().default(false),
    createdAt: timestamptz('created_at').notNull(),
    passwordChangedAt: timestamptz('password_changed_at'),
    /** `admin` opens /v1/admin/* (with aal2); granted by an operator: `npm run cli -- users:role`. */
    role: text('role').notNull().default('user'),
    /** Set by an admin: no login, and every session was revoked in the same transaction. */
    disabledAt: timestamptz('disabled_at'),
    /** When the user proved they read mail at `email` (a verification or email-change link). */
    emailVerifiedAt: timestamptz('email_verified_at'),
    /**
     * The user deleted the account: the row is a tombstone (no email, name, password or
     * factor; disabled) that keeps the id of the anonymised security events until cleanup
     * deletes it with them, after EVENT_RETENTION.
     */
    deletedAt: timestamptz('deleted_at'),
  },
  (t) => [
    check('users_role_check', sql`role IN ('user', 'admin')`),
    // The admin search by email prefix (LIKE 'abc%'), whatever the database's collation.
    index('users_email_prefix_idx').using('btree', t.email.op('text_pattern_ops')),
    // Cleanup of tombstones past the event retention.
    index('users_deleted_at_idx').on(t.deletedAt).where(sql`deleted_at IS NOT NULL`),
  ],
);

/**
 * One row per refresh token ever issued. A session is the family of rows sharing a
 * `session_id`; its live token (the "head") is the one row neither rotated nor revoked.
 * Rotated rows stay until cleanup so that replaying any earlier token is seen as reuse
 * (RFC 9700 §4.14.2). Device facts travel with each row, as the design card asks.
 */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: uuid('id').primaryKey(),
    /** base64url SHA-256 of the token; the token itself is never stored. */
    tokenHash: text('token_hash').notNull(),
    sessionId: uuid('session_id').notNull(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    clientId: text('client_id').notNull(),
    deviceName: text('device_name'),
    ipAddress: inet('ip_address'),
    userAgent: text('user_agent'),
    location: text('location'),
    remembered: boolean('remembered').notNull(),
    acr: text('acr').notNull(),
    amr: text('amr').array().notNull(),
    authTime: timestamptz('auth_time').notNull(),
    sessionCreatedAt: timestamptz('session_created_at').notNull(),
    sessionExpiresAt: timestamptz('session_expires_at').notNull(),
    /** When this token was issued: the session's last activity while it is the head. */
    issuedAt: timestamptz('issued_at').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
    rotatedAt: timestamptz('rotated_at'),
    revokedAt: timestamptz('revoked_at'),
    revokedReason: text('revoked_reason'),
    /**
     * RFC 9449 §5: the RFC 7638 thumbprint of the key the session is bound to (the DPoP proof of
     * the request that opened it); every refresh must prove that key. Null: a bearer session.
     */
    dpopJkt: text('dpop_jkt'),
  },
  (t) => [
    uniqueIndex('refresh_tokens_token_hash_key').on(t.tokenHash),
    // At most one live token per session: a fork is impossible even if the code were wrong.
    uniqueIndex('refresh_tokens_session_head_key').on(t.sessionId).where(sql.raw(HEAD)),
    index('refresh_tokens_session_idx').on(t.sessionId),
    // Listing a user's sessions, the session limit and revoke-all read only unrevoked rows.
    index('refresh_tokens_user_live_idx').on(t.userId, t.issuedAt).where(sql`revoked_at IS NULL`),
    // The revocation feed: heads revoked within the last access-token lifetime.
    index('refresh_tokens_revoked_head_idx').on(t.revokedAt).where(sql.raw(ENDED_HEAD)),
    // Cleanup of revoked sessions past their retention.
    index('refresh_tokens_revoked_at_idx').on(t.revokedAt).where(sql`revoked_at IS NOT NULL`),
    // Live sessions per user (admin analytics, listing, the session limit): the heads only,
    // with their expiry and start, so counting and ageing them is an index-only scan however
    // long the rotation history.
    index('refresh_tokens_live_head_user_idx')
      .on(t.userId, t.expiresAt, t.sessionCreatedAt)
      .where(sql.raw(HEAD)),
    // Cleanup of expired and long-rotated rows.
    index('refresh_tokens_expires_at_idx').on(t.expiresAt),
    check('refresh_tokens_acr_check', sql`acr IN ('aal1', 'aal2')`),
  ],
);

export const securityEvents = pgTable(
  'security_events',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    sessionId: uuid('session_id'),
    type: text('type').notNull(),
    ipAddress: inet('ip_address'),
    userAgent: text('user_agent'),
    details: jsonb('details').$type<Record<string, unknown>>(),
    /** `details.country` of a login, copied into a column so the analytics index can carry it. */
    country: text('country'),
    createdAt: timestamptz('created_at').notNull(),
  },
  (t) => [
    index('security_events_user_created_idx').on(t.userId, t.createdAt),
    index('security_events_created_idx').on(t.createdAt),
    // Admin analytics: events of one type per day (logins, reuse detections, throttling).
    index('security_events_type_created_idx').on(t.type, t.createdAt),
    // Logins by country and by device over up to the whole retention: an index-only scan
    // (a plain index scan would lose to a sequential one when the window is most of the log).
    index('security_events_login_facts_idx')
      .on(t.createdAt, t.country, t.userAgent)
      .where(sql`type = 'login_succeeded'`),
  ],
);

export const signingKeys = pgTable('signing_keys', {
  kid: text('kid').primaryKey(),
  alg: text('alg').notNull(),
  publicJwk: jsonb('public_jwk').$type<Record<string, unknown>>().notNull(),
  /** AES-256-GCM sealed private JWK; `encryption_key_id` names the master secret that sealed it. */
  privateKeySealed: text('private_key_sealed').notNull(),
  encryptionKeyId: text('encryption_key_id').notNull(),
  createdAt: timestamptz('created_at').notNull(),
  /** Published from `created_at`, signs from `activates_at` until `retired_at`. */
  activatesAt: timestamptz('activates_at').notNull(),
  retiredAt: timestamptz('retired_at'),
});

/** One TOTP factor per user: pending until a first valid code activates it. */
export const mfaFactors = pgTable(
  'mfa_factors',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    /** The base32 secret, sealed with AES-256-GCM (bound to the factor id). */
    secretSealed: text('secret_sealed').notNull(),
    encryptionKeyId: text('encryption_key_id').notNull(),
    status: text('status').notNull(),
    /** RFC 6238 §5.2: the last accepted time step; a code is accepted at most once. */
    lastUsedStep: bigint('last_used_step', { mode: 'number' }),
    createdAt: timestamptz('created_at').notNull(),
    activatedAt: timestamptz('activated_at'),
  },
  (t) => [
    uniqueIndex('mfa_factors_user_type_key').on(t.userId, t.type),
    check('mfa_factors_status_check', sql`status IN ('pending', 'active')`),
  ],
);

/** Single-use recovery codes, stored as HMACs under a key derived from the master secret. */
export const recoveryCodes = pgTable(
  'recovery_codes',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text('code_hash').notNull(),
    createdAt: timestamptz('created_at').notNull(),
    usedAt: timestamptz('used_at'),
  },
  (t) => [uniqueIndex('recovery_codes_user_code_key').on(t.userId, t.codeHash)],
);

/** The state behind an `mfa_token`: a password login waiting for its second factor. */
export const mfaChallenges = pgTable(
  'mfa_challenges',
  {
    id: uuid('id').primaryKey(),
    tokenHash: text('token_hash').notNull(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    clientId: text('client_id').notNull(),
    deviceName: text('device_name'),
    remembered: boolean('remembered').notNull(),
    delivery: text('delivery').notNull(),
    failedAttempts: integer('failed_attempts').notNull().default(0),
    createdAt: timestamptz('created_at').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
    consumedAt: timestamptz('consumed_at'),
  },
  (t) => [
    uniqueIndex('mfa_challenges_token_hash_key').on(t.tokenHash),
    index('mfa_challenges_expires_at_idx').on(t.expiresAt),
  ],
);

/**
 * Passkeys (W3C WebAuthn credentials, issue #20). The credential ID is unique across all
 * accounts (WebAuthn §7.1 step 22: a credential registered to one user is refused to
 * another); the public key is a COSE key, base64url. No secret is stored: a passkey's
 * private key never leaves its authenticator.
 */
export const passkeys = pgTable(
  'passkeys',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    credentialId: text('credential_id').notNull(),
    publicKey: text('public_key').notNull(),
    signCount: bigint('sign_count', { mode: 'number' }).notNull().default(0),
    transports: jsonb('transports').$type<string[]>().notNull().default([]),
    deviceType: text('device_type').notNull(),
    backedUp: boolean('backed_up').notNull(),
    aaguid: text('aaguid').notNull(),
    name: text('name').notNull(),
    createdAt: timestamptz('created_at').notNull(),
    lastUsedAt: timestamptz('last_used_at'),
  },
  (t) => [
    uniqueIndex('passkeys_credential_id_key').on(t.credentialId),
    index('passkeys_user_id_idx').on(t.userId),
    check('passkeys_device_type_check', sql`device_type IN ('singleDevice', 'multiDevice')`),
  ],
);

/**
 * Challenges of passkey ceremonies: stored as hashes, with what they are for and bound to,
 * deleted by the first response that names them (single use) or by cleanup once expired.
 */
export const webauthnChallenges = pgTable(
  'webauthn_challenges',
  {
    challengeHash: text('challenge_hash').primaryKey(),
    purpose: text('purpose').notNull(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    sessionId: uuid('session_id'),
    mfaChallengeId: uuid('mfa_challenge_id').references(() => mfaChallenges.id, { onDelete: 'cascade' }),
    createdAt: timestamptz('created_at').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
  },
  (t) => [
    index('webauthn_challenges_expires_at_idx').on(t.expiresAt),
    check(
      'webauthn_challenges_purpose_check',
      sql`purpose IN ('registration', 'sign_in', 'second_factor', 'step_up')`,
    ),
  ],
);

/**
 * A login held at the session limit (SESSION_LIMIT_POLICY=reject): the state behind a
 * `limit_token`, which allows one thing: revoke one of the user's sessions and finish the login.
 */
export const loginHolds = pgTable(
  'login_holds',
  {
    id: uuid('id').primaryKey(),
    tokenHash: text('token_hash').notNull(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    clientId: text('client_id').notNull(),
    deviceName: text('device_name'),
    remembered: boolean('remembered').notNull(),
    delivery: text('delivery').notNull(),
    acr: text('acr').notNull(),
    amr: text('amr').array().notNull(),
    authTime: timestamptz('auth_time').notNull(),
    /** The device that was held: the one finishing the login must match it (SESSION_BINDING). */
    ipAddress: inet('ip_address'),
    userAgent: text('user_agent'),
    createdAt: timestamptz('created_at').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
    consumedAt: timestamptz('consumed_at'),
  },
  (t) => [
    uniqueIndex('login_holds_token_hash_key').on(t.tokenHash),
    index('login_holds_expires_at_idx').on(t.expiresAt),
  ],
);

/**
 * Single-use tokens sent by email (issue #17): a password reset, an address to verify, an
 * email change to confirm, or the "this wasn't me" link that reverts one. Only the SHA-256 of
 * the token is kept (like refresh tokens); `email` is the address the token is about (the new
 * one for a change, the old one for a revert). A newer token of the same purpose voids the
 * older ones, and a password change or a disable voids them all.
 */
export const emailTokens = pgTable(
  'email_tokens',
  {
    id: uuid('id').primaryKey(),
    tokenHash: text('token_hash').notNull(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose').notNull(),
    email: text('email').notNull(),
    createdAt: timestamptz('created_at').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
    consumedAt: timestamptz('consumed_at'),
  },
  (t) => [
    uniqueIndex('email_tokens_token_hash_key').on(t.tokenHash),
    index('email_tokens_user_purpose_idx').on(t.userId, t.purpose),
    index('email_tokens_expires_at_idx').on(t.expiresAt),
    check(
      'email_tokens_purpose_check',
      sql`purpose IN ('password_reset', 'verify_email', 'change_email', 'revert_email_change')`,
    ),
  ],
);

/**
 * The transactional outbox (issue #17): a message is inserted in the same transaction as the
 * change that causes it and delivered later, at least once, by a dispatcher on any instance
 * (claims with FOR UPDATE SKIP LOCKED). `payload` is the rendered message sealed with the
 * master key (it may hold a single-use link: a bearer secret at rest is never in clear), and is
 * erased once the message is sent. `idempotency_key` travels with the message (Message-ID).
 */
/**
 * Webhook endpoints (issue #18), registered by operators. The signing secret is needed to sign,
 * so it is kept sealed with the master key (AES-256-GCM), never hashed; after a rotation the
 * previous one stays valid until `previous_secret_expires_at` and both signatures are sent.
 */
export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: uuid('id').primaryKey(),
    url: text('url').notNull(),
    description: text('description'),
    /** The event types it wants; null: every type. */
    eventTypes: text('event_types').array(),
    enabled: boolean('enabled').notNull().default(true),
    secret: text('secret').notNull(),
    previousSecret: text('previous_secret'),
    previousSecretExpiresAt: timestamptz('previous_secret_expires_at'),
    createdAt: timestamptz('created_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
    /** Deliveries that failed for good in a row; at WEBHOOK_DISABLE_AFTER the endpoint is disabled. */
    consecutiveFailures: integer('consecutive_failures').notNull().default(0),
    lastSuccessAt: timestamptz('last_success_at'),
    disabledAt: timestamptz('disabled_at'),
    disabledReason: text('disabled_reason'),
  },
  (t) => [index('webhook_endpoints_enabled_idx').on(t.enabled)],
);

export const outbox = pgTable(
  'outbox',
  {
    id: uuid('id').primaryKey(),
    /** What the message is (`password_reset`, `new_device_login`, …): metrics and the admin view. */
    kind: text('kind').notNull(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    idempotencyKey: text('idempotency_key').notNull(),
    payload: text('payload'),
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    /** When the message is next due; a claim pushes it one lease ahead, so a crashed sender's claim expires. */
    nextAttemptAt: timestamptz('next_attempt_at').notNull(),
    lastError: text('last_error'),
    createdAt: timestamptz('created_at').notNull(),
    sentAt: timestamptz('sent_at'),
    /**
     * A webhook delivery (issue #18): the endpoint it goes to; null for a mail. `kind` is then the
     * event type, `payload` the JSON body (ids and facts, no secret), `idempotency_key` the
     * `webhook-id`, the same on every attempt.
     */
    endpointId: uuid('endpoint_id').references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
    /** The HTTP status of the last webhook attempt (null: no answer, or a mail). */
    lastStatus: integer('last_status'),
  },
  (t) => [
    uniqueIndex('outbox_idempotency_key_key').on(t.idempotencyKey),
    // Each dispatcher reads its own due rows: mail, and webhook deliveries.
    index('outbox_mail_due_idx').on(t.nextAttemptAt).where(sql`status = 'pending' AND endpoint_id IS NULL`),
    index('outbox_webhook_due_idx')
      .on(t.nextAttemptAt)
      .where(sql`status = 'pending' AND endpoint_id IS NOT NULL`),
    // An endpoint's delivery log, newest first.
    index('outbox_endpoint_created_idx').on(t.endpointId, t.createdAt).where(sql`endpoint_id IS NOT NULL`),
    index('outbox_status_created_idx').on(t.status, t.createdAt),
    check('outbox_status_check', sql`status IN ('pending', 'sent', 'failed')`),
  ],
);

/** Failure counters shared by every instance (fixed windows). */
export const rateLimits = pgTable(
  'rate_limits',
  {
    key: text('key').primaryKey(),
    points: integer('points').notNull(),
    windowEndsAt: timestamptz('window_ends_at').notNull(),
  },
  (t) => [index('rate_limits_window_ends_at_idx').on(t.windowEndsAt)],
);

/**
 * DPoP proofs seen (RFC 9449 §11.1): a proof is accepted once, on any instance, until it is
 * too old to be accepted at all. The key is a hash of the proof's key thumbprint and `jti`.
 */
export const dpopProofs = pgTable(
  'dpop_proofs',
  {
    key: text('key').primaryKey(),
    expiresAt: timestamptz('expires_at').notNull(),
  },
  (t) => [index('dpop_proofs_expires_at_idx').on(t.expiresAt)],
);

export const schema = {
  users,
  webhookEndpoints,
  refreshTokens,
  securityEvents,
  signingKeys,
  mfaFactors,
  recoveryCodes,
  mfaChallenges,
  passkeys,
  webauthnChallenges,
  loginHolds,
  rateLimits,
  emailTokens,
  outbox,
  dpopProofs,
};
