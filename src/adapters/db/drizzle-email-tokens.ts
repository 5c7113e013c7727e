import { and, eq, gt, isNull, ne, TransactionRollbackError } from 'drizzle-orm';
import { errorCodeOf } from '../../lib/errors.js';
import type {
  EmailChangeStore,
  EmailTokenPurpose,
  EmailVerificationStore,
  NewEmailToken,
  PasswordResetStore,
} from '../../ports/email-tokens.js';
import type { Database } from './database.js';
import { insertSecurityEvents } from './drizzle-event-log.js';
import { insertOutboxMessages } from './drizzle-outbox.js';
import { emailTokens, refreshTokens, users } from './schema.js';
import { endPendingCredentials, lockUser, revokeUntilNone } from './token-rows.js';

const RESET = 'password_reset';

/** An unused, unexpired token of `purpose` (the conditions every read and claim share). */
const usable = (purpose: string, now: Date) =>
  and(eq(emailTokens.purpose, purpose), isNull(emailTokens.consumedAt), gt(emailTokens.expiresAt, now));

type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];

/** SQLSTATE unique_violation: another account has the address (users_email_key). */
const isEmailTaken = (error: unknown) => errorCodeOf(error) === '23505';

/** An outcome that rolls the transaction back: thrown inside, returned outside. */
class Outcome<T extends string> extends Error {
  constructor(readonly outcome: T) {
    super(outcome);
  }
}

async function rollbackAs<T, O extends string>(work: () => Promise<T>): Promise<T | O> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof Outcome) return error.outcome as O;
    throw error;
  }
}

/** Consumes the user's unused tokens of `purpose` (a newer link voids the older ones). */
const voidTokens = (tx: Tx, userId: string, purpose: EmailTokenPurpose, now: Date) =>
  tx
    .update(emailTokens)
    .set({ consumedAt: now })
    .where(and(eq(emailTokens.userId, userId), usable(purpose, now)));

const insertToken = (
  tx: Tx,
  token: NewEmailToken,
  row: { userId: string; purpose: EmailTokenPurpose; email: string; now: Date },
) =>
  tx.insert(emailTokens).values({
    id: token.id,
    tokenHash: token.tokenHash,
    userId: row.userId,
    purpose: row.purpose,
    email: row.email,
    createdAt: row.now,
    expiresAt: token.expiresAt,
  });

/**
 * Claims a usable token of `purpose` with a conditional UPDATE (of two requests with one token,
 * exactly one gets the row back; the other waits for the row lock and re-checks the WHERE).
 */
async function claimToken(tx: Tx, tokenHash: string, purpose: EmailTokenPurpose, now: Date) {
  const [row] = await tx
    .update(emailTokens)
    .set({ consumedAt: now })
    .where(and(eq(emailTokens.tokenHash, tokenHash), usable(purpose, now)))
    .returning({ userId: emailTokens.userId, email: emailTokens.email, createdAt: emailTokens.createdAt });
  return row;
}

