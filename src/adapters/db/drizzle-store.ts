import { and, desc, eq, inArray, isNull, lt, ne, or, sql } from 'drizzle-orm';
import type {
  AuthenticatorAssurance,
  CleanupTable,
  SessionView,
  Store,
  StoredRefreshToken,
} from '../../ports/store.js';
import { type Database, rowsOf } from './database.js';
import { createMfaStore } from './drizzle-mfa-store.js';
import { refreshTokens, securityEvents, signingKeys, users } from './schema.js';
import { liveHead, replaceLiveToken, revokeUntilNone } from './token-rows.js';

const userColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  passwordHash: users.passwordHash,
  mfaEnabled: users.mfaEnabled,
  createdAt: users.createdAt,
  passwordChangedAt: users.passwordChangedAt,
};

/** Serialises the signing-key changes of every instance on one database. */
const SIGNING_KEY_LOCK = 0x4c4b_0001;

/** Key column and the timestamp whose index drives the batch, per table cleanup touches. */
const CLEANUP_COLUMNS: Record<CleanupTable, [string, string]> = {
  refresh_tokens: ['id', 'expires_at'],
  mfa_challenges: ['id', 'expires_at'],
  rate_limits: ['key', 'window_ends_at'],
  security_events: ['id', 'created_at'],
};

export function createDrizzleStore(db: Database): Store {
  return {
    ...createMfaStore(db),
    async ping() {
      await db.execute(sql`SELECT 1`);
    },

    async createUser({ id, email, name, passwordHash, now }) {
      const [row] = await db
        .insert(users)
        .values({ id, email, name, passwordHash, createdAt: now })
        .onConflictDoNothing({ target: users.email })
        .returning(userColumns);
      return row ?? 'email_taken';
    },

    async findUserByEmail(email) {
      const [row] = await db.select(userColumns).from(users).where(eq(users.email, email)).limit(1);
      return row;
    },

    async findUserById(id) {
      const [row] = await db.select(userColumns).from(users).where(eq(users.id, id)).limit(1);
      return row;
    },

    async replacePasswordHash(userId, expectedHash, newHash) {
      const rows = await db
        .update(users)
        .set({ passwordHash: newHash })
        .where(and(eq(users.id, userId), eq(users.passwordHash, expectedHash)))
        .returning({ id: users.id });
      return rows.length === 1;
    },

    async openSession(session, { maxSessions, verifiedPasswordHash }) {
      return db.transaction(async (tx) => {
        // NO KEY UPDATE serialises logins of one user without blocking the KEY SHARE lock that
        // a concurrent rotation's foreign-key check takes on the same row (no deadlock).
        const [user] = await tx
          .select({ passwordHash: users.passwordHash })
          .from(users)
          .where(eq(users.id, session.userId))
          .for('no key update');
        if (!user || user.passwordHash !== verifiedPasswordHash) return 'credentials_changed' as const;

        const live = await tx
          .select({ sessionId: refreshTokens.sessionId })
          .from(refreshTokens)
          .where(and(eq(refreshTokens.userId, session.userId), liveHead(session.createdAt)))
          .orderBy(desc(refreshTokens.issuedAt), desc(refreshTokens.sessionId));
        const evictedSessionIds = live.slice(Math.max(0, maxSessions - 1)).map((row) => row.sessionId);
        if (evictedSessionIds.length > 0) {
          await revokeUntilNone(
            tx,
            and(inArray(refreshTokens.sessionId, evictedSessionIds)),
            session.createdAt,
            'session_limit',
          );
        }

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
        return { evictedSessionIds };
      });
    },

    async rotateRefreshToken({ presentedHash, successorHash, clientId, now, refreshTokenTtlMs, device }) {
      // RFC 9700 §4.14.2: the conditional UPDATE claims the token (a concurrent claim waits
      // for the row lock, re-checks the WHERE and gets nothing); only a claimed token gets a successor.
      const at = now.toISOString();
      return replaceLiveToken(db, {
        claim: sql`token_hash = ${presentedHash} AND expires_at > ${at}::timestamptz AND client_id = ${clientId}`,
        mark: sql`rotated_at = ${at}::timestamptz`,
        successorHash,
        now,
        refreshTokenTtlMs,
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
        })
        .from(refreshTokens)
        .where(inArray(refreshTokens.tokenHash, tokenHashes));
      return rows.map((row): StoredRefreshToken => ({ ...row, acr: row.acr as AuthenticatorAssurance }));
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
        createdAt: event.at,
      });
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
      const [key, column] = CLEANUP_COLUMNS[table];
      // Short transactions, no waiting: rows locked by another instance are skipped.
      const result = await db.execute(sql`
        WITH doomed AS (
          SELECT ${sql.identifier(key)} AS k FROM ${sql.identifier(table)}
          WHERE ${sql.identifier(column)} < ${at}::timestamptz
          ORDER BY ${sql.identifier(column)}
          LIMIT ${batchSize}
          FOR UPDATE SKIP LOCKED
        )
        DELETE FROM ${sql.identifier(table)} WHERE ${sql.identifier(key)} IN (SELECT k FROM doomed)
        RETURNING 1`);
      return rowsOf(result).length;
    },

    async listSigningKeys() {
      return db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt), desc(signingKeys.kid));
    },

    async addSigningKey(key, { onlyIfNone, retire }) {
      return db.transaction(async (tx) => {
        await tx.execute(sql`SELECT pg_advisory_xact_lock(${SIGNING_KEY_LOCK})`);
        if (onlyIfNone) {
          const current = await tx
            .select({ kid: signingKeys.kid })
            .from(signingKeys)
            .where(and(isNull(signingKeys.retiredAt), eq(signingKeys.alg, key.alg)))
            .limit(1);
          if (current.length > 0) return false;
        }
        await tx
          .update(signingKeys)
          .set({ retiredAt: key.createdAt })
          .where(
            retire === 'all'
              ? isNull(signingKeys.retiredAt)
              : and(isNull(signingKeys.retiredAt), eq(signingKeys.alg, key.alg)),
          );
        await tx.insert(signingKeys).values(key);
        return true;
      });
    },
  };
}
