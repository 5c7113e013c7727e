import { describe, expect, it } from 'vitest';
import type { ClaimedMessage, Mailer, OutboxStats, OutboxStore } from '../../src/ports/mail.js';
import { outboxMessage, sealMailMessage, unsealMailMessage } from '../../src/services/mail-sealing.js';
import {
  createOutboxDispatcher,
  describeDeliveryError,
  retryDelayMs,
} from '../../src/services/outbox-dispatcher.js';
import { masterKeys, resetMail, testClock } from './fixtures.js';

describe('retryDelayMs: exponential backoff with full jitter', () => {
  it('draws uniformly below base · 2^(attempt−1), capped, never under a second', () => {
    const top = () => 0.999_999;
    expect(retryDelayMs(1, top)).toBe(29_999);
    expect(retryDelayMs(2, top)).toBe(59_999);
    expect(retryDelayMs(5, top)).toBe(479_999);
    // Capped at an hour however many attempts.
    expect(retryDelayMs(8, top)).toBe(3_599_996);
    expect(retryDelayMs(1_000, top)).toBe(3_599_996);
    expect(retryDelayMs(3, () => 0.5)).toBe(60_000);
    expect(retryDelayMs(3, () => 0)).toBe(1_000);
    expect(retryDelayMs(2, () => 0.5, { baseMs: 10_000, capMs: 15_000 })).toBe(7_500);
  });

  it('stays within its bounds for any draw, even a broken random', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      for (const draw of [-1, 0, 0.3, 0.999, 1, 2, Number.NaN]) {
        const delay = retryDelayMs(attempt, () => draw);
        expect(Number.isFinite(delay) || Number.isNaN(draw)).toBe(true);
        if (!Number.isNaN(draw)) {
          expect(delay).toBeGreaterThanOrEqual(1_000);
          expect(delay).toBeLessThanOrEqual(3_600_000);
        }
      }
    }
  });
});

describe('describeDeliveryError', () => {
  it('keeps the name, code and message, bounded, without the credentials of a URL', () => {
    const error = Object.assign(new Error('connect ECONNREFUSED smtp://user:hunter2@mail.example.com:587'), {
      code: 'ESOCKET',
    });
    expect(describeDeliveryError(error)).toBe(
      'Error ESOCKET: connect ECONNREFUSED smtp://***@mail.example.com:587',
    );
    expect(describeDeliveryError(new Error('x'.repeat(10_000)))).toHaveLength(300);
    expect(describeDeliveryError('a string')).toBe('delivery failed');
  });
});

describe('sealed outbox messages', () => {
  it('open only with the row they were sealed for', async () => {
    const keys = await masterKeys();
    const sealed = await sealMailMessage(keys, 'row-1', resetMail(1));
    expect(sealed).not.toContain('tok1secret');
    expect(await unsealMailMessage(keys, 'row-1', sealed)).toEqual(resetMail(1));
    await expect(unsealMailMessage(keys, 'row-2', sealed)).rejects.toThrow();
  });

  it('refuse a header with a line break, an oversized body and an unsafe idempotency key', async () => {
    const keys = await masterKeys();
    const now = new Date();
    const build = (message: ReturnType<typeof resetMail>, idempotencyKey?: string) =>
      outboxMessage(keys, { kind: 'password_reset', userId: null, message, now, idempotencyKey });
    await expect(build({ ...resetMail(1), subject: 'Hi\r\nBcc: x@example.com' })).rejects.toThrow('subject');
    await expect(build({ ...resetMail(1), to: 'a@example.com\nBcc: b@example.com' })).rejects.toThrow('to');
    await expect(build({ ...resetMail(1), html: 'x'.repeat(200_001) })).rejects.toThrow('html');
    await expect(build(resetMail(1), 'key with spaces and more')).rejects.toThrow('idempotency key');
    await expect(build(resetMail(1), 'short')).rejects.toThrow('idempotency key');
    const given = await build(resetMail(1), 'password_changed-0123456789');
    expect(given.idempotencyKey).toBe('password_changed-0123456789');
    const fresh = await build(resetMail(1));
    expect(fresh.idempotencyKey).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(fresh).toMatchObject({ kind: 'password_reset', userId: null, createdAt: now });
  });
});

/** An in-memory outbox that records what the dispatcher asked of it. */
function recordingOutbox(claims: ClaimedMessage[]) {
  const calls: string[] = [];
  const store: OutboxStore = {
    async enqueueMessages() {},
    async claimDueMessages(_now, limit) {
      calls.push(`claim ${limit}`);
      return claims.splice(0, limit);
    },
    async markMessageSent(id) {
      calls.push(`sent ${id}`);
    },
    async markMessageRetry(id, at, error) {
      calls.push(`retry ${id} ${at.toISOString()} ${error}`);
    },
    async markMessageFailed(id, error) {
      calls.push(`failed ${id} ${error}`);
    },
    async outboxStats(): Promise<OutboxStats> {
      return { pending: 0, sent: 0, failed: 0, oldestPendingAgeSeconds: 0 };
    },
  };
  return { store, calls };
}

