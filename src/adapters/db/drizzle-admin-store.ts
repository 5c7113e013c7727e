import { and, asc, eq, gt, isNotNull, isNull, like, sql } from 'drizzle-orm';
import type { AnalyticsFigures, DayCount, Store, UserRole } from '../../ports/store.js';
import { analyticsQueries } from './analytics-queries.js';
import { type Database, rowsOf } from './database.js';
import { liveHead } from './live-sessions.js';
import { mfaFactors, passkeys, recoveryCodes, refreshTokens, users } from './schema.js';
import { endPendingCredentials, lockUser, revokeUntilNone } from './token-rows.js';

type AdminStore = Pick<
  Store,
  'searchUsers' | 'setUserRole' | 'disableUser' | 'enableUser' | 'resetMfa' | 'analytics'
>;

/** `LIKE` treats `%`, `_` and `\` specially; an email prefix means them literally. */
const escapeLike = (value: string) => value.replace(/[\\%_]/g, (char) => `\\${char}`);

export function createAdminStore(db: Database): AdminStore {
  return {
    async searchUsers({ emailPrefix, id, limit, afterEmail }, now) {
      // Spelled out: drizzle leaves columns of a one-table query unqualified, and an unqualified
      // "id" inside the subquery would be refresh_tokens.id.
      const liveSessions = sql<number>`(SELECT count(*)::int FROM refresh_tokens rt
        WHERE rt.user_id = "users"."id" AND ${liveHead(now, 'rt')})`;
      const rows = await db
        .select({
          id: users.id,
          email: users.email,
          name: users.name,
          role: users.role,
          mfaEnabled: users.mfaEnabled,
          createdAt: users.createdAt,
          disabledAt: users.disabledAt,
          liveSessions,
        })
        .from(users)
        .where(
          and(
            // A deleted account's tombstone is nobody an admin can act on.
            isNull(users.deletedAt),
            id ? eq(users.id, id) : undefined,
            emailPrefix ? like(users.email, `${escapeLike(emailPrefix)}%`) : undefined,
            afterEmail ? gt(users.email, afterEmail) : undefined,
          ),
        )
        .orderBy(asc(users.email))
        .limit(limit);
      return rows.map((row) => ({
        ...row,
        role: row.role as UserRole,
        liveSessions: Number(row.liveSessions),
      }));
    },

    async setUserRole(userId, role) {
      const rows = await db
        .update(users)
        .set({ role })
        .where(eq(users.id, userId))
        .returning({ id: users.id });
      return rows.length === 1;
    },

    async disableUser({ userId, now }) {
      return db.transaction(async (tx) => {
        // The same lock as a login's openSession: a login either finished before (and its
        // session is revoked here) or sees the account disabled.
        const user = await lockUser(tx, userId);
        if (!user) return 'not_found' as const;
        if (user.disabledAt) return 'unchanged' as const;
        await tx.update(users).set({ disabledAt: now }).where(eq(users.id, userId));
        await endPendingCredentials(tx, userId);
        const revoked = await revokeUntilNone(tx, eq(refreshTokens.userId, userId), now, 'user_disabled');
        return { revoked: revoked.size };
      });
    },

    async enableUser(userId) {
      const rows = await db
        .update(users)
        .set({ disabledAt: null })
        .where(and(eq(users.id, userId), isNotNull(users.disabledAt), isNull(users.deletedAt)))
        .returning({ id: users.id });
      if (rows.length === 1) return 'ok';
      const [exists] = await db
        .select({ id: users.id })
        .from(users)
        .where(and(eq(users.id, userId), isNull(users.deletedAt)));
      return exists ? 'unchanged' : 'not_found';
    },

    async resetMfa({ userId, now }) {
      return db.transaction(async (tx) => {
        const user = await lockUser(tx, userId);
        if (!user) return 'not_found' as const;
        const factors = await tx
          .delete(mfaFactors)
          .where(eq(mfaFactors.userId, userId))
          .returning({ id: mfaFactors.id });
        // Passkeys too: the admin reset is for a user who lost their devices, and whoever took
        // over the account may have added one.
        const removedPasskeys = await tx
          .delete(passkeys)
          .where(eq(passkeys.userId, userId))
          .returning({ id: passkeys.id });
        if (!user.mfaEnabled && factors.length === 0 && removedPasskeys.length === 0)
          return 'not_enabled' as const;
        await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
        await tx.update(users).set({ mfaEnabled: false }).where(eq(users.id, userId));
        await endPendingCredentials(tx, userId);
        // Whoever holds a session may be who took the factor: every session ends.
        const revoked = await revokeUntilNone(tx, eq(refreshTokens.userId, userId), now, 'mfa_reset');
        return { revoked: revoked.size };
      });
    },

    async analytics(window) {
      const queries = analyticsQueries(window);
      // One read-only snapshot, so the figures agree with each other.
      return db.transaction(
        async (tx) => {
          const exec = async <T>(query: (typeof queries)[keyof typeof queries]) =>
            rowsOf<T>(await tx.execute(query));
          type Bucket = { bucket: number; count: number };
          const buckets = (rows: Bucket[]) =>
            [...window.durationBuckets, null].map((upToSeconds, index) => ({
              upToSeconds,
              count: Number(rows.find((row) => Number(row.bucket) === index + 1)?.count ?? 0),
            }));
          const days = (rows: DayCount[]) => rows.map((row) => ({ day: row.day, count: Number(row.count) }));
          const [perUser] = await exec<AnalyticsFigures['liveSessionsPerUser']>(queries.liveSessionsPerUser);
          return {
            liveSessionsPerUser: {
              users: Number(perUser?.users ?? 0),
              sessions: Number(perUser?.sessions ?? 0),
              p50: Number(perUser?.p50 ?? 0),
              p90: Number(perUser?.p90 ?? 0),
              p99: Number(perUser?.p99 ?? 0),
              max: Number(perUser?.max ?? 0),
            },
            liveSessionAges: buckets(await exec<Bucket>(queries.liveSessionAges)),
            endedSessionDurations: buckets(await exec<Bucket>(queries.endedSessionDurations)),
            sessionsCreated: days(await exec<DayCount>(queries.sessionsCreated)),
            reuseDetections: days(await exec<DayCount>(queries.reuseDetections)),
            throttled: days(await exec<DayCount>(queries.throttled)),
            loginsByCountry: (
              await exec<{ country: string | null; count: number }>(queries.loginsByCountry)
            ).map((row) => ({ country: row.country, count: Number(row.count) })),
            loginsByUserAgent: (
              await exec<{ user_agent: string | null; count: number }>(queries.loginsByUserAgent)
            ).map((row) => ({ userAgent: row.user_agent, count: Number(row.count) })),
          };
        },
        { isolationLevel: 'repeatable read', accessMode: 'read only' },
      );
    },
  };
}
