import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Database, rowsOf } from '../../src/adapters/db/database.js';
import { createOutboxStore, insertOutboxMessages } from '../../src/adapters/db/drizzle-outbox.js';
import { createSmtpMailer } from '../../src/adapters/mail/smtp.js';
import type { Mailer } from '../../src/ports/mail.js';
import { onPostgres, openTestDatabase, type TestDatabase } from '../support/database.js';
import { dispatcherFor, newMessage, POLICY, REPLY_TO, resetMail, testClock } from './fixtures.js';
import { closedPort, startSmtpServer, type TestSmtpServer } from './smtp-server.js';

/**
 * Delivery end to end (issue #17): the outbox on a real database, the dispatcher, nodemailer,
 * and a real SMTP server (smtp-server) whose received messages mailparser reads back.
 */
let database: TestDatabase;
let smtp: TestSmtpServer;
let db: Database;

beforeAll(async () => {
  database = await openTestDatabase();
  db = database.db;
  smtp = await startSmtpServer();
});
afterAll(async () => {
  await smtp?.close();
  await database?.close();
});
beforeEach(async () => {
  await db.execute(sql`DELETE FROM outbox`);
  smtp.received.length = 0;
  smtp.raw.length = 0;
  smtp.refuseWith(null);
});

interface Row {
  status: string;
  payload: string | null;
  attempts: number;
  next_attempt_at: Date | string;
  last_error: string | null;
  sent_at: Date | string | null;
}
const rowOf = async (id: string) =>
  rowsOf<Row>(await db.execute(sql`SELECT * FROM outbox WHERE id = ${id}::uuid`))[0]!;
const time = (value: Date | string | null) => (value === null ? null : new Date(value).getTime());

