import { and, eq, sql } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { emailTokens, outbox, users } from '../../src/adapters/db/schema.js';
import { unsealMailMessage } from '../../src/services/mail-sealing.js';
import { call, login, refresh, registerUser } from '../support/client.js';
import {
  buildLatchkey,
  type Latchkey,
  PASSWORD,
  TestClock,
  uniqueEmail,
  useDatabase,
} from '../support/harness.js';
import { KEYS } from './password-reset-harness.js';

/**
 * The address of an account (issue #17, flows 2 and 3): the verification link of registration,
 * asking for it again, REQUIRE_EMAIL_VERIFICATION, the `email_verified` claim, and the email
 * change confirmed from the new address and reverted from the old one. Every unusable link
 * answers 400 `invalid_email_token` and changes nothing.
 */

const database = useDatabase();
const DAY = 86_400_000;
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current, { env: { PASSWORD_RESETS_PER_IP: '100000' } });
});

/** The token in the link of the user's newest mail of `kind` (as the recipient reads it). */
async function tokenOf(userId: string, kind: string): Promise<string> {
  const rows = await database.current.db
    .select()
    .from(outbox)
    .where(and(eq(outbox.userId, userId), eq(outbox.kind, kind)))
    .orderBy(outbox.createdAt, outbox.id);
  const row = rows.at(-1);
  if (!row) throw new Error(`no ${kind} mail for ${userId}`);
  const mail = await unsealMailMessage(await KEYS, row.id, row.payload!);
  return new URL(mail.text.match(/http:\/\/localhost:3000\/account\/\S+/)![0]).searchParams.get('token')!;
}

async function mailsOf(userId: string, kind: string) {
  const rows = await database.current.db
    .select({ id: outbox.id, payload: outbox.payload })
    .from(outbox)
    .where(and(eq(outbox.userId, userId), eq(outbox.kind, kind)));
  const keys = await KEYS;
  return Promise.all(rows.map((row) => unsealMailMessage(keys, row.id, row.payload!)));
}

const userRow = async (id: string) =>
  (await database.current.db.select().from(users).where(eq(users.id, id)))[0]!;

async function eventTypes(userId: string): Promise<string[]> {
  const result = await database.current.db.execute(
    sql`SELECT type FROM security_events WHERE user_id = ${userId} ORDER BY created_at, type`,
  );
  return rowsOf<{ type: string }>(result).map((row) => row.type);
}

const verify = (token: unknown, app = lk.app) => call(app, '/v1/auth/email/verify', { body: { token } });
const resend = (email: string, app = lk.app) =>
  call(app, '/v1/auth/email/verify/resend', { body: { email } });

