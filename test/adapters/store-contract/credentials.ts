import { describe, expect, it } from 'vitest';
import {
  CLIENT_ID,
  type ContractStore,
  createUser,
  later,
  minutes,
  newSession,
  newTokenHash,
  type OpenSubjects,
  openSession,
  PASSWORD_HASH,
  testMoment,
} from './fixtures.js';

const NEW_HASH = '$argon2id$v=19$m=1024,t=1,p=1$contract$second';

/**
 * Password changes and disabled accounts: what services rely on to refuse a login whose
 * verified password is no longer the account's, and to end everything obtained before.
 */
export function credentialsContract(open: OpenSubjects) {
  /** Races are won by timing: a few rounds make a missing lock show on every run. */
  const ROUNDS = 5;

  /**
   * A user with two live sessions and N logins ready to race, verified against the current
   * password, at a limit of two: each login evicts as it goes, so its check of the account
   * and its insert are several statements apart (the window a missing lock would leave).
   */
  async function userAtTheLimit(store: ContractStore, parallel: number) {
    const now = testMoment();
    const user = await createUser(store, now);
    for (let i = 0; i < 2; i++) await openSession(store, user, now);
    const logins = () =>
      Array.from({ length: parallel }, () =>
        store.openSession(newSession(user.id, now), {
          maxSessions: 2,
          verifiedPasswordHash: PASSWORD_HASH,
          onLimit: 'evict',
        }),
      );
    return { user, now, logins };
  }

  async function pendingLoginsOf(store: ContractStore, userId: string, now: Date) {
    const holdHash = newTokenHash();
    const challengeHash = newTokenHash();
    const pending = {
      userId,
      clientId: CLIENT_ID,
      deviceName: null,
      remembered: false,
      delivery: 'body' as const,
      createdAt: now,
      expiresAt: later(now, minutes(5)),
    };
    await store.createLoginHold({
      ...pending,
      id: crypto.randomUUID(),
      tokenHash: holdHash,
      acr: 'aal1',
      amr: ['pwd'],
      authTime: now,
      ipAddress: null,
      userAgent: null,
    });
    await store.createMfaChallenge({
      ...pending,
      id: crypto.randomUUID(),
      tokenHash: challengeHash,
      failedAttempts: 0,
      consumedAt: null,
    });
    return { holdHash, challengeHash };
  }

  describe('password changes', () => {
    it("changePassword with a stale expected hash is 'credentials_changed' and changes nothing", async () => {
      const { store } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      const kept = await openSession(store, user, now);
      const other = await openSession(store, user, now);

      const changed = await store.changePassword({
        userId: user.id,
        expectedHash: '$argon2id$v=19$m=1024,t=1,p=1$contract$stale',
        newHash: NEW_HASH,
        now,
        keepSessionId: kept.sessionId,
      });

      expect(changed).toBe('credentials_changed');
      expect((await store.findUserById(user.id))?.passwordHash).toBe(PASSWORD_HASH);
      expect((await store.listSessions(user.id, now)).length).toBe(2);
      expect(await store.isSessionLive(other.sessionId, user.id, now)).toBe(true);
    });

    it('changePassword keeps the caller’s session, revokes the others and ends pending logins', async () => {
      const { store } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      const kept = await openSession(store, user, now);
      await openSession(store, user, now);
      await openSession(store, user, now);
      const { holdHash, challengeHash } = await pendingLoginsOf(store, user.id, now);

      const at = later(now, minutes(1));
      const changed = await store.changePassword({
        userId: user.id,
        expectedHash: PASSWORD_HASH,
        newHash: NEW_HASH,
        now: at,
        keepSessionId: kept.sessionId,
      });

      expect(changed).toEqual({ revoked: 2 });
      expect((await store.listSessions(user.id, at)).map((view) => view.id)).toEqual([kept.sessionId]);
      expect(await store.findUserById(user.id)).toMatchObject({
        passwordHash: NEW_HASH,
        passwordChangedAt: at,
      });
      expect(await store.findLoginHold(holdHash, at)).toBeUndefined();
      expect(await store.findMfaChallenge(challengeHash)).toBeUndefined();
      // A login that verified the old password cannot open a session any more.
      const late = await store.openSession(newSession(user.id, at), {
        maxSessions: 10,
        verifiedPasswordHash: PASSWORD_HASH,
        onLimit: 'evict',
      });
      expect(late).toBe('credentials_changed');
      expect(await store.replacePasswordHash(user.id, PASSWORD_HASH, 'rehashed')).toBe(false);
    });

    it('logins verified against the old password, racing the change: none leaves a live session', async () => {
      const { store, parallel } = open();
      for (let round = 0; round < ROUNDS; round++) {
        const { user, now, logins } = await userAtTheLimit(store, parallel);
        const [changed, ...results] = await Promise.all([
          store.changePassword({
            userId: user.id,
            expectedHash: PASSWORD_HASH,
            newHash: NEW_HASH,
            now,
            keepSessionId: crypto.randomUUID(),
          }),
          ...logins(),
        ]);

        expect(changed).not.toBe('credentials_changed');
        // Each login came before the change (and was revoked by it) or after (and was refused).
        for (const result of results)
          if (typeof result === 'string') expect(result).toBe('credentials_changed');
        expect(await store.listSessions(user.id, now)).toEqual([]);
      }
    });
  });

  describe('disabled accounts', () => {
    it("openSession for a disabled account is 'account_disabled' and opens nothing", async () => {
      const { store } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      await openSession(store, user, now);
      expect(await store.disableUser({ userId: user.id, now })).toEqual({ revoked: 1 });

      const session = newSession(user.id, now);
      const opened = await store.openSession(session, {
        maxSessions: 10,
        verifiedPasswordHash: PASSWORD_HASH,
        onLimit: 'evict',
      });

      expect(opened).toBe('account_disabled');
      expect(await store.findRefreshTokens([session.tokenHash])).toEqual([]);
      expect(await store.listSessions(user.id, now)).toEqual([]);
    });

    it('logins racing the disabling of the account: none leaves a live session', async () => {
      const { store, parallel } = open();
      for (let round = 0; round < ROUNDS; round++) {
        const { user, now, logins } = await userAtTheLimit(store, parallel);
        const [disabled, ...results] = await Promise.all([
          store.disableUser({ userId: user.id, now }),
          ...logins(),
        ]);

        expect(disabled).not.toBeTypeOf('string');
        for (const result of results) if (typeof result === 'string') expect(result).toBe('account_disabled');
        expect(await store.listSessions(user.id, now)).toEqual([]);
      }
    });
  });
}
