import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  index,
  inet,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const users = pgTable('users', {
  id: uuid('id').primaryKey(),
  /** Stored normalised (trimmed, NFKC, lower-case); the unique constraint makes one account per mailbox. */
  email: text('email').notNull().unique('users_email_key'),
  name: text('name'),
  passwordHash: text('password_hash').notNull(),
  mfaEnabled: boolean('mfa_enabled').notNull().default(false),
  createdAt: timestamptz('created_at').notNull(),
  passwordChangedAt: timestamptz('password_changed_at'),
});

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
  },
  (t) => [
    uniqueIndex('refresh_tokens_token_hash_key').on(t.tokenHash),
    // At most one live token per session: a fork is impossible even if the code were wrong.
    uniqueIndex('refresh_tokens_session_head_key')
      .on(t.sessionId)
      .where(sql`rotated_at IS NULL AND revoked_at IS NULL`),
    index('refresh_tokens_session_idx').on(t.sessionId),
    // Listing a user's sessions, the session limit and revoke-all read only unrevoked rows.
    index('refresh_tokens_user_live_idx').on(t.userId, t.issuedAt).where(sql`revoked_at IS NULL`),
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
    createdAt: timestamptz('created_at').notNull(),
  },
  (t) => [
    index('security_events_user_created_idx').on(t.userId, t.createdAt),
    index('security_events_created_idx').on(t.createdAt),
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
  retiredAt: timestamptz('retired_at'),
});

export const schema = { users, refreshTokens, securityEvents, signingKeys };
