import { eq, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { outbox } from '../../src/adapters/db/schema.js';
import type { OutgoingMail } from '../../src/ports/mail.js';
import { call, decodeJwtPart, login, registerUser, type TokenPair } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import { totpCode } from '../support/totp.js';
import { NEW_PASSWORD, resetTools } from './password-reset-harness.js';

/**
 * Operators' side of issue #17 over the admin API: a reset link an admin sends (flow 6: no
 * admin ever sees or sets a password) and the outbox an admin looks after (Delivery: list,
 * retry). The guard of every new route, and bad input answered with the contract's JSON errors.
 */

const database = useDatabase();
let lk: Latchkey;
/** The transport: records what it is given, or fails while `failing` is set. */
const delivered: OutgoingMail[] = [];
let failing = false;
beforeAll(async () => {
  lk = await buildLatchkey(database.current, {
    // One failed attempt is final: the tests make failed messages with one dispatcher run.
    env: { MAIL_MAX_ATTEMPTS: '1', PASSWORD_RESETS_PER_IP: '100000' },
    mailer: {
      send: async (mail) => {
        if (failing)
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ECONNREFUSED' });
        delivered.push(mail);
      },
    },
  });
});

const STEP = 30_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAIL_FIELDS = [
  'attempts',
  'created_at',
  'id',
  'kind',
  'last_error',
  'next_attempt_at',
  'sent_at',
  'status',
  'user_id',
];
const { forgot, reset, mailsOf, latestToken } = resetTools(
  () => database.current,
  () => lk.app,
);

// ---------------------------------------------------------------------------------------------
// An admin: a user with TOTP, the admin role and an aal2 session (as in admin.test.ts).
// ---------------------------------------------------------------------------------------------

interface AdminSession {
  id: string;
  email: string;
  pair: TokenPair;
  token: string;
}

const codeNow = (secret: string) => {
  lk.clock.advance(STEP);
  return totpCode(secret, Math.floor(lk.clock.now().getTime() / 1000));
};

async function aal2Session(role: 'admin' | 'user' = 'admin'): Promise<AdminSession> {
  const user = await registerUser(lk.app);
  const first = await login(lk.app, user.email);
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: first.access_token });
  const secret: string = enrolled.json.secret;
  const activated = await call(lk.app, '/v1/mfa/totp/activate', {
    body: { code: codeNow(secret) },
    token: first.access_token,
  });
  expect(activated.status).toBe(200);
  if (role === 'admin') expect(await lk.store.setUserRole(user.id, 'admin')).toBe(true);
  const started = await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
  const res = await call(lk.app, '/v1/auth/login/mfa', {
    body: { mfa_token: started.json.mfa_token, code: codeNow(secret) },
  });
  expect(res.status).toBe(200);
  expect(decodeJwtPart(res.json.access_token, 1).acr).toBe('aal2');
  return { id: user.id, email: user.email, pair: res.json, token: res.json.access_token };
}

const admin = (token: string | undefined, path: string, method = 'GET') =>
  call(lk.app, `/v1/admin${path}`, { method, ...(token ? { token } : {}) });

function expectError(res: { status: number; json: Record<string, unknown> }, status: number, error: string) {
  expect(res.status).toBe(status);
  expect(res.json.error).toBe(error);
  expect(typeof res.json.error_description).toBe('string');
}

async function eventsOf(userId: string, type: string) {
  const result = await database.current.db.execute(
    sql`SELECT details, ip_address FROM security_events WHERE user_id = ${userId} AND type = ${type}`,
  );
  return rowsOf<{ details: Record<string, unknown> | null; ip_address: string | null }>(result);
}

const outboxRow = async (id: string) =>
  (await database.current.db.select().from(outbox).where(eq(outbox.id, id)))[0]!;

