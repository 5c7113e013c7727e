import { and, desc, eq, gt, inArray, isNull, lt, lte, ne, or, sql } from 'drizzle-orm';
import { admitSession } from '../../domain/session-policy.js';
import type {
  AuthenticatorAssurance,
  CleanupTable,
  NewSession,
  SessionView,
  Store,
  StoredRefreshToken,
  UserRole,
} from '../../ports/store.js';
import { type Database, rowsOf } from './database.js';
import { createAdminStore } from './drizzle-admin-store.js';
import { createMfaStore } from './drizzle-mfa-store.js';
import { endedHead, liveHead } from './live-sessions.js';
import { loginHolds, refreshTokens, securityEvents, signingKeys, users } from './schema.js';
import { endPendingCredentials, lockUser, replaceLiveToken, revokeUntilNone } from './token-rows.js';

const userColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  passwordHash: users.passwordHash,
  mfaEnabled: users.mfaEnabled,
  createdAt: users.createdAt,
  passwordChangedAt: users.passwordChangedAt,
  role: users.role,
  disabledAt: users.disabledAt,
};

const asUserRecord = <T extends { role: string }>(row: T | undefined) =>
  row ? { ...row, role: row.role as UserRole } : undefined;

/** Serialises the signing-key changes of every instance on one database. */
const SIGNING_KEY_LOCK = 0x4c4b_0001;

/** Table, key column and the timestamp whose index drives the batch, per cleanup job. */
const CLEANUP_COLUMNS: Record<CleanupTable, [string, string, string]> = {
  refresh_tokens: ['refresh_tokens', 'id', 'expires_at'],
  revoked_sessions: ['refresh_tokens', 'id', 'revoked_at'],
  mfa_challenges: ['mfa_challenges', 'id', 'expires_at'],
  rate_limits: ['rate_limits', 'key', 'window_ends_at'],
  security_events: ['security_events', 'id', 'created_at'],
  signing_keys: ['signing_keys', 'kid', 'retired_at'],
  login_holds: ['login_holds', 'id', 'expires_at'],
};

type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];

/** The user's live sessions, most recently active first. */
async function liveSessionIds(tx: Tx, userId: string, now: Date): Promise<string[]> {
  const live = await tx
    .select({ sessionId: refreshTokens.sessionId })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.userId, userId), liveHead(now)))
    .orderBy(desc(refreshTokens.issuedAt), desc(refreshTokens.sessionId));
  return live.map((row) => row.sessionId);
}

async function insertSession(tx: Tx, session: NewSession): Promise<void> {
  await tx.insert(refreshTokens).values({
    id: crypto.randomUUID(),
    tokenHash: session.tokenHash,
    sessionId: session.sessionId,
    userId: session.userId,
    clientId: session.clientId,
    deviceName: session.deviceName,
    ipAddress: session.ipAddress,
    userAgent: session.userAgent,
    location: session.location,
    remembered: session.remembered,
    acr: session.acr,
    amr: session.amr,
    authTime: session.authTime,
    sessionCreatedAt: session.createdAt,
    sessionExpiresAt: session.sessionExpiresAt,
    issuedAt: session.createdAt,
    expiresAt: session.tokenExpiresAt,
  });
}

