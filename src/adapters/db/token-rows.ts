import { and, eq, inArray, isNull, type Placeholder, type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { SessionAssurance } from '../../ports/mfa-store.js';
import type {
  AuthenticatorAssurance,
  DeviceInfo,
  RefreshTokenGrant,
  RevokeReason,
  RotateRefreshToken,
} from '../../ports/store.js';
import { type Database, rowsOf } from './database.js';
import { liveHead } from './live-sessions.js';
import { emailTokens, loginHolds, mfaChallenges, mfaFactors, refreshTokens, users } from './schema.js';

/** Statements shared by the stores: on `refresh_tokens`, and the lock on a user row. */

export type Executor = Pick<Database, 'execute' | 'update' | 'select'>;

/**
 * Locks the user's row for the rest of the transaction (logins, disabling, MFA reset) and
 * returns what those decide on. NO KEY UPDATE serialises them without blocking the KEY SHARE
 * lock that a concurrent rotation's foreign-key check takes on the same row (no deadlock).
 */
export async function lockUser(tx: Pick<Database, 'select'>, userId: string) {
  const [user] = await tx
    .select({
      email: users.email,
      passwordHash: users.passwordHash,
      passwordChangedAt: users.passwordChangedAt,
      disabledAt: users.disabledAt,
      mfaEnabled: users.mfaEnabled,
      deletedAt: users.deletedAt,
      emailVerifiedAt: users.emailVerifiedAt,
    })
    .from(users)
    .where(eq(users.id, userId))
    .for('no key update');
  return user;
}

/**
 * Ends every credential a user has half-way: held logins (`limit_token`), second-step
 * challenges (`mfa_token`) and a TOTP factor enrolled but not activated. Called in the same
 * transaction as a password change, an MFA reset or disable, and disabling the account:
 * whatever was obtained before must not finish afterwards (OWASP ASVS V3.3.3).
 */
export async function endPendingCredentials(tx: Pick<Database, 'delete'>, userId: string): Promise<void> {
  await tx.delete(loginHolds).where(eq(loginHolds.userId, userId));
  await tx.delete(mfaChallenges).where(eq(mfaChallenges.userId, userId));
  await tx.delete(mfaFactors).where(and(eq(mfaFactors.userId, userId), eq(mfaFactors.status, 'pending')));
  // Reset links and unconfirmed email changes too. Not the "this wasn't me" link of an email
  // change: it is the owner's way back from whoever changed the address and then the password.
  await tx
    .delete(emailTokens)
    .where(
      and(eq(emailTokens.userId, userId), inArray(emailTokens.purpose, ['password_reset', 'change_email'])),
    );
}

/**
 * Revokes every unrevoked token matching `scope` until none is left. One UPDATE cannot see
 * a successor that a concurrent rotation inserted after the UPDATE's snapshot was taken (it
 * only waits for the rotated row's lock), so it runs again until it changes nothing: a
 * rotation that starts after a pass finds its token revoked and inserts nothing.
 * Returns the sessions whose live head was revoked.
 */
export async function revokeUntilNone(
  db: Executor,
  scope: SQL | undefined,
  now: Date,
  reason: RevokeReason,
): Promise<Set<string>> {
  const revokedLive = new Set<string>();
  for (let pass = 0; pass < 50; pass++) {
    const rows = await db
      .update(refreshTokens)
      .set({ revokedAt: now, revokedReason: reason })
      .where(and(scope, isNull(refreshTokens.revokedAt)))
      .returning({
        sessionId: refreshTokens.sessionId,
        // Live until this statement: the row is the head and had not expired (live-sessions.ts).
        wasLive: sql<boolean>`(${refreshTokens.rotatedAt} IS NULL AND ${refreshTokens.expiresAt} > ${now.toISOString()}::timestamptz)`,
      });
    if (rows.length === 0) return revokedLive;
    for (const row of rows) {
      if (row.wasLive) revokedLive.add(row.sessionId);
    }
  }
  throw new Error('revocation did not settle after 50 passes');
}

interface ReplacedRow {
  session_id: string;
  user_id: string;
  client_id: string;
  acr: AuthenticatorAssurance;
  amr: string[] | string;
  remembered: boolean;
  auth_time_ms: number | string;
  expires_at_ms: number | string;
  previous_ip: string | null;
  previous_user_agent: string | null;
  email_verified: boolean;
  dpop_jkt: string | null;
}

/** `text[]` arrives parsed from PGlite and as `{a,b}` text from postgres.js under drizzle. */
const parseTextArray = (value: string[] | string): string[] =>
  Array.isArray(value)
    ? value
    : value
        .replace(/^\{|\}$/g, '')
        .split(',')
        .filter((item) => item.length > 0);

const textArray = (values: string[]) =>
  sql`ARRAY[${sql.join(
    values.map((value) => sql`${value}::text`),
    sql`, `,
  )}]::text[]`;

/** A value of the replacing statement, or its placeholder when the statement is prepared once. */
type Param<T> = T | Placeholder;

interface ReplaceStatement {
  claim: SQL;
  mark: SQL;
  id: Param<string>;
  successorHash: Param<string>;
  /** ISO time. */
  now: Param<string>;
  /** ISO time: `refreshTokenDeadline` of domain/session-policy.ts, capped here at the session's end. */
  notAfter: Param<string>;
  ipAddress: Param<string | null>;
  userAgent: Param<string | null>;
  location: Param<string | null>;
  assurance?: SessionAssurance;
}

/**
 * The statement of `replaceLiveToken`, from values or from placeholders (`preparedRotation`).
 * Raw SQL gets ISO strings: drizzle turns off postgres.js's Date serialiser.
 */
function replaceStatement(input: ReplaceStatement): SQL {
  const { assurance } = input;
  return sql`
    WITH claimed AS (
      UPDATE refresh_tokens SET ${input.mark}
      WHERE ${input.claim} AND ${liveHead(input.now)}
      RETURNING *
    ), inserted AS (
    INSERT INTO refresh_tokens (
      id, token_hash, session_id, user_id, client_id, device_name, ip_address, user_agent,
      location, remembered, acr, amr, auth_time, session_created_at, session_expires_at,
      issued_at, expires_at, dpop_jkt
    )
    SELECT ${input.id}::uuid, ${input.successorHash}::text, session_id, user_id, client_id, device_name,
      COALESCE(${input.ipAddress}::inet, ip_address),
      COALESCE(${input.userAgent}::text, user_agent),
      COALESCE(${input.location}::text, location), remembered,
      ${assurance ? sql`${assurance.acr}::text` : sql`acr`},
      ${assurance ? textArray(assurance.amr) : sql`amr`},
      ${assurance ? sql`${assurance.authTime.toISOString()}::timestamptz` : sql`auth_time`},
      session_created_at, session_expires_at, ${input.now}::timestamptz,
      LEAST(${input.notAfter}::timestamptz, session_expires_at), dpop_jkt
    FROM claimed
    RETURNING session_id, user_id, client_id, acr, amr, remembered, dpop_jkt,
      (extract(epoch FROM auth_time) * 1000)::float8 AS auth_time_ms,
      (extract(epoch FROM expires_at) * 1000)::float8 AS expires_at_ms
    )
    -- The claimed row's device facts: what the session looked like before this request; and
    -- the user's verified address, read now (a primary-key probe), for the access token.
    SELECT inserted.*, host(claimed.ip_address) AS previous_ip, claimed.user_agent AS previous_user_agent,
      (SELECT email_verified_at IS NOT NULL FROM users WHERE users.id = inserted.user_id) AS email_verified
    FROM inserted, claimed
  `;
}

/**
 * Replaces a session's live refresh token in ONE statement (one round trip, atomic): the
 * UPDATE marks the live row matching `claim` (as rotated or revoked), and only a row it
 * marked feeds the INSERT of the successor, which inherits the session's facts; device
 * facts and assurance are replaced where given. Undefined when no live row matched.
 */
export async function replaceLiveToken(
  db: Pick<Database, 'execute'>,
  input: {
    claim: SQL;
    mark: SQL;
    successorHash: string;
    now: Date;
    /** `refreshTokenDeadline` of domain/session-policy.ts: capped here at the session's end. */
    notAfter: Date;
    device?: DeviceInfo;
    assurance?: SessionAssurance;
  },
): Promise<RefreshTokenGrant | undefined> {
  const { device } = input;
  const result = await db.execute(
    replaceStatement({
      claim: input.claim,
      mark: input.mark,
      id: crypto.randomUUID(),
      successorHash: input.successorHash,
      now: input.now.toISOString(),
      notAfter: input.notAfter.toISOString(),
      ipAddress: device?.ipAddress ?? null,
      userAgent: device?.userAgent ?? null,
      location: device?.location ?? null,
      ...(input.assurance ? { assurance: input.assurance } : {}),
    }),
  );
  return grantOf(result);
}

/**
 * A refresh's rotation: `replaceLiveToken`'s statement claiming the presented token, built and
 * turned into SQL text once per shape (with or without a DPoP key) and store, then only given
 * its values. A store lives as long as the process on Node; on Workers it lives one request,
 * where this builds the statement once per refresh as before. The hot path of the server
 * (issue #21): building the statement from drizzle's SQL chunks was about 30 µs, 4-8 % of a
 * refresh's main-thread CPU. Runs exactly as `db.execute` would (the same session, the same
 * prepare setting), on PostgreSQL and PGlite.
 *
 * RFC 9700 §4.14.2: the conditional UPDATE claims the token (a concurrent claim waits for the
 * row lock, re-checks the WHERE and gets nothing); only a claimed token gets a successor.
 * RFC 9449 §5: a key-bound session is claimed only with a proof by its key, so a token
 * presented without it changes nothing.
 */
export function preparedRotation(db: Pick<Database, '_'>) {
  const dialect = new PgDialect();
  const shapes = new Map<boolean, ReturnType<Database['_']['session']['prepareQuery']>>();
  const p = (name: string) => sql.placeholder(name);
  const prepared = (bound: boolean) => {
    let query = shapes.get(bound);
    if (!query) {
      const boundTo = bound ? sql`(dpop_jkt IS NULL OR dpop_jkt = ${p('jkt')}::text)` : sql`dpop_jkt IS NULL`;
      const statement = replaceStatement({
        claim: sql`token_hash = ${p('presented')} AND client_id = ${p('client')} AND ${boundTo}`,
        mark: sql`rotated_at = ${p('now')}::timestamptz`,
        id: p('id'),
        successorHash: p('successor'),
        now: p('now'),
        notAfter: p('notAfter'),
        ipAddress: p('ip'),
        userAgent: p('ua'),
        location: p('location'),
      });
      query = db._.session.prepareQuery(dialect.sqlToQuery(statement), undefined, undefined, false);
      shapes.set(bound, query);
    }
    return query;
  };
  return async (values: RotateRefreshToken): Promise<RefreshTokenGrant | undefined> => {
    const bound = values.dpopJkt != null;
    const result = await prepared(bound).execute({
      presented: values.presentedHash,
      client: values.clientId,
      ...(bound ? { jkt: values.dpopJkt } : {}),
      id: crypto.randomUUID(),
      successor: values.successorHash,
      now: values.now.toISOString(),
      notAfter: values.notAfter.toISOString(),
      ip: values.device.ipAddress ?? null,
      ua: values.device.userAgent ?? null,
      location: values.device.location ?? null,
    });
    return grantOf(result);
  };
}

/** The grant from the replacing statement's answer (its one row), or undefined when it matched nothing. */
function grantOf(result: unknown): RefreshTokenGrant | undefined {
  const [row] = rowsOf<ReplacedRow>(result);
  if (!row) return undefined;
  return {
    sessionId: row.session_id,
    userId: row.user_id,
    clientId: row.client_id,
    acr: row.acr,
    amr: parseTextArray(row.amr),
    remembered: row.remembered,
    authTime: new Date(Number(row.auth_time_ms)),
    expiresAt: new Date(Number(row.expires_at_ms)),
    previousDevice: { ipAddress: row.previous_ip, userAgent: row.previous_user_agent },
    emailVerified: row.email_verified === true,
    dpopJkt: row.dpop_jkt,
  };
}