describe('email verification', () => {
  it('registration writes the verification link and its mail with the account; the address starts unverified', async () => {
    const user = await registerUser(lk.app);
    const tokens = await database.current.db
      .select()
      .from(emailTokens)
      .where(eq(emailTokens.userId, user.id));
    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatchObject({ purpose: 'verify_email', email: user.email, consumedAt: null });
    expect(tokens[0]!.expiresAt.getTime() - tokens[0]!.createdAt.getTime()).toBe(2 * DAY);
    const [mail] = await mailsOf(user.id, 'verify_email');
    expect(mail!.to).toBe(user.email);
    expect(await tokenOf(user.id, 'verify_email')).toMatch(/^lkv_[A-Za-z0-9_-]{43}$/);

    const pair = await login(lk.app, user.email);
    expect(decodeJwt(pair.access_token).email_verified).toBe(false);
    const me = await call(lk.app, '/v1/users/me', { token: pair.access_token });
    expect(me.json.user.email_verified).toBe(false);
  });

  it('the link verifies the address once; every session shows it from its next access token', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    const token = await tokenOf(user.id, 'verify_email');
    const done = await verify(token);
    expect(done.status).toBe(200);
    expect(done.json).toEqual({ email: user.email, email_verified: true });
    expect((await userRow(user.id)).emailVerifiedAt).toEqual(lk.clock.now());
    expect(await eventTypes(user.id)).toContain('email_verified');

    const rotated = await refresh(lk.app, pair.refresh_token);
    expect(decodeJwt(rotated.json.access_token).email_verified).toBe(true);
    expect(decodeJwt((await login(lk.app, user.email)).access_token).email_verified).toBe(true);

    const again = await verify(token);
    expect(again.status).toBe(400);
    expect(again.json.error).toBe('invalid_email_token');
  });

  it('expired, forged, truncated, foreign and absurd tokens: one 400 code, nothing changed', async () => {
    const clock = new TestClock();
    const app = (await buildLatchkey(database.current, { clock })).app;
    const user = await registerUser(app);
    const token = await tokenOf(user.id, 'verify_email');
    const resetToken = `lkp_${token.slice(4)}`;
    for (const bad of [
      '',
      token.slice(0, -1),
      `${token}A`,
      `lkv_${'A'.repeat(43)}`,
      resetToken,
      `lkc_${token.slice(4)}`,
      token.toUpperCase(),
      `${token}\n`,
    ]) {
      const res = await verify(bad, app);
      expect(res.status, bad).toBe(400);
      expect(res.json.error, bad).toBe('invalid_email_token');
    }
    for (const body of [{}, { token: 42 }, { token: 'x'.repeat(5000) }]) {
      const res = await call(app, '/v1/auth/email/verify', { body });
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_request');
    }
    clock.advance(2 * DAY);
    expect((await verify(token, app)).json.error).toBe('invalid_email_token');
    expect((await userRow(user.id)).emailVerifiedAt).toBeNull();
  });

  it('resend: 202 for any address; a mail only for an unverified account, the newer link voiding the older', async () => {
    const user = await registerUser(lk.app);
    const first = await tokenOf(user.id, 'verify_email');
    const unknown = await resend(uniqueEmail('nobody'));
    const known = await resend(user.email.toUpperCase());
    expect(unknown.status).toBe(202);
    expect(known.json).toEqual(unknown.json);
    const mails = await mailsOf(user.id, 'verify_email');
    expect(mails).toHaveLength(2);
    // Both mails were written at the same (test) time: the new link is the one that is not the first.
    const links = mails.map(
      (mail) => new URL(mail.text.match(/http:\/\/\S+/)![0]).searchParams.get('token')!,
    );
    const second = links.find((link) => link !== first)!;
    expect(second).toMatch(/^lkv_/);
    expect((await verify(first)).json.error).toBe('invalid_email_token');
    expect((await verify(second)).status).toBe(200);
    // Verified: asking again sends nothing.
    expect((await resend(user.email)).status).toBe(202);
    expect(await mailsOf(user.id, 'verify_email')).toHaveLength(2);
  });

  it('resend is counted before the work: a flood sends at most PASSWORD_RESETS_PER_ADDRESS mails; past the network limit, 429', async () => {
    const app = (
      await buildLatchkey(database.current, {
        env: { PASSWORD_RESETS_PER_ADDRESS: '2', PASSWORD_RESETS_PER_IP: '25' },
        clientIp: '198.51.100.77',
      })
    ).app;
    const user = await registerUser(app);
    const answers = await Promise.all(Array.from({ length: 30 }, () => resend(user.email, app)));
    const statuses = answers.map((res) => res.status);
    expect(statuses.filter((status) => status === 202)).toHaveLength(25);
    expect(statuses.filter((status) => status === 429)).toHaveLength(5);
    // The registration's mail and at most two more.
    expect(await mailsOf(user.id, 'verify_email')).toHaveLength(3);
  });

  it('a link sent to an address the account no longer has proves nothing', async () => {
    const clock = new TestClock();
    const app = (await buildLatchkey(database.current, { clock })).app;
    const user = await registerUser(app);
    const verifyOld = await tokenOf(user.id, 'verify_email');
    const pair = await login(app, user.email);
    const moved = uniqueEmail('moved');
    await call(app, '/v1/users/me/email', {
      token: pair.access_token,
      body: { email: moved, password: PASSWORD },
    });
    expect(
      (
        await call(app, '/v1/auth/email/change/confirm', {
          body: { token: await tokenOf(user.id, 'confirm_email_change') },
        })
      ).status,
    ).toBe(200);
    expect((await verify(verifyOld, app)).json.error).toBe('invalid_email_token');
  });
});

