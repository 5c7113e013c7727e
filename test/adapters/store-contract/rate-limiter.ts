import { describe, expect, it } from 'vitest';
import { all, minutes, type OpenSubjects, testMoment } from './fixtures.js';

/**
 * The rate limiter's counters (OWASP ASVS V2.2.1): an attempt is counted atomically before
 * the work, so N parallel attempts let exactly `points` through.
 */
export function rateLimiterContract(open: OpenSubjects) {
  const policy = { points: 5, windowMs: minutes(15) };
  const newKey = (label: string) => `contract:${label}:${crypto.randomUUID()}`;

  describe('rate limiter', () => {
    it('N attempts at once on one key: exactly `points` pass, the rest wait until the window ends', async () => {
      const { rateLimiter, parallel } = open();
      const now = testMoment();
      const key = newKey('burst');
      const n = Math.max(parallel, 3 * policy.points);

      const waits = await all(n, () => rateLimiter.hit([{ key, policy }], now));

      const flat = waits.map(([wait]) => wait!);
      expect(flat.filter((wait) => wait === 0)).toHaveLength(policy.points);
      for (const wait of flat.filter((wait) => wait !== 0)) expect(wait).toBe(policy.windowMs / 1000);
    });

    it('attempts charged to two keys at once are counted on both, whatever the order of the keys', async () => {
      const { rateLimiter, parallel } = open();
      const now = testMoment();
      const [a, b] = [newKey('a'), newKey('b')];
      const tight = { points: 3, windowMs: minutes(1) };

      const waits = await all(parallel, (i) =>
        rateLimiter.hit(
          i % 2 === 0
            ? [
                { key: a, policy },
                { key: b, policy: tight },
              ]
            : [
                { key: b, policy: tight },
                { key: a, policy },
              ],
          now,
        ),
      );

      const waitOn = (key: string) =>
        waits.map((wait, i) => wait[(i % 2 === 0) === (key === a) ? 0 : 1]!).filter((wait) => wait === 0);
      expect(waitOn(a)).toHaveLength(policy.points);
      expect(waitOn(b)).toHaveLength(tight.points);
    });

    it('refunds racing hits over the same keys neither deadlock nor take a count below zero', async () => {
      const { rateLimiter, parallel } = open();
      const now = testMoment();
      const [a, b] = [newKey('a'), newKey('b')];

      // Mostly refunds: were a count to go below zero, more than `points` would pass afterwards.
      const settled = await Promise.allSettled(
        Array.from({ length: 3 * parallel }, (_, i) => {
          const keys = i % 2 === 0 ? [a, b] : [b, a];
          return i % 3 === 0
            ? rateLimiter.hit(
                keys.map((key) => ({ key, policy })),
                now,
              )
            : rateLimiter.refund(keys, now);
        }),
      );

      expect(settled.filter((result) => result.status === 'rejected')).toEqual([]);
      for (const key of [a, b]) {
        const after = await all(2 * policy.points, () => rateLimiter.hit([{ key, policy }], now));
        expect(after.filter(([wait]) => wait === 0).length).toBeLessThanOrEqual(policy.points);
      }
    });

    it('a refund before any attempt is no credit for later attempts', async () => {
      const { rateLimiter } = open();
      const now = testMoment();
      const key = newKey('fresh');
      const one = { points: 1, windowMs: minutes(1) };
      await rateLimiter.refund([key], now);
      expect(await rateLimiter.hit([{ key, policy: one }], now)).toEqual([0]);
      expect(await rateLimiter.hit([{ key, policy: one }], now)).toEqual([60]);
      await rateLimiter.refund([key], now);
      expect(await rateLimiter.hit([{ key, policy: one }], now)).toEqual([60]);
    });
  });
}
