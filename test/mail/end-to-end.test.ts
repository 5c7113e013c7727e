import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSmtpMailer } from '../../src/adapters/mail/smtp.js';
import { call, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import { startSmtpServer, type TestSmtpServer } from './smtp-server.js';

/**
 * Issue #17, end to end over a real SMTP server (smtp-server on a free port, mailparser reading
 * what arrived): forgot → the outbox → the dispatcher → the mail → its link → reset → every
 * old session dead → sign in with the new password; then the "password changed" notice.
 */
const database = useDatabase();
let smtp: TestSmtpServer;
let lk: Latchkey;
beforeAll(async () => {
  smtp = await startSmtpServer();
  lk = await buildLatchkey(database.current, { mailer: createSmtpMailer(smtp.url, { timeoutMs: 5000 }) });
});
afterAll(async () => {
  await smtp?.close();
});

const NEW_PASSWORD = 'a brand new passphrase 2031';

describe('password reset through a real SMTP server', () => {
  it('the link in the mail resets the password and ends every old session', async () => {
    const { email } = await registerUser(lk.app);
    await lk.mailDispatcher!.drain(); // the verification mail of registration (its own test below)
    const received = smtp.received.length;
    const phone = await login(lk.app, email, { device_name: 'phone' });
    const laptop = await login(lk.app, email, { device_name: 'laptop' });

    const asked = await call(lk.app, '/v1/auth/password/forgot', { body: { email } });
    expect(asked.status).toBe(202);
    expect(smtp.received).toHaveLength(received); // written to the outbox, not sent in the request
    expect(await lk.mailDispatcher!.runOnce()).toMatchObject({ sent: 1, retried: 0, failed: 0 });

    const mail = smtp.received.at(-1)!;
    expect(mail.to && 'text' in mail.to ? mail.to.text : '').toContain(email);
    expect(mail.subject).toMatch(/password/i);
    const link = /https?:\/\/\S+[?&]token=([\w~.%-]+)/.exec(mail.text ?? '');
    expect(link, mail.text).not.toBeNull();
    const token = decodeURIComponent(link![1]!);
    expect(mail.html).toContain(link![0].replace(/&/g, '&amp;'));
    expect(mail.messageId).toMatch(/^<[\w-]+@/);

    const done = await call(lk.app, '/v1/auth/password/reset', { body: { token, password: NEW_PASSWORD } });
    expect(done.status).toBe(204);
    // Every session that existed is dead, on every device.
    for (const pair of [phone, laptop]) {
      expect((await refresh(lk.app, pair.refresh_token)).status).toBe(401);
      expect((await call(lk.app, '/v1/users/me', { token: pair.access_token })).status).toBe(401);
    }
    // The link is single use; the old password is gone; the new one works.
    expect(
      (await call(lk.app, '/v1/auth/password/reset', { body: { token, password: NEW_PASSWORD } })).status,
    ).toBe(400);
    expect((await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } })).status).toBe(401);
    expect((await call(lk.app, '/v1/auth/login', { body: { email, password: NEW_PASSWORD } })).status).toBe(
      200,
    );

    // The notice that the password changed follows through the same outbox.
    expect((await lk.mailDispatcher!.runOnce()).sent).toBeGreaterThanOrEqual(1);
    const notice = smtp.received.at(-1)!;
    expect(notice.subject).toMatch(/password was changed/i);
    expect(notice.text).not.toContain(token);
  });
});

/** The link of the newest mail to `email`: the token, read the way the recipient would. */
function linkToken(to: string, subject: RegExp): { token: string; mail: (typeof smtp.received)[number] } {
  const mail = smtp.received
    .filter((m) => m.to && 'text' in m.to && m.to.text.includes(to) && subject.test(m.subject ?? ''))
    .at(-1)!;
  expect(mail, `a mail to ${to} about ${subject}`).toBeDefined();
  const link = /https?:\/\/\S+[?&]token=([\w~.%-]+)/.exec(mail.text ?? '');
  expect(link, mail.text).not.toBeNull();
  return { token: decodeURIComponent(link![1]!), mail };
}

describe('the address through a real SMTP server', () => {
  it('register → verification mail → link: the address is verified, in /me and in the next access token', async () => {
    const email = `verify-${crypto.randomUUID()}@example.com`;
    const registered = await call(lk.app, '/v1/auth/register', { body: { email, password: PASSWORD } });
    expect(registered.status).toBe(201);
    const before = await login(lk.app, email);
    expect(decodeJwt(before.access_token).email_verified).toBe(false);
    await lk.mailDispatcher!.drain();

    const { token } = linkToken(email, /confirm your/i);
    expect(token).toMatch(/^lkv_/);
    const verified = await call(lk.app, '/v1/auth/email/verify', { body: { token } });
    expect(verified.status).toBe(200);
    expect(verified.json).toEqual({ email, email_verified: true });
    const me = await call(lk.app, '/v1/users/me', { token: before.access_token });
    expect(me.json.user.email_verified).toBe(true);
    // The session opened before the verification carries the claim from its next refresh on.
    const rotated = await refresh(lk.app, before.refresh_token);
    expect(decodeJwt(rotated.json.access_token).email_verified).toBe(true);
    expect((await call(lk.app, '/v1/auth/email/verify', { body: { token } })).status).toBe(400);
  });

  it('email change: the new address confirms, the old one hears of it and can revert', async () => {
    const { email, id } = await registerUser(lk.app);
    const session = await login(lk.app, email);
    const newEmail = `moved-${crypto.randomUUID()}@example.com`;
    const asked = await call(lk.app, '/v1/users/me/email', {
      token: session.access_token,
      body: { email: newEmail, password: PASSWORD },
    });
    expect(asked.status, JSON.stringify(asked.json)).toBe(202);
    await lk.mailDispatcher!.drain();
    const confirm = linkToken(newEmail, /confirm your new/i);
    const notice = linkToken(email, /is being changed/i);
    expect(notice.mail.text).toContain(newEmail);

    const confirmed = await call(lk.app, '/v1/auth/email/change/confirm', { body: { token: confirm.token } });
    expect(confirmed.json).toEqual({ email: newEmail, email_verified: true });
    expect(
      (await call(lk.app, '/v1/auth/login', { body: { email: newEmail, password: PASSWORD } })).status,
    ).toBe(200);
    await lk.mailDispatcher!.drain();
    expect(smtp.received.at(-1)!.subject).toMatch(/address was changed/i);

    const reverted = await call(lk.app, '/v1/auth/email/change/revert', { body: { token: notice.token } });
    expect(reverted.status).toBe(200);
    expect(reverted.json).toMatchObject({ email, email_verified: true });
    expect(reverted.json.revoked_sessions).toBeGreaterThanOrEqual(2);
    expect((await refresh(lk.app, session.refresh_token)).status).toBe(401);
    expect((await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } })).status).toBe(200);
    expect(id).toBeTruthy();
  });
});
