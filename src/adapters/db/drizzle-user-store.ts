import { and, eq, isNull, ne } from 'drizzle-orm';
import type { UserRole, UserStore } from '../../ports/store.js';
import type { Database } from './database.js';
import { insertSecurityEvents } from './drizzle-event-log.js';
import { insertOutboxMessages } from './drizzle-outbox.js';
import {
  emailTokens,
  mfaFactors,
  outbox,
  passkeys,
  recoveryCodes,
  refreshTokens,
  securityEvents,
  users,
  webauthnChallenges,
} from './schema.js';
import { endPendingCredentials, lockUser, revokeUntilNone } from './token-rows.js';

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
  emailVerifiedAt: users.emailVerifiedAt,
};

const asUserRecord = <T extends { role: string }>(row: T | undefined) =>
  row ? { ...row, role: row.role as UserRole } : undefined;

/** Users and their passwords (the UserStore port) over drizzle. */
export function createUserStore(db: Database): UserStore {
  return {
    async createUser({ id, email, name, passwordHash, now, verification }) {
      const insert = (executor: Pick<Database, 'insert'>) =>
        executor
          .insert(users)
          .values({ id, email, name, passwordHash, createdAt: now })
          .onConflictDoNothing({ target: users.email })
          .returning(userColumns);
      if (!verification) {
        const [row] = await insert(db);
        return asUserRecord(row) ?? 'email_taken';
      }
      // The account and its verification mail commit together, or neither does.
      return db.transaction(async (tx) => {
        const [row] = await insert(tx);
        if (!row) return 'email_taken' as const;
        await tx.insert(emailTokens).values({
          id: verification.id,
          tokenHash: verification.tokenHash,
          userId: id,
          purpose: 'verify_email',
          email,
          createdAt: now,
          expiresAt: verification.expiresAt,
        });
        await insertOutboxMessages(tx, [verification.message]);
        return asUserRecord(row)!;
      });
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

    async renameUser(userId, name) {
      const [row] = await db
        .update(users)
        .set({ name })
        .where(and(eq(users.id, userId), isNull(users.deletedAt)))
        .returning(userColumns);
      return asUserRecord(row);
    },

    async deleteAccount({ userId, now, event }) {
      return db.transaction(async (tx) => {
        const user = await lockUser(tx, userId);
        if (!user || user.deletedAt) return 'not_found' as const;
        const revoked = await revokeUntilNone(tx, eq(refreshTokens.userId, userId), now, 'account_deleted');
        await endPendingCredentials(tx, userId);
        await tx.delete(mfaFactors).where(eq(mfaFactors.userId, userId));
        await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
        await tx.delete(passkeys).where(eq(passkeys.userId, userId));
        await tx.delete(webauthnChallenges).where(eq(webauthnChallenges.userId, userId));
        await tx.delete(emailTokens).where(eq(emailTokens.userId, userId));
        // Queued mail would name the address; what was sent is gone from the outbox already.
        await tx.delete(outbox).where(and(eq(outbox.userId, userId), eq(outbox.status, 'pending')));
        await tx
          .update(refreshTokens)
          .set({ deviceName: null, ipAddress: null, userAgent: null, location: null })
          .where(eq(refreshTokens.userId, userId));
        await tx
          .update(securityEvents)
          .set({ ipAddress: null, userAgent: null, details: null })
          .where(eq(securityEvents.userId, userId));
        await tx
          .update(users)
          .set({
            // Unique and not an address: the old one is free to register again at once.
            email: `deleted-${userId}@invalid`,
            name: null,
            // No argon2id hash verifies against this: no password opens the row again.
            passwordHash: '!deleted',
            mfaEnabled: false,
            role: 'user',
            emailVerifiedAt: null,
            disabledAt: user.disabledAt ?? now,
            deletedAt: now,
          })
          .where(eq(users.id, userId));
        // The last event of the anonymised log keeps no address or user agent either, whatever
        // the caller passed: the erasure is this method's, not its callers'.
        await insertSecurityEvents(tx, [{ ...event, ipAddress: null, userAgent: null }]);
        return { revoked: revoked.size };
      });
    },
  };
}