/** Email tokens (the PasswordResetStore, EmailVerificationStore and EmailChangeStore ports) over drizzle: one transaction per change. */
export function createEmailTokenStore(
  db: Database,
): PasswordResetStore & EmailVerificationStore & EmailChangeStore {
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
        await insertSecurityEvents(tx, [event]);
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
          await insertSecurityEvents(tx, [
            { ...event, details: { ...event.details, revoked_sessions: revoked.size } },
          ]);
          await insertOutboxMessages(tx, messages);
          return { revoked: revoked.size };
        });
      } catch (error) {
        if ((error as { outcome?: string }).outcome === 'invalid_token') return 'invalid_token';
        throw error;
      }
    },

    async issueEmailVerification({ userId, email, now, token }) {
      return db.transaction(async (tx) => {
        const user = await lockUser(tx, userId);
        if (!user || user.disabledAt || user.emailVerifiedAt || user.email !== email) return 'not_sent';
        await voidTokens(tx, userId, 'verify_email', now);
        await insertToken(tx, token, { userId, purpose: 'verify_email', email, now });
        await insertOutboxMessages(tx, [token.message]);
        return 'issued';
      });
    },

    async verifyEmail({ tokenHash, now, event }) {
      return rollbackAs<{ userId: string; email: string }, 'invalid_token'>(() =>
        db.transaction(async (tx) => {
          const claimed = await claimToken(tx, tokenHash, 'verify_email', now);
          if (!claimed) throw new Outcome('invalid_token');
          const user = await lockUser(tx, claimed.userId);
          // Sent to an address the account no longer has: it proves nothing about the new one.
          if (!user || user.disabledAt || user.email !== claimed.email) throw new Outcome('invalid_token');
          if (!user.emailVerifiedAt) {
            await tx.update(users).set({ emailVerifiedAt: now }).where(eq(users.id, claimed.userId));
            await insertSecurityEvents(tx, [{ ...event, userId: claimed.userId }]);
          }
          await voidTokens(tx, claimed.userId, 'verify_email', now);
          return { userId: claimed.userId, email: claimed.email };
        }),
      );
    },

    async requestEmailChange(input) {
      const { userId, now } = input;
      return rollbackAs<'requested', 'credentials_changed' | 'email_taken' | 'not_found'>(() =>
        db.transaction(async (tx) => {
          const user = await lockUser(tx, userId);
          if (!user || user.disabledAt || user.email !== input.currentEmail) throw new Outcome('not_found');
          if (user.passwordHash !== input.verifiedPasswordHash) throw new Outcome('credentials_changed');
          const [other] = await tx
            .select({ id: users.id })
            .from(users)
            .where(and(eq(users.email, input.newEmail), ne(users.id, userId)))
            .limit(1);
          if (other) throw new Outcome('email_taken');
          // One pending change at a time: the newest. Older "this wasn't me" links stay valid.
          await voidTokens(tx, userId, 'change_email', now);
          await insertToken(tx, input.confirm, {
            userId,
            purpose: 'change_email',
            email: input.newEmail,
            now,
          });
          await insertToken(tx, input.revert, {
            userId,
            purpose: 'revert_email_change',
            email: input.currentEmail,
            now,
          });
          await insertSecurityEvents(tx, [input.event]);
          await insertOutboxMessages(tx, [input.confirm.message, input.revert.message]);
          return 'requested' as const;
        }),
      );
    },

    async confirmEmailChange({ tokenHash, now, event, notice }) {
      type Confirmed = { userId: string; from: string; to: string };
      try {
        return await rollbackAs<Confirmed, 'invalid_token'>(() =>
          db.transaction(async (tx) => {
            const claimed = await claimToken(tx, tokenHash, 'change_email', now);
            if (!claimed) throw new Outcome('invalid_token');
            const user = await lockUser(tx, claimed.userId);
            // A password change voids the link too (endPendingCredentials); the date is checked
            // as well, so that no path that forgets to is a way to move the account.
            if (
              !user ||
              user.disabledAt ||
              (user.passwordChangedAt && user.passwordChangedAt >= claimed.createdAt)
            )
              throw new Outcome('invalid_token');
            const change = { userId: claimed.userId, from: user.email, to: claimed.email };
            // The unique constraint decides between two accounts confirming one address.
            await tx
              .update(users)
              .set({ email: claimed.email, emailVerifiedAt: now })
              .where(eq(users.id, claimed.userId));
            // A verification link sent to the old address proves nothing any more.
            await voidTokens(tx, claimed.userId, 'verify_email', now);
            await voidTokens(tx, claimed.userId, 'password_reset', now);
            await insertSecurityEvents(tx, [
              {
                ...event,
                userId: claimed.userId,
                details: { ...event.details, from: change.from, to: change.to },
              },
            ]);
            await insertOutboxMessages(tx, await notice(change));
            return change;
          }),
        );
      } catch (error) {
        if (isEmailTaken(error)) return 'email_taken';
        throw error;
      }
    },

    async revertEmailChange({ tokenHash, now, event }) {
      type Reverted = { userId: string; email: string; revoked: number };
      try {
        return await rollbackAs<Reverted, 'invalid_token'>(() =>
          db.transaction(async (tx) => {
            const claimed = await claimToken(tx, tokenHash, 'revert_email_change', now);
            if (!claimed) throw new Outcome('invalid_token');
            const user = await lockUser(tx, claimed.userId);
            if (!user || user.deletedAt) throw new Outcome('invalid_token');
            await tx
              .update(users)
              .set({ email: claimed.email, emailVerifiedAt: now })
              .where(eq(users.id, claimed.userId));
            await tx
              .update(emailTokens)
              .set({ consumedAt: now })
              .where(
                and(
                  eq(emailTokens.userId, claimed.userId),
                  isNull(emailTokens.consumedAt),
                  ne(emailTokens.purpose, 'revert_email_change'),
                ),
              );
            await endPendingCredentials(tx, claimed.userId);
            const revoked = await revokeUntilNone(
              tx,
              eq(refreshTokens.userId, claimed.userId),
              now,
              'email_change_reverted',
            );
            await insertSecurityEvents(tx, [
              {
                ...event,
                userId: claimed.userId,
                details: { ...event.details, email: claimed.email, revoked_sessions: revoked.size },
              },
            ]);
            return { userId: claimed.userId, email: claimed.email, revoked: revoked.size };
          }),
        );
      } catch (error) {
        if (isEmailTaken(error)) return 'email_taken';
        throw error;
      }
    },
  };
}
