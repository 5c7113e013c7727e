import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Database, rowsOf } from '../../src/adapters/db/database.js';
import { createOutboxStore, insertOutboxMessages } from '../../src/adapters/db/drizzle-outbox.js';
import type { OutboxStore } from '../../src/ports/mail.js';
import { newMessage, testClock } from '../mail/fixtures.js';
import { onPostgres, openTestDatabase, type TestDatabase } from '../support/database.js';

/**
 * The outbox adapter's contract (issue #17): claims are exclusive while their lease runs (FOR
 * UPDATE SKIP LOCKED, with real concurrency on PostgreSQL's pool), expire with it, and the
 * outcomes apply to pending rows only. Delivery itself: test/mail/delivery.test.ts.
 */
let database: TestDatabase;
let db: Database;
let outbox: OutboxStore;
const LEASE = 60_000;

beforeAll(async () => {
  database = await openTestDatabase();
  db = database.db;
  outbox = createOutboxStore(db);
});
afterAll(async () => {
  await database?.close();
});
beforeEach(async () => {
  await db.execute(sql`DELETE FROM outbox`);
});

const statusOf = async (id: string) =>
  rowsOf<{ status: string; payload: string | null; last_error: string | null }>(
    await db.execute(sql`SELECT status, payload, last_error FROM outbox WHERE id = ${id}::uuid`),
  )[0];

describe(`outbox store on ${onPostgres ? 'PostgreSQL' : 'PGlite'}`, () => {
  it('claims due messages oldest first, counts the attempt and holds them for the lease', async () => {
    const clock = testClock();
    const older = await newMessage(1, clock.now());
    clock.advance(1_000);
    const newer = await newMessage(2, clock.now());
    clock.advance(1_000);
    const future = await newMessage(3, new Date(clock.now().getTime() + 10_000));
    await outbox.enqueueMessages([newer, older, future]);

    const first = await outbox.claimDueMessages(clock.now(), 1, LEASE);
    expect(first.map((m) => [m.id, m.idempotencyKey, m.kind, m.attempts])).toEqual([
      [older.id, older.idempotencyKey, 'password_reset', 1],
    ]);
    expect(first[0]?.sealed).toBe(older.sealed);
    expect((await outbox.claimDueMessages(clock.now(), 10, LEASE)).map((m) => m.id)).toEqual([newer.id]);
    // Both held, and the third not due yet.
    expect(await outbox.claimDueMessages(clock.now(), 10, LEASE)).toEqual([]);

    // The lease ends: claimed again (at least once), the attempt counted again.
    clock.advance(LEASE);
    const again = await outbox.claimDueMessages(clock.now(), 10, LEASE);
    // (RETURNING gives no order: compared sorted.)
    const byId = (a: [string, number], b: [string, number]) => a[0].localeCompare(b[0]);
    expect(again.map((m): [string, number] => [m.id, m.attempts]).sort(byId)).toEqual(
      (
        [
          [future.id, 1],
          [older.id, 2],
          [newer.id, 2],
        ] as [string, number][]
      ).sort(byId),
    );
  });

  it('stores a repeated idempotency key once, and nothing of a rolled-back transaction', async () => {
    const clock = testClock();
    const message = await newMessage(1, clock.now(), 'same-key-0123456789abcdef');
    const repeat = await newMessage(2, clock.now(), 'same-key-0123456789abcdef');
    await outbox.enqueueMessages([message]);
    await db.transaction((tx) => insertOutboxMessages(tx, [repeat]));
    await db
      .transaction(async (tx) => {
        await insertOutboxMessages(tx, [await newMessage(3, clock.now())]);
        throw new Error('rolled back');
      })
      .catch(() => {});
    await insertOutboxMessages(db, []);
    expect((await outbox.claimDueMessages(clock.now(), 10, LEASE)).map((m) => m.id)).toEqual([message.id]);
  });

  it('records outcomes on pending rows only, erasing the body once sent or failed', async () => {
    const clock = testClock();
    const [sent, failed, retried] = await Promise.all([1, 2, 3].map((n) => newMessage(n, clock.now())));
    await outbox.enqueueMessages([sent!, failed!, retried!]);
    await outbox.claimDueMessages(clock.now(), 10, LEASE);

    await outbox.markMessageSent(sent!.id, clock.now());
    await outbox.markMessageFailed(failed!.id, `550 ${'x'.repeat(2_000)}`, clock.now());
    await outbox.markMessageRetry(retried!.id, new Date(clock.now().getTime() + 5_000), '451 later');
    expect(await statusOf(sent!.id)).toEqual({ status: 'sent', payload: null, last_error: null });
    const failedRow = await statusOf(failed!.id);
    expect(failedRow).toMatchObject({ status: 'failed', payload: failed!.sealed });
    expect(failedRow?.last_error).toHaveLength(500);
    expect(await statusOf(retried!.id)).toEqual({
      status: 'pending',
      payload: retried!.sealed,
      last_error: '451 later',
    });

    // A slow sender whose lease ran out cannot turn a sent message back into a retry or a failure.
    await outbox.markMessageRetry(sent!.id, clock.now(), 'late');
    await outbox.markMessageFailed(sent!.id, 'late', clock.now());
    expect(await statusOf(sent!.id)).toEqual({ status: 'sent', payload: null, last_error: null });

    clock.advance(5_000);
    expect((await outbox.claimDueMessages(clock.now(), 10, LEASE)).map((m) => [m.id, m.attempts])).toEqual([
      [retried!.id, 2],
    ]);
  });

  it('reports pending, sent, failed and the oldest pending age', async () => {
    const clock = testClock();
    expect(await outbox.outboxStats(clock.now())).toEqual({
      pending: 0,
      sent: 0,
      failed: 0,
      oldestPendingAgeSeconds: 0,
    });
    const messages = await Promise.all([1, 2, 3, 4].map((n) => newMessage(n, clock.now())));
    await outbox.enqueueMessages(messages);
    await outbox.markMessageSent(messages[0]!.id, clock.now());
    await outbox.markMessageFailed(messages[1]!.id, 'gave up', clock.now());
    clock.advance(90_500);
    expect(await outbox.outboxStats(clock.now())).toEqual({
      pending: 2,
      sent: 1,
      failed: 1,
      oldestPendingAgeSeconds: 90.5,
    });
  });

  it('never hands one message to two of many parallel claims', async () => {
    const clock = testClock();
    const messages = await Promise.all(Array.from({ length: 60 }, (_, n) => newMessage(n, clock.now())));
    await outbox.enqueueMessages(messages);
    const claimed: string[] = [];
    // Rounds of 20 claims at once (on PostgreSQL each on its own connection), 3 rows each.
    for (let round = 0; round < 5 && claimed.length < messages.length; round++) {
      const batches = await Promise.all(
        Array.from({ length: 20 }, () => outbox.claimDueMessages(clock.now(), 3, LEASE)),
      );
      claimed.push(...batches.flat().map((m) => m.id));
    }
    expect(claimed).toHaveLength(60);
    expect(new Set(claimed)).toEqual(new Set(messages.map((m) => m.id)));
  });
});
