import { and, eq, ne } from 'drizzle-orm';
import type { UserRole, UserStore } from '../../ports/store.js';
import type { Database } from './database.js';
import { refreshTokens, users } from './schema.js';
import { endPendingCredentials, revokeUntilNone } from './token-rows.js';

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

/** Users and their passwords (the UserStore port) over drizzle. */
export function createUserStore(db: Database): UserStore {
  return {
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
  };
}
