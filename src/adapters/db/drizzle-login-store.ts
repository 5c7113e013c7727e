import { inArray, type SQL, sql } from 'drizzle-orm';
import { webhookBody, webhookEventOf } from '../../domain/webhook-events.js';
import type { LoginStore, UserRole } from '../../ports/store.js';
import { type Database, rowsOf } from './database.js';
import { type SeenRow, securityEventRow, seenBeforeColumns, seenOf } from './drizzle-event-log.js';
import { insertOutboxMessages } from './drizzle-outbox.js';
import { hitStatement, refundStatement, waitsOf } from './drizzle-rate-limiter.js';
import { liveHead } from './live-sessions.js';
import { refreshTokens, users } from './schema.js';
import { revokeUntilNone } from './token-rows.js';

/** postgres.js hands json back parsed, PGlite too; text is parsed here in case. */
const jsonOf = <T>(value: unknown): T | null =>
  value === null || value === undefined
    ? null
    : typeof value === 'string'
      ? (JSON.parse(value) as T)
      : (value as T);

const dateOf = (ms: number | string | null) => (ms === null ? null : new Date(Number(ms)));

const textArray = (values: readonly string[]) =>
  values.length === 0
    ? sql`ARRAY[]::text[]`
    : sql`ARRAY[${sql.join(
        values.map((value) => sql`${value}::text`),
        sql`, `,
      )}]::text[]`;

interface AttemptRow extends SeenRow {
  hits: unknown;
  id: string | null;
  email: string;
  name: string | null;
  password_hash: string;
  mfa_enabled: boolean;
  role: string;
  created_at_ms: number | string;
  password_changed_at_ms: number | string | null;
  disabled_at_ms: number | string | null;
  email_verified_at_ms: number | string | null;
  owned_network: boolean;
  has_passkey: boolean;
}

interface OpenedRow {
  found: boolean;
  same_password: boolean;
  disabled: boolean;
  email_verified: boolean;
  locked: boolean;
  opened: boolean;
  evicted: unknown;
}

/**
 * Locks the user's row by UPDATING it (a new row version: its `xmin` changes), in the
 * transactions that open a session another way (completeLoginHold, openSession): the login's
 * one statement below sees such a session being added as a change of `xmin`. Returns what
 * lockUser returns.
 */
export async function touchUser(tx: Pick<Database, 'update'>, userId: string) {
  const [user] = await tx
    .update(users)
    .set({ passwordHash: sql`${users.passwordHash}` })
    .where(sql`${users.id} = ${userId}`)
    .returning({
      passwordHash: users.passwordHash,
      passwordChangedAt: users.passwordChangedAt,
      disabledAt: users.disabledAt,
      emailVerifiedAt: users.emailVerifiedAt,
    });
  return user;
}

/**
 * The password login's reads and writes (the LoginStore port), one statement each (issue #21).
 *
 * The write decides the session limit on the live sessions it reads, and in READ COMMITTED a
 * statement reads from one snapshot taken when it starts: a lock taken inside it does not make
 * its own reads newer. A parallel login of the same user that commits while this one waits for
 * the user's row would be invisible, and both would keep a session past the limit. So every
 * session opening UPDATES the user's row (a new row version, a new `xmin`) under that lock, and
 * this statement takes the lock with `UPDATE … WHERE xmin = <xmin in its snapshot>`: PostgreSQL
 * re-checks that condition on the newest version after the wait (EvalPlanQual), so the lock is
 * only taken when nobody changed the row since the snapshot, and then the snapshot holds every
 * session opened before. Otherwise nothing is written and the same statement runs again in a
 * transaction after the lock (touchUser), where its snapshot is taken after the lock.
 */
