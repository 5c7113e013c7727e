import { describe, expect, it } from 'vitest';
import { all, minutes, type OpenSubjects } from './fixtures.js';

/**
 * What several instances do at once on one database: clean up, and agree on a signing key
 * when they start together.
 */
export function maintenanceContract(open: OpenSubjects) {
  describe('several instances at once', () => {
    it('cleanup batches run by N instances at once delete each expired row once, and nothing live', async () => {
      const { store, rateLimiter, parallel } = open();
      // Long before any other test's moment: only this test's counters have ended by `cutoff`.
      const then = new Date(Date.UTC(2001, 0, 1));
      const policy = { points: 5, windowMs: minutes(1) };
      const ended = Array.from({ length: 60 }, (_, i) => `contract:cleanup:${i}:${crypto.randomUUID()}`);
      await rateLimiter.hit(
        ended.map((key) => ({ key, policy })),
        then,
      );
      const live = `contract:cleanup:live:${crypto.randomUUID()}`;
      const cutoff = new Date(then.getTime() + minutes(2));
      await rateLimiter.hit([{ key: live, policy: { points: 1, windowMs: minutes(60) } }], then);

      const deleted = await all(parallel, () => store.deleteExpiredBatch('rate_limits', cutoff, 7));

      // SKIP LOCKED: batches of different instances never wait on, nor count, the same row.
      expect(deleted.reduce((sum, count) => sum + count, 0)).toBe(ended.length);
      expect(await store.deleteExpiredBatch('rate_limits', cutoff, 7)).toBe(0);
      // The live counter was kept: a second attempt within its window is over its limit.
      expect(
        await rateLimiter.hit([{ key: live, policy: { points: 1, windowMs: minutes(60) } }], cutoff),
      ).not.toEqual([0]);
    });

    it('N instances starting together add one signing key between them', async () => {
      const { store, parallel } = open();
      const at = new Date(Date.UTC(2031, 0, 1));
      // An algorithm of this test's own, so that keys of other tests (if any) do not count.
      const alg = `contract-${crypto.randomUUID()}`;

      const added = await all(parallel, (i) =>
        store.addSigningKey(
          {
            kid: `contract-${i}-${crypto.randomUUID()}`,
            alg,
            publicJwk: { kty: 'OKP', crv: 'Ed25519', x: `x${i}` },
            privateKeySealed: 'sealed',
            encryptionKeyId: 'contract-key',
            createdAt: at,
            activatesAt: at,
            retiredAt: null,
          },
          { onlyIfNone: true, retire: 'same-alg' },
        ),
      );

      expect(added.filter(Boolean)).toHaveLength(1);
      const keys = (await store.listSigningKeys()).filter((key) => key.alg === alg);
      expect(keys).toHaveLength(1);
      expect(keys[0]!.retiredAt).toBeNull();
    });

    it('an instance whose clock read a moment earlier adds no second key (onlyIfNone)', async () => {
      // Found by the scale-out test: three instances starting at once left two keys, the first
      // retired before it ever activated, because the check only counted keys already active
      // at the caller's own (earlier) instant.
      const { store } = open();
      const at = new Date(Date.UTC(2032, 0, 1));
      const alg = `contract-${crypto.randomUUID()}`;
      const key = (i: number, activatesAt: Date) => ({
        kid: `contract-${i}-${crypto.randomUUID()}`,
        alg,
        publicJwk: { kty: 'OKP', crv: 'Ed25519', x: `x${i}` },
        privateKeySealed: 'sealed',
        encryptionKeyId: 'contract-key',
        createdAt: activatesAt,
        activatesAt,
        retiredAt: null,
      });
      // Instance 1 read its clock 5 ms after instance 2 but took the advisory lock first.
      const options = { onlyIfNone: true, retire: 'same-alg' } as const;
      expect(await store.addSigningKey(key(1, new Date(at.getTime() + 5)), options)).toBe(true);
      expect(await store.addSigningKey(key(2, at), options)).toBe(false);
      const keys = (await store.listSigningKeys()).filter((k) => k.alg === alg);
      expect(keys.map((k) => [k.kid.split('-')[1], k.retiredAt])).toEqual([['1', null]]);
    });
  });
}