describe('single-use links under parallel use (PostgreSQL in CI)', () => {
  it('one verification link used ten times at once: verified once, one event, nine invalid_email_token', async () => {
    const user = await registerUser(lk.app);
    const token = await tokenOf(user.id, 'verify_email');
    const answers = await Promise.all(Array.from({ length: 10 }, () => verify(token)));
    expect(answers.filter((res) => res.status === 200)).toHaveLength(1);
    expect(answers.filter((res) => res.json.error === 'invalid_email_token')).toHaveLength(9);
    expect((await eventTypes(user.id)).filter((type) => type === 'email_verified')).toHaveLength(1);
  });

  it('one "this wasn\'t me" link used ten times at once: reverted once, one event, nine invalid_email_token', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    await call(lk.app, '/v1/users/me/email', {
      token: pair.access_token,
      body: { email: uniqueEmail('parallel-revert'), password: PASSWORD },
    });
    const token = await tokenOf(user.id, 'email_change_notice');
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => call(lk.app, '/v1/auth/email/change/revert', { body: { token } })),
    );
    expect(answers.filter((res) => res.status === 200)).toHaveLength(1);
    expect(answers.filter((res) => res.json.error === 'invalid_email_token')).toHaveLength(9);
    expect((await eventTypes(user.id)).filter((type) => type === 'email_change_reverted')).toHaveLength(1);
  });

  it('ten address changes asked at once: at most PASSWORD_RESETS_PER_ADDRESS go out, the rest 429', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call(lk.app, '/v1/users/me/email', {
          token: pair.access_token,
          body: { email: uniqueEmail(`flood-${i}`), password: PASSWORD },
        }),
      ),
    );
    const accepted = answers.filter((res) => res.status === 202).length;
    expect(accepted).toBe(3);
    expect(answers.filter((res) => res.status === 429)).toHaveLength(7);
    expect(await mailsOf(user.id, 'confirm_email_change')).toHaveLength(accepted);
  });
});

