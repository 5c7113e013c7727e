import { and, eq, gt, isNull, TransactionRollbackError } from 'drizzle-orm';
import type { PasswordResetStore } from '../../ports/email-tokens.js';
import type { Database } from './database.js';
import { securityEventRow } from './drizzle-event-log.js';
import { insertOutboxMessages } from './drizzle-outbox.js';
import { emailTokens, refreshTokens, securityEvents, users } from './schema.js';
import { endPendingCredentials, lockUser, revokeUntilNone } from './token-rows.js';

const RESET = 'password_reset';

/** An unused, unexpired token of `purpose` (the conditions every read and claim share). */
const usable = (purpose: string, now: Date) =>
  and(eq(emailTokens.purpose, purpose), isNull(emailTokens.consumedAt), gt(emailTokens.expiresAt, now));

/** Email tokens (the PasswordResetStore port) over drizzle: one transaction per change. */
export function createEmailTokenStore(db: Database): PasswordResetStore {
  return {
    async issuePasswordResetToken({ id, userId, email, tokenHash, now, expiresAt, message, event }) {
      return db.transaction(async (tx) => {
        // Under the user's lock: a disable or a reset running now is either before (and seen)
        // or after (and voids this token with the others).
        const user = await lockUser(tx, userId);
        if (!user || user.disabledAt) return false;
        // Only the newest link works: the older unused ones are consumed with this insert.
        await tx
          .update(emailTokens)
          .set({ consumedAt: now })
          .where(and(eq(emailTokens.userId, userId), usable(RESET, now)));
        await tx.insert(emailTokens).values({
          id,
          tokenHash,
          userId,
          purpose: RESET,
          email,
          createdAt: now,
          expiresAt,
        });
        await tx.insert(securityEvents).values(securityEventRow(event));
        await insertOutboxMessages(tx, [message]);
        return true;
      });
    },

    async decoyPasswordReset({ tokenHash, now, message }) {
      // The statements of issuePasswordResetToken, keeping nothing: the lock and the update
      // match no row (the hash is fresh), and the message is inserted in a savepoint that is
      // rolled back. The transaction has written, so its COMMIT flushes the WAL like the real
      // one's (the costliest step), yet no row is left (issue #17: same timing, no trace).
      await db.transaction(async (tx) => {
        await tx
          .select({ id: emailTokens.id })
          .from(emailTokens)
          .where(eq(emailTokens.tokenHash, tokenHash))
          .for('no key update');
        await tx
          .update(emailTokens)
          .set({ consumedAt: now })
          .where(and(eq(emailTokens.tokenHash, tokenHash), usable(RESET, now)));
        await tx
          .transaction(async (savepoint) => {
            // Two round trips more (SAVEPOINT, ROLLBACK TO) stand for the two other inserts.
            await insertOutboxMessages(savepoint, [message]);
            savepoint.rollback();
          })
          .catch((error: unknown) => {
            if (!(error instanceof TransactionRollbackError)) throw error;
          });
      });
    },

    async findPasswordResetToken(tokenHash, now) {
      const [row] = await db
        .select({
          userId: emailTokens.userId,
          createdAt: emailTokens.createdAt,
          expiresAt: emailTokens.expiresAt,
          passwordChangedAt: users.passwordChangedAt,
          disabledAt: users.disabledAt,
        })
        .from(emailTokens)
        .innerJoin(users, eq(users.id, emailTokens.userId))
        .where(and(eq(emailTokens.tokenHash, tokenHash), usable(RESET, now)))
        .limit(1);
      // A password change or a disable also deletes the token (endPendingCredentials); the
      // dates are checked too, so that no path that forgets to is a way back in.
      if (!row || row.disabledAt || (row.passwordChangedAt && row.passwordChangedAt >= row.createdAt))
        return undefined;
      return { userId: row.userId, createdAt: row.createdAt, expiresAt: row.expiresAt };
    },

    async completePasswordReset({ tokenHash, userId, newHash, now, event, messages }) {
      type Outcome = { revoked: number } | 'invalid_token';
      const invalid = Object.assign(new Error('invalid_token'), { outcome: 'invalid_token' as const });
      try {
        return await db.transaction(async (tx): Promise<Outcome> => {
          const user = await lockUser(tx, userId);
          if (!user || user.disabledAt) throw invalid;
          // As in refresh rotation, the conditional UPDATE claims the token: a parallel reset
          // waits for the row lock (or the user's), re-checks the WHERE and gets nothing.
          const claimed = await tx
            .update(emailTokens)
            .set({ consumedAt: now })
            .where(
              and(
                eq(emailTokens.tokenHash, tokenHash),
                eq(emailTokens.userId, userId),
                usable(RESET, now),
                user.passwordChangedAt ? gt(emailTokens.createdAt, user.passwordChangedAt) : undefined,
              ),
            )
            .returning({ id: emailTokens.id });
          if (claimed.length === 0) throw invalid;
          await tx
            .update(users)
            .set({ passwordHash: newHash, passwordChangedAt: now })
            .where(eq(users.id, userId));
          // Every other reset link, every half-finished login or enrolment: void.
          await tx
            .update(emailTokens)
            .set({ consumedAt: now })
            .where(and(eq(emailTokens.userId, userId), usable(RESET, now)));
          await endPendingCredentials(tx, userId);
          // Whoever signed in with the old password may be who made the owner reset it.
          const revoked = await revokeUntilNone(tx, eq(refreshTokens.userId, userId), now, 'password_reset');
          await tx
            .insert(securityEvents)
            .values(
              securityEventRow({ ...event, details: { ...event.details, revoked_sessions: revoked.size } }),
            );
          await insertOutboxMessages(tx, messages);
          return { revoked: revoked.size };
        });
      } catch (error) {
        if ((error as { outcome?: string }).outcome === 'invalid_token') return 'invalid_token';
        throw error;
      }
    },
  };
}
