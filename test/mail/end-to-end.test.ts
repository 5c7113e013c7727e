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
    const phone = await login(lk.app, email, { device_name: 'phone' });
    const laptop = await login(lk.app, email, { device_name: 'laptop' });

    const asked = await call(lk.app, '/v1/auth/password/forgot', { body: { email } });
    expect(asked.status).toBe(202);
    expect(smtp.received).toHaveLength(0); // written to the outbox, not sent in the request
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