describe('REQUIRE_EMAIL_VERIFICATION=true', () => {
  it('the right password of an unverified account: 403 email_not_verified; a wrong one: 401 as ever; verified: 200', async () => {
    const app = (await buildLatchkey(database.current, { env: { REQUIRE_EMAIL_VERIFICATION: 'true' } })).app;
    const user = await registerUser(app);
    const right = await call(app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
    expect(right.status).toBe(403);
    expect(right.json.error).toBe('email_not_verified');
    expect(right.json.access_token).toBeUndefined();
    const wrong = await call(app, '/v1/auth/login', {
      body: { email: user.email, password: 'not it at all' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toBe('invalid_credentials');
    expect((await verify(await tokenOf(user.id, 'verify_email'), app)).status).toBe(200);
    const after = await call(app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
    expect(after.status).toBe(200);
    expect(decodeJwt(after.json.access_token).email_verified).toBe(true);
  });
});

describe('email change', () => {
  async function signedIn(app = lk.app) {
    const user = await registerUser(app);
    const pair = await login(app, user.email);
    return { ...user, pair };
  }
  const change = (accessToken: string, body: Record<string, unknown>, app = lk.app) =>
    call(app, '/v1/users/me/email', { token: accessToken, body });
  const confirm = (token: string, app = lk.app) =>
    call(app, '/v1/auth/email/change/confirm', { body: { token } });
  const revert = (token: string, app = lk.app) =>
    call(app, '/v1/auth/email/change/revert', { body: { token } });

  it('asks the new address to confirm and tells the old one; nothing changes until the link is used', async () => {
    const user = await signedIn();
    const moved = uniqueEmail('moved');
    const asked = await change(user.pair.access_token, {
      email: ` ${moved.toUpperCase()} `,
      password: PASSWORD,
    });
    expect(asked.status).toBe(202);
    expect(asked.json).toEqual({ status: 'confirmation_sent', pending_email: moved });
    const [confirmMail] = await mailsOf(user.id, 'confirm_email_change');
    const [notice] = await mailsOf(user.id, 'email_change_notice');
    expect(confirmMail!.to).toBe(moved);
    expect(notice!.to).toBe(user.email);
    expect(notice!.text).toContain(moved);
    expect((await userRow(user.id)).email).toBe(user.email);
    expect((await login(lk.app, user.email)).access_token).toBeTruthy();

    const done = await confirm(await tokenOf(user.id, 'confirm_email_change'));
    expect(done.json).toEqual({ email: moved, email_verified: true });
    const row = await userRow(user.id);
    expect(row.email).toBe(moved);
    expect(row.emailVerifiedAt).not.toBeNull();
    expect(
      (await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } })).status,
    ).toBe(401);
    expect((await login(lk.app, moved)).access_token).toBeTruthy();
    // The old address hears that it happened; the old address is free again.
    expect((await mailsOf(user.id, 'email_changed'))[0]!.to).toBe(user.email);
    expect(await eventTypes(user.id)).toEqual(
      expect.arrayContaining(['email_change_requested', 'email_changed']),
    );
    expect((await confirm(await tokenOf(user.id, 'confirm_email_change'))).json.error).toBe(
      'invalid_email_token',
    );
  });

  it('needs a fresh authentication and the current password (counted), a different and free address', async () => {
    const clock = new TestClock();
    const app = (await buildLatchkey(database.current, { clock })).app;
    const user = await signedIn(app);
    const other = await registerUser(app);
    const wrong = await change(
      user.pair.access_token,
      { email: uniqueEmail(), password: 'wrong password!' },
      app,
    );
    expect(wrong.status).toBe(403);
    expect(wrong.json.error).toBe('wrong_password');
    const same = await change(user.pair.access_token, { email: user.email, password: PASSWORD }, app);
    expect(same.status).toBe(400);
    const taken = await change(user.pair.access_token, { email: other.email, password: PASSWORD }, app);
    expect(taken.status).toBe(409);
    expect(taken.json.error).toBe('email_taken');
    for (const body of [{ email: 'not an address', password: PASSWORD }, { email: uniqueEmail() }, {}]) {
      expect((await change(user.pair.access_token, body, app)).status).toBe(400);
    }
    clock.advance(301_000);
    const stale = await change(user.pair.access_token, { email: uniqueEmail(), password: PASSWORD }, app);
    expect(stale.status).toBe(401);
    expect(stale.json.error).toBe('insufficient_user_authentication');
    expect(await mailsOf(user.id, 'confirm_email_change')).toHaveLength(0);
  });

  it('a newer request voids the older link; a password change voids it too; the confirm link expires', async () => {
    const clock = new TestClock();
    const app = (await buildLatchkey(database.current, { clock })).app;
    const user = await signedIn(app);
    await change(user.pair.access_token, { email: uniqueEmail('a'), password: PASSWORD }, app);
    const older = await tokenOf(user.id, 'confirm_email_change');
    await change(user.pair.access_token, { email: uniqueEmail('b'), password: PASSWORD }, app);
    const newer = await tokenOf(user.id, 'confirm_email_change');
    expect((await confirm(older, app)).json.error).toBe('invalid_email_token');

    const changed = await call(app, '/v1/users/me/password', {
      token: user.pair.access_token,
      body: { current_password: PASSWORD, new_password: 'a different passphrase 77' },
    });
    expect(changed.status).toBe(204);
    expect((await confirm(newer, app)).json.error).toBe('invalid_email_token');
    expect((await userRow(user.id)).email).toBe(user.email);

    const fresh = await login(app, user.email, { password: 'a different passphrase 77' });
    await change(fresh.access_token, { email: uniqueEmail('c'), password: 'a different passphrase 77' }, app);
    const late = await tokenOf(user.id, 'confirm_email_change');
    clock.advance(DAY);
    expect((await confirm(late, app)).json.error).toBe('invalid_email_token');
  });

  it('"this wasn\'t me" after the change: the old address is back, every session signed out, even after a password change', async () => {
    const user = await signedIn();
    const laptop = await login(lk.app, user.email);
    const moved = uniqueEmail('thief');
    await change(user.pair.access_token, { email: moved, password: PASSWORD });
    const undo = await tokenOf(user.id, 'email_change_notice');
    expect(undo).toMatch(/^lkr_/);
    await confirm(await tokenOf(user.id, 'confirm_email_change'));
    // The one who moved the address changes the password too: the owner's link still works.
    const thief = await login(lk.app, moved);
    expect(
      (
        await call(lk.app, '/v1/users/me/password', {
          token: thief.access_token,
          body: { current_password: PASSWORD, new_password: 'the thief passphrase 99' },
        })
      ).status,
    ).toBe(204);

    const reverted = await revert(undo);
    expect(reverted.status).toBe(200);
    expect(reverted.json).toEqual({ email: user.email, email_verified: true, revoked_sessions: 1 });
    expect((await userRow(user.id)).email).toBe(user.email);
    for (const pair of [user.pair, laptop, thief])
      expect((await refresh(lk.app, pair.refresh_token)).status).toBe(401);
    expect(await eventTypes(user.id)).toContain('email_change_reverted');
    expect((await revert(undo)).json.error).toBe('invalid_email_token');
    // The owner takes the account back with a reset link to the restored address.
    expect((await call(lk.app, '/v1/auth/password/forgot', { body: { email: user.email } })).status).toBe(
      202,
    );
    expect(await tokenOf(user.id, 'password_reset')).toMatch(/^lkp_/);
  });

  it('"this wasn\'t me" before the confirmation cancels it: the confirm link no longer works', async () => {
    const user = await signedIn();
    await change(user.pair.access_token, { email: uniqueEmail('pending'), password: PASSWORD });
    const reverted = await revert(await tokenOf(user.id, 'email_change_notice'));
    expect(reverted.json).toMatchObject({ email: user.email, revoked_sessions: 1 });
    expect((await confirm(await tokenOf(user.id, 'confirm_email_change'))).json.error).toBe(
      'invalid_email_token',
    );
    expect((await userRow(user.id)).email).toBe(user.email);
  });

  it('uniqueness under races: two accounts confirming one address at once, one wins, the other is told and unchanged', async () => {
    const target = uniqueEmail('contested');
    const [a, b] = await Promise.all([signedIn(), signedIn()]);
    for (const user of [a, b]) {
      expect((await change(user.pair.access_token, { email: target, password: PASSWORD })).status).toBe(202);
    }
    const tokens = await Promise.all([a, b].map((user) => tokenOf(user.id, 'confirm_email_change')));
    const answers = await Promise.all(tokens.map((token) => confirm(token)));
    expect(answers.map((res) => res.status).sort()).toEqual([200, 409]);
    const loser = answers[0]!.status === 409 ? a : b;
    expect(answers.find((res) => res.status === 409)!.json.error).toBe('email_taken');
    expect((await userRow(loser.id)).email).toBe(loser.email);
  });

  it('one link used ten times at once: one change, nine invalid_email_token', async () => {
    const user = await signedIn();
    await change(user.pair.access_token, { email: uniqueEmail('once'), password: PASSWORD });
    const token = await tokenOf(user.id, 'confirm_email_change');
    const answers = await Promise.all(Array.from({ length: 10 }, () => confirm(token)));
    expect(answers.filter((res) => res.status === 200)).toHaveLength(1);
    expect(answers.filter((res) => res.json.error === 'invalid_email_token')).toHaveLength(9);
    expect((await eventTypes(user.id)).filter((type) => type === 'email_changed')).toHaveLength(1);
  });
});