export function createLoginStore(db: Database): LoginStore {
  async function openStatement(
    executor: Pick<Database, 'execute'>,
    input: Parameters<LoginStore['openLoginSession']>[0],
  ): Promise<OpenedRow> {
    const { session, event } = input;
    const at = session.createdAt.toISOString();
    const row = securityEventRow(event);
    const eventAt = row.createdAt.toISOString();
    const hook = webhookEventOf(event);
    const refund =
      input.refund && input.refund.keys.length + input.refund.clear.length > 0 ? input.refund : null;
    const list = (items: readonly string[]) =>
      sql.join(
        items.map((key) => sql`${key}::text`),
        sql`, `,
      );
    // Webhook deliveries of the event (issue #18), as insertSecurityEvents writes them.
    const deliveries: SQL = hook
      ? sql`, deliveries AS (
      INSERT INTO outbox (id, kind, user_id, idempotency_key, payload, status, attempts, next_attempt_at,
        created_at, endpoint_id)
      SELECT gen_random_uuid(), ${hook.type}, NULL, 'msg_' || replace(gen_random_uuid()::text, '-', ''),
        ${webhookBody(hook, row.createdAt)}, 'pending', 0, ${eventAt}::timestamptz, ${eventAt}::timestamptz, endpoint.id
      FROM webhook_endpoints endpoint
      WHERE endpoint.enabled AND (endpoint.event_types IS NULL OR ${hook.type}::text = ANY (endpoint.event_types))
        AND EXISTS (SELECT 1 FROM event)
    )`
      : sql``;
    // The right password's attempt given back (RateLimiter.refund), after the user's lock (one
    // lock order for every login: the user's row, then the counters in key order).
    const refunded: SQL = refund
      ? sql`, locked_limits AS (
      SELECT key FROM rate_limits
      WHERE key IN (${list([...new Set([...refund.keys, ...refund.clear])])}) AND EXISTS (SELECT 1 FROM locked)
      ORDER BY key
      FOR UPDATE
    ), refunded AS (
      UPDATE rate_limits SET points = ${
        refund.clear.length > 0
          ? sql`CASE WHEN rate_limits.key IN (${list(refund.clear)}) THEN 0 ELSE rate_limits.points - 1 END`
          : sql`rate_limits.points - 1`
      }
      FROM locked_limits
      WHERE rate_limits.key = locked_limits.key AND rate_limits.points > 0
        AND rate_limits.window_ends_at > ${at}::timestamptz
    )`
      : sql``;
    const result = await executor.execute(sql`
    WITH snap AS (
      SELECT xmin AS version, password_hash, disabled_at IS NOT NULL AS disabled,
        email_verified_at IS NOT NULL AS email_verified
      FROM users WHERE id = ${session.userId}::uuid
    ), locked AS (
      UPDATE users SET password_hash = users.password_hash
      FROM snap
      WHERE users.id = ${session.userId}::uuid AND users.xmin = snap.version
        AND users.password_hash = ${input.verifiedPasswordHash}::text AND users.disabled_at IS NULL
      RETURNING users.id
    ), live AS (
      SELECT session_id, row_number() OVER (ORDER BY issued_at DESC, session_id DESC) AS rank
      FROM refresh_tokens
      WHERE user_id = ${session.userId}::uuid AND ${liveHead(session.createdAt)} AND EXISTS (SELECT 1 FROM locked)
    ), admitted AS (
      -- domain/session-policy.ts admitSession: at the limit, 'reject' opens nothing, 'evict'
      -- revokes the least recently active sessions so that this one is the limit's last.
      SELECT id FROM locked
      WHERE ${input.onLimit}::text = 'evict' OR (SELECT count(*) FROM live) < ${input.maxSessions}::int
    ), evicting AS (
      SELECT session_id, rank FROM live WHERE rank >= ${input.maxSessions}::int AND EXISTS (SELECT 1 FROM admitted)
    ), evicted AS (
      UPDATE refresh_tokens SET revoked_at = ${at}::timestamptz, revoked_reason = 'session_limit'
      WHERE session_id IN (SELECT session_id FROM evicting) AND revoked_at IS NULL
      RETURNING session_id
    ), opened AS (
      INSERT INTO refresh_tokens (
        id, token_hash, session_id, user_id, client_id, device_name, ip_address, user_agent,
        location, remembered, acr, amr, auth_time, session_created_at, session_expires_at,
        issued_at, expires_at, dpop_jkt
      )
      SELECT ${crypto.randomUUID()}::uuid, ${session.tokenHash}::text, ${session.sessionId}::uuid, id,
        ${session.clientId}::text, ${session.deviceName}::text, ${session.ipAddress}::inet,
        ${session.userAgent}::text, ${session.location}::text, ${session.remembered}::boolean,
        ${session.acr}::text, ${textArray(session.amr)}, ${session.authTime.toISOString()}::timestamptz,
        ${at}::timestamptz, ${session.sessionExpiresAt.toISOString()}::timestamptz, ${at}::timestamptz,
        ${session.tokenExpiresAt.toISOString()}::timestamptz, ${session.dpopJkt ?? null}::text
      FROM admitted
      RETURNING session_id
    ), event AS (
      INSERT INTO security_events (id, user_id, session_id, type, ip_address, user_agent, details, country, created_at)
      SELECT ${row.id}::uuid, ${row.userId}::uuid, ${row.sessionId}::uuid, ${row.type}, ${row.ipAddress}::inet,
        ${row.userAgent},
        ${JSON.stringify(row.details ?? {})}::jsonb || COALESCE((
          SELECT jsonb_build_object('evicted_sessions', jsonb_agg(session_id ORDER BY rank))
          FROM evicting HAVING count(*) > 0), '{}'::jsonb),
        ${row.country}, ${eventAt}::timestamptz
      FROM opened
      RETURNING id
    )${deliveries}${refunded}
    SELECT EXISTS (SELECT 1 FROM snap) AS found,
      COALESCE((SELECT password_hash = ${input.verifiedPasswordHash}::text FROM snap), false) AS same_password,
      COALESCE((SELECT disabled FROM snap), false) AS disabled,
      COALESCE((SELECT email_verified FROM snap), false) AS email_verified,
      EXISTS (SELECT 1 FROM locked) AS locked,
      EXISTS (SELECT 1 FROM opened) AS opened,
      (SELECT json_agg(session_id ORDER BY rank) FROM evicting) AS evicted`);
    const [answer] = rowsOf<OpenedRow>(result);
    if (!answer) throw new Error('the login statement returned no row');
    return answer;
  }

  return {
    async readLoginAttempt({ email, charges, ownedNetwork, device, now }) {
      const owned = ownedNetwork
        ? sql`CASE WHEN found.id IS NOT NULL
            AND (SELECT points FROM hit WHERE key = ${ownedNetwork.whenOver.key}::text) > ${ownedNetwork.whenOver.policy.points}::int
          THEN EXISTS (
            SELECT 1 FROM security_events
            WHERE user_id = found.id AND type = 'login_succeeded'
              AND created_at > ${ownedNetwork.since.toISOString()}::timestamptz
              AND ip_address <<= ${ownedNetwork.network}::cidr)
          ELSE false END`
        : sql`false`;
      const result = await db.execute(sql`
        WITH hit AS (${hitStatement(charges, now)}),
        found AS (
          SELECT id, email, name, password_hash, mfa_enabled, role,
            (extract(epoch FROM created_at) * 1000)::float8 AS created_at_ms,
            (extract(epoch FROM password_changed_at) * 1000)::float8 AS password_changed_at_ms,
            (extract(epoch FROM disabled_at) * 1000)::float8 AS disabled_at_ms,
            (extract(epoch FROM email_verified_at) * 1000)::float8 AS email_verified_at_ms
          FROM users WHERE email = ${email}::text LIMIT 1
        )
        SELECT (SELECT json_agg(json_build_object('key', key, 'points', points, 'ends_ms', ends_ms)) FROM hit) AS hits,
          found.*,
          ${owned} AS owned_network,
          found.id IS NOT NULL AND EXISTS (SELECT 1 FROM passkeys WHERE passkeys.user_id = found.id) AS has_passkey,
          ${seenBeforeColumns(sql`found.id`, device, now)}
        FROM (SELECT 1) AS one LEFT JOIN found ON true`);
      const [row] = rowsOf<AttemptRow>(result);
      const hits = jsonOf<{ key: string; points: number; ends_ms: number }[]>(row?.hits) ?? [];
      const waits = waitsOf(hits, charges, now);
      if (!row?.id)
        return { waits, user: undefined, fromOwnedNetwork: false, hasPasskey: false, seen: undefined };
      return {
        waits,
        user: {
          id: row.id,
          email: row.email,
          name: row.name,
          passwordHash: row.password_hash,
          mfaEnabled: row.mfa_enabled,
          createdAt: new Date(Number(row.created_at_ms)),
          passwordChangedAt: dateOf(row.password_changed_at_ms),
          role: row.role as UserRole,
          disabledAt: dateOf(row.disabled_at_ms),
          emailVerifiedAt: dateOf(row.email_verified_at_ms),
        },
        fromOwnedNetwork: row.owned_network === true,
        hasPasskey: row.has_passkey === true,
        seen: seenOf(row),
      };
    },

    async openLoginSession(input) {
      const now = input.session.createdAt;
      const notices = input.notices ?? [];
      type Outcome = Awaited<ReturnType<LoginStore['openLoginSession']>>;
      const decide = (row: OpenedRow): Outcome | undefined => {
        if (!row.found || !row.same_password) return 'credentials_changed';
        if (row.disabled) return 'account_disabled';
        if (!row.locked) return undefined; // the row changed since the snapshot: run again, locked
        if (!row.opened) return 'limit_reached';
        return {
          evictedSessionIds: jsonOf<string[]>(row.evicted) ?? [],
          emailVerified: row.email_verified === true,
        };
      };
      // An evicted session's successor that a rotation inserted after this statement's snapshot
      // is not revoked by it: revokeUntilNone finishes (a new snapshot per pass).
      const sweep = async (executor: Parameters<typeof revokeUntilNone>[0], ids: string[]) => {
        if (ids.length > 0)
          await revokeUntilNone(executor, inArray(refreshTokens.sessionId, ids), now, 'session_limit');
      };
      let outcome: Outcome | undefined;
      if (notices.length === 0) {
        const row = await openStatement(db, input);
        outcome = decide(row);
        if (outcome !== undefined && typeof outcome === 'object') await sweep(db, outcome.evictedSessionIds);
      }
      if (outcome === undefined) {
        // A parallel change of the user (or notices to write with the event): the same
        // statement in a transaction, after the user's lock, where its snapshot is newer.
        outcome = await db.transaction(async (tx) => {
          await touchUser(tx, input.session.userId);
          const decided = decide(await openStatement(tx, input));
          if (decided === undefined) throw new Error('the user row changed under its lock');
          if (typeof decided === 'object') {
            await sweep(tx, decided.evictedSessionIds);
            await insertOutboxMessages(tx, notices);
          }
          return decided;
        });
      }
      // The refund was made with the lock; without it (the password changed, the account was
      // disabled) it is made now: a right password is given back whatever happens next.
      if (typeof outcome === 'string' && outcome !== 'limit_reached' && input.refund) {
        const { keys, clear } = input.refund;
        if (keys.length + clear.length > 0) await db.execute(refundStatement(keys, now, clear));
      }
      return outcome;
    },
  };
}