describe(`mail delivery over SMTP on ${onPostgres ? 'PostgreSQL' : 'PGlite'}`, () => {
  it('delivers an enqueued message with its subject, bodies and idempotency key, then erases its body', async () => {
    const clock = testClock();
    const message = await newMessage(1, clock.now());
    await createOutboxStore(db).enqueueMessages([message]);
    const dispatcher = await dispatcherFor(db, { mailer: createSmtpMailer(smtp.url), clock });

    expect(await dispatcher.runOnce()).toEqual({ sent: 1, retried: 0, failed: 0 });

    expect(smtp.received).toHaveLength(1);
    const mail = smtp.received[0]!;
    const expected = resetMail(1);
    expect(mail.subject).toBe(expected.subject);
    expect(mail.text).toBe(expected.text);
    expect(mail.html).toBe(expected.html);
    expect(mail.to && !Array.isArray(mail.to) ? mail.to.text : undefined).toBe(expected.to);
    expect(mail.from?.text).toBe('"Latchkey" <no-reply@auth.example.com>');
    expect(mail.replyTo?.text).toBe(REPLY_TO);
    expect(mail.messageId).toBe(`<${message.idempotencyKey}@auth.example.com>`);
    expect(mail.headers.get('x-idempotency-key')).toBe(message.idempotencyKey);

    const row = await rowOf(message.id);
    expect(row).toMatchObject({ status: 'sent', payload: null, attempts: 1, last_error: null });
    expect(time(row.sent_at)).toBe(clock.now().getTime());
    // Sent once: the next run finds nothing.
    expect(await dispatcher.runOnce()).toEqual({ sent: 0, retried: 0, failed: 0 });
    expect(smtp.received).toHaveLength(1);
  });

  it('retries a refused message (4xx) with backoff, then marks it failed after the last attempt', async () => {
    const clock = testClock();
    const message = await newMessage(2, clock.now());
    const outbox = createOutboxStore(db);
    await outbox.enqueueMessages([message]);
    // random() = 0.5: the waits are half of 30 s, 60 s (full jitter over 30 s · 2^(n−1)).
    const dispatcher = await dispatcherFor(db, { mailer: createSmtpMailer(smtp.url), clock });
    smtp.refuseWith(451);

    expect(await dispatcher.runOnce()).toEqual({ sent: 0, retried: 1, failed: 0 });
    let row = await rowOf(message.id);
    expect(row).toMatchObject({ status: 'pending', attempts: 1 });
    expect(row.payload).not.toBeNull();
    expect(row.last_error).toContain('451');
    expect(time(row.next_attempt_at)).toBe(clock.now().getTime() + 15_000);
    expect(await outbox.outboxStats(clock.now())).toEqual({
      pending: 1,
      sent: 0,
      failed: 0,
      oldestPendingAgeSeconds: 0,
    });

    // Not due before its time.
    clock.advance(14_999);
    expect(await dispatcher.runOnce()).toEqual({ sent: 0, retried: 0, failed: 0 });
    clock.advance(1);
    expect(await dispatcher.runOnce()).toEqual({ sent: 0, retried: 1, failed: 0 });
    row = await rowOf(message.id);
    expect(row.attempts).toBe(2);
    expect(time(row.next_attempt_at)).toBe(clock.now().getTime() + 30_000);

    clock.advance(30_000);
    expect(await dispatcher.runOnce()).toEqual({ sent: 0, retried: 0, failed: 1 });
    row = await rowOf(message.id);
    expect(row).toMatchObject({ status: 'failed', attempts: POLICY.maxAttempts });
    expect(row.payload).toBe(message.sealed); // kept sealed for an operator's retry
    expect(row.last_error).toContain('451');
    expect(row.last_error).not.toContain('tok2secret');
    expect(await outbox.outboxStats(clock.now())).toEqual({
      pending: 0,
      sent: 0,
      failed: 1,
      oldestPendingAgeSeconds: 0,
    });
    // Failed is final: even a server that is back does not get it.
    smtp.refuseWith(null);
    clock.advance(3_600_000);
    expect(await dispatcher.runOnce()).toEqual({ sent: 0, retried: 0, failed: 0 });
    expect(smtp.received).toHaveLength(0);
  });

  it('retries while the server is down (connection refused) and delivers once it is back', async () => {
    const clock = testClock();
    const message = await newMessage(3, clock.now());
    const outbox = createOutboxStore(db);
    await outbox.enqueueMessages([message]);
    const down = await dispatcherFor(db, {
      mailer: createSmtpMailer(`smtp://127.0.0.1:${await closedPort()}`),
      clock,
      policy: { maxAttempts: 5 },
      random: () => 0.999,
    });

    expect(await down.runOnce()).toEqual({ sent: 0, retried: 1, failed: 0 });
    const row = await rowOf(message.id);
    expect(row.last_error).toMatch(/ECONNREFUSED/);
    expect(time(row.next_attempt_at)).toBe(clock.now().getTime() + Math.floor(0.999 * 30_000));
    clock.advance(60_000);
    expect(await outbox.outboxStats(clock.now())).toMatchObject({ pending: 1, oldestPendingAgeSeconds: 60 });

    const up = await dispatcherFor(db, {
      mailer: createSmtpMailer(smtp.url),
      clock,
      policy: { maxAttempts: 5 },
    });
    expect(await up.runOnce()).toEqual({ sent: 1, retried: 0, failed: 0 });
    expect(smtp.received.map((mail) => mail.messageId)).toEqual([
      `<${message.idempotencyKey}@auth.example.com>`,
    ]);
    expect(await rowOf(message.id)).toMatchObject({ status: 'sent', payload: null, attempts: 2 });
  });

  it('never sends a message whose transaction rolled back', async () => {
    const clock = testClock();
    const rolledBack = await newMessage(4, clock.now());
    const committed = await newMessage(5, clock.now());
    await expect(
      db.transaction(async (tx) => {
        await insertOutboxMessages(tx, [rolledBack]);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    await db.transaction(async (tx) => insertOutboxMessages(tx, [committed]));

    const dispatcher = await dispatcherFor(db, { mailer: createSmtpMailer(smtp.url), clock });
    expect(await dispatcher.runOnce()).toEqual({ sent: 1, retried: 0, failed: 0 });
    expect(smtp.received.map((mail) => mail.messageId)).toEqual([
      `<${committed.idempotencyKey}@auth.example.com>`,
    ]);
    expect(
      await rowsOf(await db.execute(sql`SELECT id FROM outbox WHERE id = ${rolledBack.id}::uuid`)),
    ).toEqual([]);
  });

  it('sends again, under the same key, a message whose sender crashed holding its claim', async () => {
    const clock = testClock();
    const message = await newMessage(6, clock.now());
    const outbox = createOutboxStore(db);
    await outbox.enqueueMessages([message]);
    // A sender claims it and dies before recording anything.
    const [claimed] = await outbox.claimDueMessages(clock.now(), 10, POLICY.leaseMs);
    expect(claimed?.idempotencyKey).toBe(message.idempotencyKey);

    const dispatcher = await dispatcherFor(db, { mailer: createSmtpMailer(smtp.url), clock });
    clock.advance(POLICY.leaseMs - 1);
    expect(await dispatcher.runOnce()).toEqual({ sent: 0, retried: 0, failed: 0 });
    clock.advance(1);
    expect(await dispatcher.runOnce()).toEqual({ sent: 1, retried: 0, failed: 0 });
    expect(smtp.received.map((mail) => mail.messageId)).toEqual([
      `<${message.idempotencyKey}@auth.example.com>`,
    ]);
    expect(await rowOf(message.id)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('a send slower than its lease is repeated by another instance under the same key (at least once)', async () => {
    const clock = testClock();
    const message = await newMessage(7, clock.now());
    await createOutboxStore(db).enqueueMessages([message]);
    const smtpMailer = createSmtpMailer(smtp.url);
    let release = () => {};
    let started = () => {};
    const sending = new Promise<void>((resolve) => {
      started = resolve;
    });
    const slowMailer: Mailer = {
      async send(mail) {
        started();
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        await smtpMailer.send(mail);
      },
    };
    const slow = await dispatcherFor(db, { mailer: slowMailer, clock });
    const fast = await dispatcherFor(db, { mailer: smtpMailer, clock });

    const slowRun = slow.runOnce();
    await sending;
    clock.advance(POLICY.leaseMs);
    expect(await fast.runOnce()).toEqual({ sent: 1, retried: 0, failed: 0 });
    release();
    expect(await slowRun).toEqual({ sent: 1, retried: 0, failed: 0 });

    const id = `<${message.idempotencyKey}@auth.example.com>`;
    expect(smtp.received.map((mail) => mail.messageId)).toEqual([id, id]);
    expect(await rowOf(message.id)).toMatchObject({ status: 'sent', payload: null, attempts: 2 });
  });

  it('parallel dispatchers send each of 50 messages exactly once', async () => {
    const clock = testClock();
    const messages = await Promise.all(
      Array.from({ length: 50 }, (_, n) => newMessage(100 + n, clock.now())),
    );
    await createOutboxStore(db).enqueueMessages(messages);
    // Small batches, so the five contend for the same rows in every round.
    const dispatchers = await Promise.all(
      Array.from({ length: 5 }, () =>
        dispatcherFor(db, { mailer: createSmtpMailer(smtp.url), clock, policy: { batchSize: 4 } }),
      ),
    );

    // Five instances at once (on PostgreSQL each claim runs on its own pooled connection),
    // round after round until the outbox is empty.
    let sent = 0;
    for (let round = 0; round < 10 && sent < 50; round++) {
      const runs = await Promise.all(dispatchers.map((dispatcher) => dispatcher.runOnce()));
      expect(runs.every((run) => run.retried === 0 && run.failed === 0)).toBe(true);
      sent += runs.reduce((sum, run) => sum + run.sent, 0);
    }
    expect(sent).toBe(50);

    const keys = smtp.received.map((mail) => mail.messageId);
    expect(keys).toHaveLength(50);
    expect(new Set(keys)).toEqual(new Set(messages.map((m) => `<${m.idempotencyKey}@auth.example.com>`)));
    expect(await createOutboxStore(db).outboxStats(clock.now())).toEqual({
      pending: 0,
      sent: 50,
      failed: 0,
      oldestPendingAgeSeconds: 0,
    });
  });

  it('drain runs again while runs fill their batch, and stops when asked', async () => {
    const clock = testClock();
    const messages = await Promise.all(Array.from({ length: 5 }, (_, i) => newMessage(100 + i, clock.now())));
    await insertOutboxMessages(db, messages);
    const sent: string[] = [];
    const mailer: Mailer = { send: async (mail) => void sent.push(mail.idempotencyKey) };
    const dispatcher = await dispatcherFor(db, { mailer, clock, policy: { batchSize: 2 } });
    const runs: number[] = [];
    await dispatcher.drain({ onRun: (counts) => runs.push(counts.sent) });
    expect(runs).toEqual([2, 2, 1]); // the third run came back short: drained
    expect(new Set(sent).size).toBe(5);

    await insertOutboxMessages(db, await Promise.all([1, 2, 3].map((i) => newMessage(200 + i, clock.now()))));
    const stopped: number[] = [];
    await dispatcher.drain({ stop: () => stopped.length > 0, onRun: (counts) => stopped.push(counts.sent) });
    expect(stopped).toEqual([2]);
  });
});