export function createDrizzleStore(db: Database): Store {
  return {
    ...createMfaStore(db),
    ...createAdminStore(db),
    async ping() {
      await db.execute(sql`SELECT 1`);
    },

    async createUser({ id, email, name, passwordHash, now }) {
      const [row] = await db
        .insert(users)
        .values({ id, email, name, passwordHash, createdAt: now })
        .onConflictDoNothing({ target: users.email })
        .returning(userColumns);
      return asUserRecord(row) ?? 'email_taken';
    },

    async findUserByEmail(email) {
      const [row] = await db.select(userColumns).from(users).where(eq(users.email, email)).limit(1);
      return asUserRecord(row);
    },

    async findUserById(id) {
      const [row] = await db.select(userColumns).from(users).where(eq(users.id, id)).limit(1);
      return asUserRecord(row);
    },

    async replacePasswordHash(userId, expectedHash, newHash) {
      const rows = await db
        .update(users)
        .set({ passwordHash: newHash })
        .where(and(eq(users.id, userId), eq(users.passwordHash, expectedHash)))
        .returning({ id: users.id });
      return rows.length === 1;
    },

    async openSession(session, { maxSessions, verifiedPasswordHash, onLimit }) {
      return db.transaction(async (tx) => {
        const user = await lockUser(tx, session.userId);
        if (user?.passwordHash !== verifiedPasswordHash) return 'credentials_changed' as const;
        if (user.disabledAt) return 'account_disabled' as const;
        const live = await liveSessionIds(tx, session.userId, session.createdAt);
        const decision = admitSession(live, maxSessions, onLimit);
        if (!decision.admitted) return 'limit_reached' as const;
        const evictedSessionIds = decision.evict;
        if (evictedSessionIds.length > 0) {
          await revokeUntilNone(
            tx,
            and(inArray(refreshTokens.sessionId, evictedSessionIds)),
            session.createdAt,
            'session_limit',
          );
        }
        await insertSession(tx, session);
        return { evictedSessionIds };
      });
    },

    async createLoginHold(hold) {
      await db.insert(loginHolds).values(hold);
    },

    async findLoginHold(tokenHash, now) {
      const [row] = await db
        .select()
        .from(loginHolds)
        .where(
          and(
            eq(loginHolds.tokenHash, tokenHash),
            isNull(loginHolds.consumedAt),
            gt(loginHolds.expiresAt, now),
          ),
        );
      return row
        ? { ...row, acr: row.acr as AuthenticatorAssurance, delivery: row.delivery as 'body' | 'cookie' }
        : undefined;
    },

    async completeLoginHold({ holdId, revokeSessionId, session, maxSessions, now }) {
      type Outcome = 'invalid_hold' | 'no_such_session' | 'limit_reached' | 'account_disabled';
      const outcome = (value: Outcome) => Object.assign(new Error(value), { outcome: value });
      try {
        return await db.transaction(async (tx) => {
          const user = await lockUser(tx, session.userId);
          if (user?.disabledAt) throw outcome('account_disabled');
          const used = await tx
            .update(loginHolds)
            .set({ consumedAt: now })
            .where(
              and(
                eq(loginHolds.id, holdId),
                isNull(loginHolds.consumedAt),
                gt(loginHolds.expiresAt, now),
                // A hold from before a password change is dead (the change also deletes it).
                user?.passwordChangedAt ? gt(loginHolds.createdAt, user.passwordChangedAt) : undefined,
              ),
            )
            .returning({ id: loginHolds.id });
          if (used.length === 0) throw outcome('invalid_hold');
          const live = await liveSessionIds(tx, session.userId, now);
          if (!live.includes(revokeSessionId)) throw outcome('no_such_session');
          await revokeUntilNone(tx, eq(refreshTokens.sessionId, revokeSessionId), now, 'session_limit');
          // The user chose which session makes room: no other is evicted for it.
          const rest = live.filter((id) => id !== revokeSessionId);
          if (!admitSession(rest, maxSessions, 'reject').admitted) throw outcome('limit_reached');
          await insertSession(tx, session);
          return 'ok' as const;
        });
      } catch (error) {
        const value = (error as { outcome?: Outcome }).outcome;
        if (value) return value; // the transaction rolled back: the hold is still usable
        throw error;
      }
    },

    async dropLoginHold(holdId, now) {
      const rows = await db
        .update(loginHolds)
        .set({ consumedAt: now })
        .where(and(eq(loginHolds.id, holdId), isNull(loginHolds.consumedAt)))
        .returning({ id: loginHolds.id });
      return rows.length === 1;
    },

    async rotateRefreshToken({ presentedHash, successorHash, clientId, now, notAfter, device }) {
      // RFC 9700 §4.14.2: the conditional UPDATE claims the token (a concurrent claim waits
      // for the row lock, re-checks the WHERE and gets nothing); only a claimed token gets a successor.
      const at = now.toISOString();
      return replaceLiveToken(db, {
        claim: sql`token_hash = ${presentedHash} AND client_id = ${clientId}`,
        mark: sql`rotated_at = ${at}::timestamptz`,
        successorHash,
        now,
        notAfter,
        device,
      });
    },

    async findRefreshTokens(tokenHashes) {
      if (tokenHashes.length === 0) return [];
      const rows = await db
        .select({
          tokenHash: refreshTokens.tokenHash,
          sessionId: refreshTokens.sessionId,
          userId: refreshTokens.userId,
          clientId: refreshTokens.clientId,
          acr: refreshTokens.acr,
          amr: refreshTokens.amr,
          authTime: refreshTokens.authTime,
          remembered: refreshTokens.remembered,
          expiresAt: refreshTokens.expiresAt,
          rotatedAt: refreshTokens.rotatedAt,
          revokedAt: refreshTokens.revokedAt,
          issuedAt: refreshTokens.issuedAt,
          ipAddress: refreshTokens.ipAddress,
          userAgent: refreshTokens.userAgent,
        })
        .from(refreshTokens)
        .where(inArray(refreshTokens.tokenHash, tokenHashes));
      return rows.map((row): StoredRefreshToken => ({ ...row, acr: row.acr as AuthenticatorAssurance }));
    },

    async listRevokedSessions(since) {
      // A revoked session's head is its one row revoked while not rotated
      // (refresh_tokens_revoked_head_idx).
      const rows = await db
        .select({ sessionId: refreshTokens.sessionId, revokedAt: refreshTokens.revokedAt })
        .from(refreshTokens)
        .where(
          and(endedHead(), gt(refreshTokens.revokedAt, since), ne(refreshTokens.revokedReason, 'stepped_up')),
        )
        .orderBy(refreshTokens.revokedAt, refreshTokens.sessionId);
      return rows.map((row) => ({ sessionId: row.sessionId, revokedAt: row.revokedAt! }));
    },

    async sessionStats(now) {
      const at = now.toISOString();
      const midnight = new Date(
        Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()),
      ).toISOString();
      const dayAgo = new Date(now.getTime() - 24 * 3600 * 1000).toISOString();
      const result = await db.execute(sql`
        SELECT
          (SELECT count(*) FROM refresh_tokens WHERE ${liveHead(now)})::float8 AS active,
          (SELECT COALESCE(avg(extract(epoch FROM ${at}::timestamptz - session_created_at)), 0) FROM refresh_tokens
            WHERE ${liveHead(now)})::float8 AS live_age,
          -- Every opened session records one login_succeeded: counted on the created_at index,
          -- where counting sessions in refresh_tokens would read the whole table.
          (SELECT count(*) FROM security_events
            WHERE created_at >= ${midnight}::timestamptz AND type = 'login_succeeded')::float8 AS created_today,
          (SELECT COALESCE(avg(extract(epoch FROM revoked_at - session_created_at)), 0) FROM refresh_tokens
            WHERE ${endedHead()} AND revoked_at > ${dayAgo}::timestamptz
              AND revoked_reason <> 'stepped_up')::float8 AS ended_duration`);
      const [row] = rowsOf<{
        active: number;
        live_age: number;
        created_today: number;
        ended_duration: number;
      }>(result);
      return {
        active: Number(row?.active ?? 0),
        createdToday: Number(row?.created_today ?? 0),
        averageLiveAgeSeconds: Number(row?.live_age ?? 0),
        averageEndedDurationSeconds: Number(row?.ended_duration ?? 0),
      };
    },

    async isSessionLive(sessionId, userId, now) {
      const rows = await db
        .select({ one: sql`1` })
        .from(refreshTokens)
        .where(and(eq(refreshTokens.sessionId, sessionId), eq(refreshTokens.userId, userId), liveHead(now)))
        .limit(1);
      return rows.length === 1;
    },

    async listSessions(userId, now) {
      const rows = await db
        .select({
          id: refreshTokens.sessionId,
          deviceName: refreshTokens.deviceName,
          ipAddress: refreshTokens.ipAddress,
          userAgent: refreshTokens.userAgent,
          location: refreshTokens.location,
          createdAt: refreshTokens.sessionCreatedAt,
          lastActiveAt: refreshTokens.issuedAt,
          expiresAt: refreshTokens.expiresAt,
          remembered: refreshTokens.remembered,
          acr: refreshTokens.acr,
        })
        .from(refreshTokens)
        .where(and(eq(refreshTokens.userId, userId), liveHead(now)))
        .orderBy(desc(refreshTokens.issuedAt), desc(refreshTokens.sessionId));
      return rows.map((row): SessionView => ({ ...row, acr: row.acr as AuthenticatorAssurance }));
    },

    async revokeSession({ sessionId, userId, now, reason }) {
      const scope = userId
        ? and(eq(refreshTokens.sessionId, sessionId), eq(refreshTokens.userId, userId))
        : and(eq(refreshTokens.sessionId, sessionId));
      const revoked = await revokeUntilNone(db, scope, now, reason);
      return revoked.has(sessionId);
    },

    async revokeUserSessions({ userId, now, reason, exceptSessionId }) {
      const scope = exceptSessionId
        ? and(eq(refreshTokens.userId, userId), ne(refreshTokens.sessionId, exceptSessionId))
        : and(eq(refreshTokens.userId, userId));
      return (await revokeUntilNone(db, scope, now, reason)).size;
    },

    async changePassword({ userId, expectedHash, newHash, now, keepSessionId }) {
      return db.transaction(async (tx) => {
        const [user] = await tx
          .update(users)
          .set({ passwordHash: newHash, passwordChangedAt: now })
          .where(and(eq(users.id, userId), eq(users.passwordHash, expectedHash)))
          .returning({ id: users.id });
        if (!user) return 'credentials_changed' as const;
        await endPendingCredentials(tx, userId);
        const revoked = await revokeUntilNone(
          tx,
          and(eq(refreshTokens.userId, userId), ne(refreshTokens.sessionId, keepSessionId)),
          now,
          'password_changed',
        );
        return { revoked: revoked.size };
      });
    },

    async recordSecurityEvent(event) {
      await db.insert(securityEvents).values({
        id: crypto.randomUUID(),
        userId: event.userId,
        sessionId: event.sessionId ?? null,
        type: event.type,
        ipAddress: event.ipAddress ?? null,
        userAgent: event.userAgent ?? null,
        details: event.details ?? null,
        country: typeof event.details?.country === 'string' ? event.details.country : null,
        createdAt: event.at,
      });
    },

    async hasLoggedInFrom(userId, network, since) {
      const rows = await db
        .select({ one: sql`1` })
        .from(securityEvents)
        .where(
          and(
            eq(securityEvents.userId, userId),
            eq(securityEvents.type, 'login_succeeded'),
            gt(securityEvents.createdAt, since),
            sql`${securityEvents.ipAddress} <<= ${network}::cidr`,
          ),
        )
        .limit(1);
      return rows.length === 1;
    },

    async seenBefore(userId, { userAgent, location }) {
      const loginWith = (condition: ReturnType<typeof sql>) => sql`EXISTS (
        SELECT 1 FROM security_events
        WHERE user_id = ${userId} AND type IN ('login_succeeded') AND ${condition})`;
      const [row] = rowsOf<{ device: boolean; location: boolean }>(
        await db.execute(sql`SELECT
          ${userAgent === null ? sql`true` : loginWith(sql`user_agent = ${userAgent}`)} AS device,
          ${location === null ? sql`true` : loginWith(sql`details->>'location' = ${location}`)} AS location`),
      );
      return { device: Boolean(row?.device), location: Boolean(row?.location) };
    },

    async listSecurityEvents(userId, { limit, before }) {
      return db
        .select({
          id: securityEvents.id,
          type: securityEvents.type,
          sessionId: securityEvents.sessionId,
          ipAddress: securityEvents.ipAddress,
          userAgent: securityEvents.userAgent,
          details: securityEvents.details,
          at: securityEvents.createdAt,
        })
        .from(securityEvents)
        .where(
          and(
            eq(securityEvents.userId, userId),
            before
              ? or(
                  lt(securityEvents.createdAt, before.at),
                  and(eq(securityEvents.createdAt, before.at), lt(securityEvents.id, before.id)),
                )
              : undefined,
          ),
        )
        .orderBy(desc(securityEvents.createdAt), desc(securityEvents.id))
        .limit(limit);
    },

    async deleteExpiredBatch(table, cutoff, batchSize) {
      const at = cutoff.toISOString();
      const [name, key, column] = CLEANUP_COLUMNS[table];
      // Short transactions, no waiting: rows locked by another instance are skipped.
      const result = await db.execute(sql`
        WITH doomed AS (
          SELECT ${sql.identifier(key)} AS k FROM ${sql.identifier(name)}
          WHERE ${sql.identifier(column)} < ${at}::timestamptz
          ORDER BY ${sql.identifier(column)}
          LIMIT ${batchSize}
          FOR UPDATE SKIP LOCKED
        )
        DELETE FROM ${sql.identifier(name)} WHERE ${sql.identifier(key)} IN (SELECT k FROM doomed)
        RETURNING 1`);
      return rowsOf(result).length;
    },

    async listSigningKeys() {
      return db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt), desc(signingKeys.kid));
    },

    async addSigningKey(key, { onlyIfNone, retire }) {
      // A key "signs at t" when activates_at <= t < retired_at (or no retired_at).
      const from = key.activatesAt;
      const stillSigningAt = or(isNull(signingKeys.retiredAt), gt(signingKeys.retiredAt, from));
      return db.transaction(async (tx) => {
        await tx.execute(sql`SELECT pg_advisory_xact_lock(${SIGNING_KEY_LOCK})`);
        if (onlyIfNone) {
          const current = await tx
            .select({ kid: signingKeys.kid })
            .from(signingKeys)
            .where(and(stillSigningAt, lte(signingKeys.activatesAt, from), eq(signingKeys.alg, key.alg)))
            .limit(1);
          if (current.length > 0) return false;
        }
        // Keys that would still sign when the new one starts stop at that moment: exactly one
        // key of an algorithm signs at any time, and the old one keeps signing until then.
        await tx
          .update(signingKeys)
          .set({ retiredAt: from })
          .where(retire === 'all' ? stillSigningAt : and(stillSigningAt, eq(signingKeys.alg, key.alg)));
        await tx.insert(signingKeys).values(key);
        return true;
      });
    },
  };
}