describe('the dispatcher', () => {
  it('sends at most `concurrency` at once, never logs a body or a link, and survives an unrecorded outcome', async () => {
    const keys = await masterKeys();
    const clock = testClock();
    const claims = await Promise.all(
      Array.from({ length: 10 }, async (_, n) => {
        const row = await outboxMessage(keys, {
          kind: 'password_reset',
          userId: null,
          message: resetMail(n),
          now: clock.now(),
        });
        return {
          id: row.id,
          kind: row.kind,
          idempotencyKey: row.idempotencyKey,
          sealed: row.sealed,
          attempts: 1,
        };
      }),
    );
    let active = 0;
    let peak = 0;
    // The first sends wait until three are under way at once (or 5 s, only if the dispatcher
    // never gets there): a peak of 3 then does not depend on how fast the machine unseals.
    let threeAtOnce!: () => void;
    const reachedThree = new Promise<void>((resolve) => {
      threeAtOnce = resolve;
    });
    const mailer: Mailer = {
      async send(mail) {
        active++;
        peak = Math.max(peak, active);
        if (active === 3) threeAtOnce();
        await Promise.race([reachedThree, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
        active--;
        if (mail.to === 'user3@example.com') throw new Error(`server said no to ${mail.subject}`);
      },
    };
    const first = claims[0]!.id;
    const { store, calls } = recordingOutbox(claims);
    const lines: string[] = [];
    const logger = {
      info: (m: string, f?: object) => lines.push(`${m} ${JSON.stringify(f)}`),
      warn: (m: string, f?: object) => lines.push(`${m} ${JSON.stringify(f)}`),
      error: (m: string, f?: object) => lines.push(`${m} ${JSON.stringify(f)}`),
    };
    const failing = {
      ...store,
      markMessageSent: async (id: string) => {
        if (id === first) throw new Error('database went away');
        return store.markMessageSent(id, clock.now());
      },
    };
    const dispatcher = createOutboxDispatcher({
      outbox: failing,
      mailer,
      clock,
      masterKeys: keys,
      from: 'a@example.com',
      policy: { batchSize: 10, leaseMs: 60_000, maxAttempts: 3, concurrency: 3 },
      random: () => 0.5,
      logger,
    });
    const counts = await dispatcher.runOnce();
    expect(peak).toBe(3);
    expect(counts).toEqual({ sent: 8, retried: 1, failed: 0 });
    expect(calls.filter((call) => call.startsWith('sent'))).toHaveLength(8);
    expect(calls).not.toContain(`sent ${first}`);
    expect(lines.some((line) => line.includes('mail outcome not recorded') && line.includes(first))).toBe(
      true,
    );
    for (const line of lines) expect(line).not.toMatch(/secret|token=|example\.com\/account/);
  });
});

describe('the dispatcher and its lease', () => {
  it('starts no send after half the lease: the rest waits for its claim to expire', async () => {
    const keys = await masterKeys();
    const clock = testClock();
    const claims = await Promise.all(
      Array.from({ length: 5 }, async (_, n) => {
        const row = await outboxMessage(keys, {
          kind: 'password_reset',
          userId: null,
          message: resetMail(n),
          now: clock.now(),
        });
        return {
          id: row.id,
          kind: row.kind,
          idempotencyKey: row.idempotencyKey,
          sealed: row.sealed,
          attempts: 1,
        };
      }),
    );
    const { store, calls } = recordingOutbox(claims);
    const warnings: unknown[] = [];
    // Each send takes 20 s of the 60 s lease.
    const dispatcher = createOutboxDispatcher({
      outbox: store,
      mailer: { send: async () => clock.advance(20_000) },
      clock,
      masterKeys: keys,
      from: 'a@example.com',
      policy: { batchSize: 5, leaseMs: 60_000, maxAttempts: 3, concurrency: 1 },
      logger: { info() {}, error() {}, warn: (message, fields) => warnings.push({ message, fields }) },
    });
    expect(await dispatcher.runOnce()).toEqual({ sent: 2, retried: 0, failed: 0 });
    expect(calls.filter((call) => call.startsWith('sent'))).toHaveLength(2);
    expect(warnings).toEqual([
      { message: 'mail dispatch ran out of lease', fields: { leftOver: 3, leaseMs: 60_000 } },
    ]);
  });
});