/** Every page of GET /v1/admin/mail with this query, followed through next_cursor. */
async function allPages(token: string, query: string, limit: number) {
  const seen: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const res = await admin(token, `/mail?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    expect(res.json.messages.length).toBeLessThanOrEqual(limit);
    seen.push(...res.json.messages);
    cursor = res.json.next_cursor;
    if (!cursor) return seen;
  }
  throw new Error('the pages never ended');
}

let boss: AdminSession;
beforeAll(async () => {
  boss = await aal2Session();
});

// ---------------------------------------------------------------------------------------------

describe('the guard of the new routes', () => {
  const routes = (userId: string, messageId: string): [string, string][] => [
    ['POST', `/users/${userId}/password-reset`],
    ['GET', '/mail'],
    ['GET', '/mail?status=failed'],
    ['POST', `/mail/${messageId}/retry`],
  ];

  it('refuses no token (401 invalid_token), an admin at aal1 (401 acr_values="aal2") and a non-admin (403)', async () => {
    const target = await registerUser(lk.app);
    const someId = crypto.randomUUID();
    const aal1 = await registerUser(lk.app);
    await lk.store.setUserRole(aal1.id, 'admin');
    const aal1Pair = await login(lk.app, aal1.email);
    const user = await aal2Session('user');
    for (const [method, path] of routes(target.id, someId)) {
      expectError(await admin(undefined, path, method), 401, 'invalid_token');
      const stepUp = await admin(aal1Pair.access_token, path, method);
      expectError(stepUp, 401, 'insufficient_user_authentication');
      expect(stepUp.headers.get('www-authenticate')).toContain('acr_values="aal2"');
      expectError(await admin(user.token, path, method), 403, 'forbidden');
    }
    // Nothing was sent while refusing.
    expect(await mailsOf(target.id, 'password_reset')).toHaveLength(0);
  });
});

describe('POST /v1/admin/users/:id/password-reset', () => {
  it('queues a link to the user’s own address; the answer holds no link, and the link resets the password', async () => {
    const user = await registerUser(lk.app);
    const session = await login(lk.app, user.email);
    const res = await admin(boss.token, `/users/${user.id}/password-reset`, 'POST');
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ sent: true });
    expect(JSON.stringify(res.json)).not.toContain('lkp_');

    const [mail] = await mailsOf(user.id, 'password_reset');
    expect(mail).toMatchObject({ status: 'pending', userId: user.id });
    // The admin's list shows the message, never its body.
    const listed = await admin(boss.token, '/mail?status=pending&limit=100');
    const entry = listed.json.messages.find((message: { id: string }) => message.id === mail!.id);
    expect(Object.keys(entry).sort()).toEqual(MAIL_FIELDS);
    expect(JSON.stringify(listed.json)).not.toContain('lkp_');
    expect(JSON.stringify(listed.json)).not.toContain(mail!.payload!);

    // The owner follows the link: every session ends, the new password works.
    const token = await latestToken(user.id);
    expect((await reset({ token })).status).toBe(204);
    expect((await call(lk.app, '/v1/users/me', { token: session.access_token })).status).toBe(401);
    expect(
      (await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: NEW_PASSWORD } })).status,
    ).toBe(200);
  });

  it('records password_reset_requested naming the admin, with the admin’s address (the audit record)', async () => {
    const user = await registerUser(lk.app);
    expect((await admin(boss.token, `/users/${user.id}/password-reset`, 'POST')).status).toBe(202);
    const events = await eventsOf(user.id, 'password_reset_requested');
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toEqual({
      by: 'admin',
      admin_id: boss.id,
      admin_session_id: boss.pair.session_id,
    });
    expect(events[0]!.ip_address).toBe('203.0.113.7');
  });

  it('voids the older link, as a newer forgot link does; the per-address limit of forgot does not apply', async () => {
    const user = await registerUser(lk.app);
    expect((await forgot(user.email)).status).toBe(202);
    const older = await latestToken(user.id);
    // Past the forgot flow's 3 mails an hour for one address: an admin's links all go out.
    for (let i = 0; i < 4; i++) {
      lk.clock.advance(1000); // so that the newest link is the last mail
      expect((await admin(boss.token, `/users/${user.id}/password-reset`, 'POST')).status).toBe(202);
    }
    expect(await mailsOf(user.id, 'password_reset')).toHaveLength(5);
    expectError(await reset({ token: older }), 400, 'invalid_email_token');
    expect((await reset({ token: await latestToken(user.id) })).status).toBe(204);
  });

  it('refuses a disabled user with 409 user_disabled and sends nothing; enabled again, it works', async () => {
    const user = await registerUser(lk.app);
    expect((await admin(boss.token, `/users/${user.id}/disable`, 'POST')).status).toBe(200);
    expectError(await admin(boss.token, `/users/${user.id}/password-reset`, 'POST'), 409, 'user_disabled');
    expect(await mailsOf(user.id, 'password_reset')).toHaveLength(0);
    expect(await eventsOf(user.id, 'password_reset_requested')).toHaveLength(0);
    expect((await admin(boss.token, `/users/${user.id}/enable`, 'POST')).status).toBe(200);
    expect((await admin(boss.token, `/users/${user.id}/password-reset`, 'POST')).status).toBe(202);
  });

  it('answers 404 not_found for an unknown id, a malformed one and a deleted account', async () => {
    const gone = await registerUser(lk.app);
    const pair = await login(lk.app, gone.email);
    expect((await call(lk.app, '/v1/users/me', { method: 'DELETE', token: pair.access_token })).status).toBe(
      204,
    );
    for (const id of [
      crypto.randomUUID(),
      'not-a-uuid',
      `${crypto.randomUUID()}x`,
      "1' OR '1'='1",
      gone.id,
    ]) {
      expectError(
        await admin(boss.token, `/users/${encodeURIComponent(id)}/password-reset`, 'POST'),
        404,
        'not_found',
      );
    }
    expect(await mailsOf(gone.id, 'password_reset')).toHaveLength(0);
  });
});

describe('GET /v1/admin/mail', () => {
  it('lists by status, newest first, and pages through every message once', async () => {
    for (let i = 0; i < 3; i++) {
      const user = await registerUser(lk.app);
      lk.clock.advance(1000);
      await admin(boss.token, `/users/${user.id}/password-reset`, 'POST');
    }
    const pending = await allPages(boss.token, 'status=pending', 2);
    expect(pending.length).toBeGreaterThanOrEqual(3);
    expect(new Set(pending.map((message) => message.id)).size).toBe(pending.length);
    expect(pending.every((message) => message.status === 'pending')).toBe(true);
    const created = pending.map((message) => Date.parse(message.created_at as string));
    expect(created).toEqual([...created].sort((a, b) => b - a));
    for (const message of pending) {
      expect(message.id).toMatch(UUID);
      expect(message.sent_at).toBeNull();
    }
    // Without a status: every message of every status, the same way.
    const rows = await database.current.db.select({ id: outbox.id }).from(outbox);
    const all = await allPages(boss.token, '', 7);
    expect(all.map((message) => message.id).sort()).toEqual(rows.map((row) => row.id).sort());
  });

  it('shows what was sent and what failed, with a bounded last error', async () => {
    const sentTo = await registerUser(lk.app);
    await admin(boss.token, `/users/${sentTo.id}/password-reset`, 'POST');
    await lk.mailDispatcher!.drain();
    const sentAt = lk.clock.now().toISOString();
    const [sent] = await mailsOf(sentTo.id, 'password_reset');
    const failedTo = await registerUser(lk.app);
    await admin(boss.token, `/users/${failedTo.id}/password-reset`, 'POST');
    failing = true;
    try {
      await lk.mailDispatcher!.drain();
    } finally {
      failing = false;
    }
    const [failed] = await mailsOf(failedTo.id, 'password_reset');

    const sentPage = await allPages(boss.token, 'status=sent', 100);
    expect(sentPage.find((message) => message.id === sent!.id)).toMatchObject({
      status: 'sent',
      user_id: sentTo.id,
      kind: 'password_reset',
      attempts: 1,
      last_error: null,
      sent_at: sentAt,
    });
    const failedPage = await allPages(boss.token, 'status=failed', 100);
    const entry = failedPage.find((message) => message.id === failed!.id)!;
    expect(entry).toMatchObject({ status: 'failed', attempts: 1, sent_at: null });
    expect(entry.last_error).toContain('ECONNREFUSED');
    expect((entry.last_error as string).length).toBeLessThanOrEqual(500);
  });

  it.each([
    ['an unknown status', 'status=bounced'],
    ['an empty status', 'status='],
    ['a status in capitals', 'status=FAILED'],
    ['limit 0', 'limit=0'],
    ['limit 101', 'limit=101'],
    ['a limit in words', 'limit=ten'],
    ['a fractional limit', 'limit=1.5'],
    ['a cursor of other characters', 'cursor=%21%21%21'],
    ['a cursor of base64 text', `cursor=${Buffer.from('not a cursor').toString('base64url')}`],
    [
      'a cursor without a UUID',
      `cursor=${Buffer.from(`2030-01-01T00:00:00.000Z|${'x'.repeat(36)}`).toString('base64url')}`,
    ],
    [
      'a cursor past year 9999',
      `cursor=${Buffer.from(`99999-01-01T00:00:00.000Z|${crypto.randomUUID()}`).toString('base64url')}`,
    ],
    ['a cursor of 129 characters', `cursor=${'A'.repeat(129)}`],
    ['a cursor of 100,000 characters', `cursor=${'A'.repeat(100_000)}`],
  ])('refuses %s with 400 invalid_request', async (_label, query) => {
    expectError(await admin(boss.token, `/mail?${query}`), 400, 'invalid_request');
  });
});

describe('POST /v1/admin/mail/:id/retry', () => {
  /** A message to the user, put in the failed state with its body kept (see below). */
  async function failedWithBody() {
    const user = await registerUser(lk.app);
    await admin(boss.token, `/users/${user.id}/password-reset`, 'POST');
    const [row] = await mailsOf(user.id, 'password_reset');
    // The dispatcher erases the body of a message it gives up on (drizzle-outbox.ts,
    // markMessageFailed), so such a row is only made by hand: it is what a retry can send.
    await database.current.db
      .update(outbox)
      .set({ status: 'failed', attempts: 1, lastError: 'Error ECONNREFUSED: connect ECONNREFUSED' })
      .where(eq(outbox.id, row!.id));
    return { user, id: row!.id };
  }

  it('puts a failed message back to pending, due now, attempts from zero; the next run sends it', async () => {
    const { user, id } = await failedWithBody();
    lk.clock.advance(60_000);
    const res = await admin(boss.token, `/mail/${id}/retry`, 'POST');
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ retried: true });
    expect(await outboxRow(id)).toMatchObject({
      status: 'pending',
      attempts: 0,
      nextAttemptAt: lk.clock.now(),
    });
    await lk.mailDispatcher!.drain();
    expect(await outboxRow(id)).toMatchObject({ status: 'sent', payload: null, attempts: 1 });
    expect(delivered.some((mail) => mail.to === user.email && mail.text.includes('lkp_'))).toBe(true);
  });

  it('two retries at once: one 202, the other 409 mail_not_retryable', async () => {
    const { id } = await failedWithBody();
    const answers = await Promise.all([
      admin(boss.token, `/mail/${id}/retry`, 'POST'),
      admin(boss.token, `/mail/${id}/retry`, 'POST'),
    ]);
    expect(answers.map((res) => res.status).sort()).toEqual([202, 409]);
    expect(answers.find((res) => res.status === 409)!.json.error).toBe('mail_not_retryable');
  });

  it('refuses a pending or sent message, and a failed one whose body is erased: 409 mail_not_retryable; a failed one keeps its sealed body and can be retried', async () => {
    const user = await registerUser(lk.app);
    await admin(boss.token, `/users/${user.id}/password-reset`, 'POST');
    const [pending] = await mailsOf(user.id, 'password_reset');
    const notFailed = await admin(boss.token, `/mail/${pending!.id}/retry`, 'POST');
    expectError(notFailed, 409, 'mail_not_retryable');
    expect(notFailed.json.error_description).toMatch(/only a failed message/i);

    failing = true;
    try {
      await lk.mailDispatcher!.drain();
    } finally {
      failing = false;
    }
    // Failed for good: the body stays sealed, so an operator can retry once the transport works.
    const failed = await outboxRow(pending!.id);
    expect(failed).toMatchObject({ status: 'failed', payload: pending!.payload });
    expect((await admin(boss.token, `/mail/${pending!.id}/retry`, 'POST')).status).toBe(202);
    expect(await outboxRow(pending!.id)).toMatchObject({ status: 'pending', attempts: 0 });
    // A row whose body is gone (as cleanup leaves none, by hand here) is never made pending.
    await database.current.db.execute(
      sql`UPDATE outbox SET status = 'failed', payload = NULL WHERE id = ${pending!.id}::uuid`,
    );
    const erased = await admin(boss.token, `/mail/${pending!.id}/retry`, 'POST');
    expectError(erased, 409, 'mail_not_retryable');
    expect(erased.json.error_description).toMatch(/body was erased/);
    // Nothing changed: a row without a body must never be pending (it could never be sent).
    expect(await outboxRow(pending!.id)).toMatchObject({ status: 'failed', payload: null });
  });

  it('answers 404 not_found for an unknown id and a malformed one', async () => {
    for (const id of [
      crypto.randomUUID(),
      'not-a-uuid',
      '00000000-0000-0000-0000-00000000000g',
      'x'.repeat(5000),
    ]) {
      expectError(await admin(boss.token, `/mail/${id}/retry`, 'POST'), 404, 'not_found');
    }
  });
});
