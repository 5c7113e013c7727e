import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { PasskeyRecord, PasskeyStore, WebAuthnChallenge } from '../../ports/passkey-store.js';
import type { Database } from './database.js';
import { passkeys, users, webauthnChallenges } from './schema.js';

const columns = {
  id: passkeys.id,
  userId: passkeys.userId,
  credentialId: passkeys.credentialId,
  publicKey: passkeys.publicKey,
  signCount: passkeys.signCount,
  transports: passkeys.transports,
  deviceType: passkeys.deviceType,
  backedUp: passkeys.backedUp,
  aaguid: passkeys.aaguid,
  name: passkeys.name,
  createdAt: passkeys.createdAt,
  lastUsedAt: passkeys.lastUsedAt,
};

type Row = Omit<PasskeyRecord, 'deviceType'> & { deviceType: string };

const record = (row: Row): PasskeyRecord => ({
  ...row,
  deviceType: row.deviceType as PasskeyRecord['deviceType'],
});

export function createPasskeyStore(db: Database): PasskeyStore {
  return {
    async saveWebAuthnChallenge(challenge) {
      await db.insert(webauthnChallenges).values(challenge);
    },

    async takeWebAuthnChallenge(challengeHash, purpose) {
      const [row] = await db
        .delete(webauthnChallenges)
        .where(
          and(eq(webauthnChallenges.challengeHash, challengeHash), eq(webauthnChallenges.purpose, purpose)),
        )
        .returning();
      return row ? ({ ...row, purpose } satisfies WebAuthnChallenge) : undefined;
    },

    async listPasskeys(userId) {
      const rows = await db
        .select(columns)
        .from(passkeys)
        .where(eq(passkeys.userId, userId))
        .orderBy(asc(passkeys.createdAt), asc(passkeys.id));
      return rows.map(record);
    },

    async findPasskeyByCredentialId(credentialId) {
      const [row] = await db
        .select(columns)
        .from(passkeys)
        .where(eq(passkeys.credentialId, credentialId))
        .limit(1);
      return row ? record(row) : undefined;
    },

    async addPasskey(passkey, maxPerUser) {
      return db.transaction(async (tx) => {
        // The user's row lock orders parallel registrations of one account: the count below
        // cannot be passed by two at once (a limit counted atomically, never read-then-write).
        const [user] = await tx
          .select({ id: users.id })
          .from(users)
          .where(and(eq(users.id, passkey.userId), isNull(users.disabledAt), isNull(users.deletedAt)))
          .for('update');
        if (!user) return 'user_gone' as const;
        const [held] = await tx
          .select({ count: sql<number>`count(*)::int` })
          .from(passkeys)
          .where(eq(passkeys.userId, passkey.userId));
        if ((held?.count ?? 0) >= maxPerUser) return 'limit_reached' as const;
        const inserted = await tx
          .insert(passkeys)
          .values(passkey)
          .onConflictDoNothing({ target: passkeys.credentialId })
          .returning({ id: passkeys.id });
        return inserted.length === 1 ? ('added' as const) : ('duplicate' as const);
      });
    },

    async renamePasskey(userId, id, name) {
      const [row] = await db
        .update(passkeys)
        .set({ name })
        .where(and(eq(passkeys.id, id), eq(passkeys.userId, userId)))
        .returning(columns);
      return row ? record(row) : undefined;
    },

    async deletePasskey(userId, id) {
      const [row] = await db
        .delete(passkeys)
        .where(and(eq(passkeys.id, id), eq(passkeys.userId, userId)))
        .returning(columns);
      return row ? record(row) : undefined;
    },

    async recordPasskeyUse({ id, expectedCount, signCount, backedUp, now }) {
      const rows = await db
        .update(passkeys)
        .set({ signCount, backedUp, lastUsedAt: now })
        .where(and(eq(passkeys.id, id), eq(passkeys.signCount, expectedCount)))
        .returning({ id: passkeys.id });
      return rows.length === 1;
    },
  };
}
