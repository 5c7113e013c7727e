import type { Database } from '../../src/adapters/db/database.js';
import { createOutboxStore } from '../../src/adapters/db/drizzle-outbox.js';
import { deriveMasterKeys, type MasterKeys } from '../../src/lib/crypto.js';
import type { Mailer, MailMessage, NewOutboxMessage } from '../../src/ports/mail.js';
import { outboxMessage } from '../../src/services/mail-sealing.js';
import { createOutboxDispatcher, type DispatchPolicy } from '../../src/services/outbox-dispatcher.js';

export const FROM = 'Latchkey <no-reply@auth.example.com>';
export const REPLY_TO = 'support@example.com';

/** A clock the test moves: nothing in the mail tests sleeps. */
export function testClock(start = new Date('2026-12-03T12:00:00.000Z')) {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
  };
}
export type TestClock = ReturnType<typeof testClock>;

let keys: Promise<MasterKeys> | undefined;
export const masterKeys = () => {
  keys ??= deriveMasterKeys('mail-tests-master-secret-0123456789abcdef');
  return keys;
};

/** A reset-like message: a single-use link in both bodies, a user value to escape in html. */
export function resetMail(n: number, to = `user${n}@example.com`): MailMessage {
  const link = `https://auth.example.com/account/password/reset?token=tok${n}secret`;
  return {
    to,
    subject: `Reset your password (${n})`,
    text: `Someone asked to reset your password.\n\nOpen ${link}\n`,
    html: `<p>Hello &lt;Ann&gt;, open <a href="${link}">this link</a>.</p>`,
  };
}

export async function newMessage(n: number, now: Date, idempotencyKey?: string): Promise<NewOutboxMessage> {
  return outboxMessage(await masterKeys(), {
    kind: 'password_reset',
    userId: null,
    message: resetMail(n),
    now,
    idempotencyKey,
  });
}

export const POLICY: DispatchPolicy = { batchSize: 20, leaseMs: 60_000, maxAttempts: 3 };

export async function dispatcherFor(
  db: Database,
  deps: { mailer: Mailer; clock: TestClock; policy?: Partial<DispatchPolicy>; random?: () => number },
) {
  return createOutboxDispatcher({
    outbox: createOutboxStore(db),
    mailer: deps.mailer,
    clock: deps.clock,
    masterKeys: await masterKeys(),
    from: FROM,
    replyTo: REPLY_TO,
    policy: { ...POLICY, ...deps.policy },
    random: deps.random ?? (() => 0.5),
  });
}
