import { and, desc, eq, gt, inArray, isNull, ne, sql } from 'drizzle-orm';
import { admitSession } from '../../domain/session-policy.js';
import type {
  AuthenticatorAssurance,
  NewSession,
  SessionStore,
  SessionView,
  StoredRefreshToken,
} from '../../ports/store.js';
import type { Database } from './database.js';
import { touchUser } from './drizzle-login-store.js';
import { endedHead, liveHead } from './live-sessions.js';
import { loginHolds, refreshTokens, users } from './schema.js';
import { preparedRotation, revokeUntilNone } from './token-rows.js';

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
    dpopJkt: session.dpopJkt ?? null,
  });
}

/**
 * Sessions and their refresh tokens (the SessionStore port) over drizzle: each method is one
 * statement or one transaction, under the user's lock where the session limit is decided.
 */
export function createSessionStore(db: Database): SessionStore {
  return {
    async openSession(session, { maxSessions, verifiedPasswordHash, onLimit }) {
      return db.transaction(async (tx) => {
        // Locked by an update: the login's one statement sees the new session (drizzle-login-store.ts).
        const user = await touchUser(tx, session.userId);
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
        return { evictedSessionIds, emailVerified: user.emailVerifiedAt !== null };
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
          // Locked by an update: the login's one statement sees the new session (drizzle-login-store.ts).
          const user = await touchUser(tx, session.userId);
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
          return { emailVerified: user?.emailVerifiedAt != null };
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

    rotateRefreshToken: preparedRotation(db),

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
          dpopJkt: refreshTokens.dpopJkt,
          emailVerified: sql<boolean>`${users.emailVerifiedAt} IS NOT NULL`,
        })
        .from(refreshTokens)
        .innerJoin(users, eq(users.id, refreshTokens.userId))
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
          amr: refreshTokens.amr,
          keyBound: sql<boolean>`${refreshTokens.dpopJkt} IS NOT NULL`,
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
  };
}
