import { and, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import type { MfaChallenge, MfaStore, TotpFactor } from '../../ports/mfa-store.js';
import type { Database } from './database.js';
import { liveHead } from './live-sessions.js';
import { mfaChallenges, mfaFactors, recoveryCodes, refreshTokens, users } from './schema.js';
import { endPendingCredentials, replaceLiveToken, revokeUntilNone } from './token-rows.js';

const TOTP = 'totp';

/** RFC 6238 §5.2: only a time step later than the last accepted one may pass. */
const laterStep = (step: number) => or(isNull(mfaFactors.lastUsedStep), lt(mfaFactors.lastUsedStep, step));

export function createMfaStore(db: Database): MfaStore {
  const insertRecoveryCodes = (tx: Pick<Database, 'insert'>, userId: string, hashes: string[], now: Date) =>
    tx
      .insert(recoveryCodes)
      .values(hashes.map((codeHash) => ({ id: crypto.randomUUID(), userId, codeHash, createdAt: now })));

  return {
    async findTotpFactor(userId) {
      const [row] = await db
        .select({
          id: mfaFactors.id,
          userId: mfaFactors.userId,
          secretSealed: mfaFactors.secretSealed,
          encryptionKeyId: mfaFactors.encryptionKeyId,
          status: mfaFactors.status,
          lastUsedStep: mfaFactors.lastUsedStep,
        })
        .from(mfaFactors)
        .where(and(eq(mfaFactors.userId, userId), eq(mfaFactors.type, TOTP)))
        .limit(1);
      return row ? ({ ...row, status: row.status as TotpFactor['status'] } satisfies TotpFactor) : undefined;
    },

    async savePendingTotpFactor({ id, userId, secretSealed, encryptionKeyId, now }) {
      const rows = await db
        .insert(mfaFactors)
        .values({ id, userId, type: TOTP, secretSealed, encryptionKeyId, status: 'pending', createdAt: now })
        .onConflictDoUpdate({
          target: [mfaFactors.userId, mfaFactors.type],
          set: { id, secretSealed, encryptionKeyId, createdAt: now, lastUsedStep: null },
          setWhere: eq(mfaFactors.status, 'pending'),
        })
        .returning({ id: mfaFactors.id });
      return rows.length === 1;
    },

    async activateTotpFactor({ factorId, userId, step, recoveryCodeHashes, sessionId, assurance, now }) {
      return db.transaction(async (tx) => {
        const activated = await tx
          .update(mfaFactors)
          .set({ status: 'active', lastUsedStep: step, activatedAt: now })
          .where(
            and(
              eq(mfaFactors.id, factorId),
              eq(mfaFactors.userId, userId),
              eq(mfaFactors.status, 'pending'),
              laterStep(step),
            ),
          )
          .returning({ id: mfaFactors.id });
        if (activated.length === 0) return false;
        await tx.update(users).set({ mfaEnabled: true }).where(eq(users.id, userId));
        await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
        await insertRecoveryCodes(tx, userId, recoveryCodeHashes, now);
        // The activating session has just shown both factors: raise it in place. As in
        // reauthenticateSession, a refresh committing meanwhile hides its successor from this
        // statement's snapshot: a new statement (same transaction, READ COMMITTED) sees it.
        for (let attempt = 0; attempt < 3; attempt++) {
          const raised = await tx
            .update(refreshTokens)
            .set({ acr: assurance.acr, amr: assurance.amr, authTime: assurance.authTime })
            .where(and(eq(refreshTokens.sessionId, sessionId), liveHead(now)))
            .returning({ id: refreshTokens.id });
          if (raised.length > 0) break;
        }
        return true;
      });
    },

    async acceptTotpStep(factorId, step) {
      // RFC 6238 §5.2: one code, one use. The conditional UPDATE is atomic, so two
      // parallel requests with the same code cannot both pass.
      const rows = await db
        .update(mfaFactors)
        .set({ lastUsedStep: step })
        .where(and(eq(mfaFactors.id, factorId), eq(mfaFactors.status, 'active'), laterStep(step)))
        .returning({ id: mfaFactors.id });
      return rows.length === 1;
    },

    async useRecoveryCode(userId, codeHash, now) {
      const rows = await db
        .update(recoveryCodes)
        .set({ usedAt: now })
        .where(
          and(
            eq(recoveryCodes.userId, userId),
            eq(recoveryCodes.codeHash, codeHash),
            isNull(recoveryCodes.usedAt),
          ),
        )
        .returning({ id: recoveryCodes.id });
      return rows.length === 1;
    },

    async replaceRecoveryCodes(userId, codeHashes, now) {
      return db.transaction(async (tx) => {
        // The factor row locked for the transaction: a disable or reset waits, or went first.
        const [active] = await tx
          .select({ id: mfaFactors.id })
          .from(mfaFactors)
          .where(
            and(eq(mfaFactors.userId, userId), eq(mfaFactors.type, TOTP), eq(mfaFactors.status, 'active')),
          )
          .for('update');
        if (!active) return false;
        await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
        await insertRecoveryCodes(tx, userId, codeHashes, now);
        return true;
      });
    },

    async countUnusedRecoveryCodes(userId) {
      const [row] = await db
        .select({ n: sql<number>`count(*)::int` })
        .from(recoveryCodes)
        .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
      return Number(row?.n ?? 0);
    },

    async disableTotp({ userId, now, keepSessionId }) {
      return db.transaction(async (tx) => {
        await tx.delete(mfaFactors).where(eq(mfaFactors.userId, userId));
        await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
        await tx.update(users).set({ mfaEnabled: false }).where(eq(users.id, userId));
        await endPendingCredentials(tx, userId);
        const revoked = await revokeUntilNone(
          tx,
          and(eq(refreshTokens.userId, userId), sql`${refreshTokens.sessionId} <> ${keepSessionId}`),
          now,
          'mfa_disabled',
        );
        return { revoked: revoked.size };
      });
    },

    async createMfaChallenge(challenge) {
      await db.insert(mfaChallenges).values(challenge);
    },

    async findMfaChallenge(tokenHash) {
      const [row] = await db
        .select()
        .from(mfaChallenges)
        .where(eq(mfaChallenges.tokenHash, tokenHash))
        .limit(1);
      if (!row) return undefined;
      const { tokenHash: _hash, ...challenge } = row;
      return {
        ...challenge,
        delivery: challenge.delivery === 'cookie' ? 'cookie' : 'body',
      } satisfies MfaChallenge;
    },

    async spendMfaAttempt(id, now, maxAttempts) {
      const [row] = await db
        .update(mfaChallenges)
        .set({ failedAttempts: sql`${mfaChallenges.failedAttempts} + 1` })
        .where(
          and(
            eq(mfaChallenges.id, id),
            isNull(mfaChallenges.consumedAt),
            gt(mfaChallenges.expiresAt, now),
            lt(mfaChallenges.failedAttempts, maxAttempts),
          ),
        )
        .returning({ attempts: mfaChallenges.failedAttempts });
      return row?.attempts;
    },

    async consumeMfaChallenge(id, now) {
      const rows = await db
        .update(mfaChallenges)
        .set({ consumedAt: now })
        .where(
          and(eq(mfaChallenges.id, id), isNull(mfaChallenges.consumedAt), gt(mfaChallenges.expiresAt, now)),
        )
        .returning({ id: mfaChallenges.id });
      return rows.length === 1;
    },

    async reauthenticateSession({ sessionId, userId, tokenHash, assurance, now, notAfter }) {
      // The old refresh token is revoked, not rotated: replaying it is refused, but it is not
      // the reuse of a stolen token and must not end the session. A refresh of the session
      // committing meanwhile leaves our UPDATE waiting on the row it rotated, then matching
      // nothing: its successor came after our snapshot. A new statement sees it, so claim
      // again (a few times: each refresh that wins moves the live token on).
      for (let attempt = 0; attempt < 3; attempt++) {
        const grant = await replaceLiveToken(db, {
          claim: sql`session_id = ${sessionId} AND user_id = ${userId}`,
          mark: sql`revoked_at = ${now.toISOString()}::timestamptz, revoked_reason = 'stepped_up'`,
          successorHash: tokenHash,
          now,
          notAfter,
          assurance,
        });
        if (grant) return grant;
      }
      return undefined;
    },
  };
}
