import { describe, expect, it } from 'vitest';
import {
  all,
  CLIENT_ID,
  type ContractStore,
  createUser,
  later,
  minutes,
  newTokenHash,
  type OpenSubjects,
  tally,
  testMoment,
} from './fixtures.js';

/**
 * Second factors and their challenges: whatever is single-use stays single-use when an
 * attacker sends the same code, token or recovery code N times at once.
 */
export function singleUseContract(open: OpenSubjects) {
  async function challengeFor(store: ContractStore, now: Date) {
    const user = await createUser(store, now);
    const id = crypto.randomUUID();
    const tokenHash = newTokenHash();
    await store.createMfaChallenge({
      id,
      tokenHash,
      userId: user.id,
      clientId: CLIENT_ID,
      deviceName: null,
      remembered: false,
      delivery: 'body',
      createdAt: now,
      expiresAt: later(now, minutes(5)),
      failedAttempts: 0,
      consumedAt: null,
    });
    return { user, id, tokenHash };
  }

  /** A user with an active TOTP factor (last accepted step 1000) and `codes` recovery codes. */
  async function userWithTotp(store: ContractStore, now: Date, codes: string[]) {
    const user = await createUser(store, now);
    const factorId = crypto.randomUUID();
    const saved = await store.savePendingTotpFactor({
      id: factorId,
      userId: user.id,
      secretSealed: 'sealed-secret',
      encryptionKeyId: 'contract-key',
      now,
    });
    expect(saved).toBe(true);
    const activated = await store.activateTotpFactor({
      factorId,
      userId: user.id,
      step: 1000,
      recoveryCodeHashes: codes,
      sessionId: crypto.randomUUID(),
      assurance: { acr: 'aal2', amr: ['pwd', 'otp'], authTime: now },
      now,
    });
    expect(activated).toBe(true);
    return { user, factorId };
  }

  describe('mfa_token challenges', () => {
    it('a right code sent N times at once consumes the challenge once', async () => {
      const { store, parallel } = open();
      const now = testMoment();
      const { id, tokenHash } = await challengeFor(store, now);
      const at = later(now, minutes(1));

      const consumed = await all(parallel, () => store.consumeMfaChallenge(id, at));

      expect(tally(consumed)).toEqual(
        new Map([
          [true, 1],
          [false, parallel - 1],
        ]),
      );
      expect((await store.findMfaChallenge(tokenHash))?.consumedAt).toEqual(at);
      // A consumed challenge has no attempts left to spend.
      expect(await store.spendMfaAttempt(id, at, 5)).toBeUndefined();
    });

    it('20 guesses at once with one mfa_token: exactly 5 are allowed a check, numbered 1 to 5', async () => {
      const { store } = open();
      const now = testMoment();
      const { id, tokenHash } = await challengeFor(store, now);
      const at = later(now, minutes(1));

      const spent = await all(20, () => store.spendMfaAttempt(id, at, 5));

      expect(spent.filter((attempt) => attempt !== undefined).sort()).toEqual([1, 2, 3, 4, 5]);
      expect(spent.filter((attempt) => attempt === undefined)).toHaveLength(15);
      expect((await store.findMfaChallenge(tokenHash))?.failedAttempts).toBe(5);
    });

    it('an expired challenge can be neither spent nor consumed', async () => {
      const { store } = open();
      const now = testMoment();
      const { id } = await challengeFor(store, now);
      const expired = later(now, minutes(5));
      expect(await store.spendMfaAttempt(id, expired, 5)).toBeUndefined();
      expect(await store.consumeMfaChallenge(id, expired)).toBe(false);
    });
  });

  describe('TOTP codes and recovery codes (RFC 6238 §5.2)', () => {
    it('one TOTP code sent N times at once is accepted once', async () => {
      const { store, parallel } = open();
      const now = testMoment();
      const { factorId } = await userWithTotp(store, now, [newTokenHash()]);

      const accepted = await all(parallel, () => store.acceptTotpStep(factorId, 1001));

      expect(accepted.filter(Boolean)).toHaveLength(1);
      // Neither that step nor an earlier one passes again; a later one does.
      expect(await store.acceptTotpStep(factorId, 1001)).toBe(false);
      expect(await store.acceptTotpStep(factorId, 1000)).toBe(false);
      expect(await store.acceptTotpStep(factorId, 1002)).toBe(true);
    });

    it('codes of several steps at once: only steps later than every accepted one pass, never one twice', async () => {
      const { store, parallel } = open();
      const now = testMoment();
      const { factorId, user } = await userWithTotp(store, now, [newTokenHash()]);

      const steps = Array.from({ length: parallel }, (_, i) => 1001 + (i % 3));
      const accepted = await all(parallel, (i) => store.acceptTotpStep(factorId, steps[i]!));

      const passed = steps.filter((_, i) => accepted[i]);
      expect(new Set(passed).size).toBe(passed.length);
      expect(passed.length).toBeGreaterThanOrEqual(1);
      expect((await store.findTotpFactor(user.id))?.lastUsedStep).toBe(Math.max(...passed));
    });

    it('recovery codes regenerated while the factor is reset or disabled: no codes outlive the factor', async () => {
      const { store, parallel } = open();
      for (const remove of ['reset', 'disable'] as const) {
        const now = testMoment();
        const { user } = await userWithTotp(store, now, [newTokenHash()]);

        const [removed] = await Promise.all([
          remove === 'reset'
            ? store.resetMfa({ userId: user.id, now })
            : store.disableTotp({ userId: user.id, now, keepSessionId: crypto.randomUUID() }),
          ...Array.from({ length: parallel }, () =>
            store.replaceRecoveryCodes(
              user.id,
              Array.from({ length: 10 }, () => newTokenHash()),
              now,
            ),
          ),
        ]);

        expect(removed).toEqual({ revoked: 0 });
        expect(await store.findTotpFactor(user.id)).toBeUndefined();
        expect(await store.countUnusedRecoveryCodes(user.id)).toBe(0);
        expect((await store.findUserById(user.id))?.mfaEnabled).toBe(false);
      }
    });

    it('one recovery code sent N times at once is used once', async () => {
      const { store, parallel } = open();
      const now = testMoment();
      const codes = Array.from({ length: 10 }, () => newTokenHash());
      const { user } = await userWithTotp(store, now, codes);

      const used = await all(parallel, () => store.useRecoveryCode(user.id, codes[3]!, now));

      expect(used.filter(Boolean)).toHaveLength(1);
      expect(await store.countUnusedRecoveryCodes(user.id)).toBe(9);
      expect(await store.useRecoveryCode(user.id, codes[3]!, now)).toBe(false);
    });
  });
}
