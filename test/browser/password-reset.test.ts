import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSmtpMailer } from '../../src/adapters/mail/smtp.js';
import { startSmtpServer, type TestSmtpServer } from '../mail/smtp-server.js';
import { axeBothSchemes } from '../support/axe.js';
import { hasChromium, type LocalServer, launchChromium, listenLocally } from '../support/browser.js';
import { call, login, refresh } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, uniqueEmail, useDatabase } from '../support/harness.js';
import { totpCode } from '../support/totp.js';

/**
 * Forgot password on the account pages, end to end in Debian's headless Chromium (issue #17,
 * "Done means"): the link on the sign-in page, the form, the mail as a real SMTP server
 * received it (smtp-server, read with mailparser) after the outbox's dispatcher sent it, its
 * link clicked from another site as in a webmail, the new password, the code step of an
 * account with TOTP (a wrong code first), then sign-in: the new password works, the old one
 * does not, and the sessions from before are dead. Time is the injected clock's, never a sleep.
 */

/** A temporary folder; `SCREENSHOT_DIR=docs/screenshots` refreshes the pictures of docs/account-pages.md. */
const SCREENSHOTS = resolve(process.env.SCREENSHOT_DIR ?? join(tmpdir(), 'latchkey-screenshots'));
const STEP = 30_000;
const NEW_PASSWORD = 'seven herons fold paper under violet rain';
/** A webmail on another site: the link is opened as a cross-site navigation, as from a mail client. */
const WEBMAIL = 'https://webmail.example';

describe.skipIf(!hasChromium)('forgot password in headless Chromium, through a real SMTP server', () => {
  const database = useDatabase();
  let lk: Latchkey;
  let smtp: TestSmtpServer;
  let server: LocalServer;
  let base: string;
  let browser: Browser;
  const email = uniqueEmail('reset');

  beforeAll(async () => {
    smtp = await startSmtpServer();
    // The server listens first, so that its address can be the issuer: the mail's link then
    // points at it through the default template (config/mail.ts, links.passwordReset).
    ({ server, base } = await listenLocally((request) => lk.app.fetch(request)));
    lk = await buildLatchkey(database.current, {
      // The product's own name and colour, as in the README's screenshots (test/browser/account.test.ts).
      env: { ISSUER: base, BRAND_NAME: 'Acme', BRAND_ACCENT_COLOR: '#6d28d9' },
      mailer: createSmtpMailer(smtp.url, { timeoutMs: 5000 }),
    });
    await mkdir(SCREENSHOTS, { recursive: true });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await smtp?.close();
  });

  /** A browser of its own; a CSP violation or a script error is a failure. */
  async function device(): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
        problems.push(`console on ${new URL(page.url()).pathname}: ${message.text()}`);
    });
    return { context, page, problems };
  }

  const codeNow = (secret: string) => totpCode(secret, Math.floor(lk.clock.now().getTime() / 1000));
  /** axe-core's serious and critical findings on each page of the flow (WCAG 2.2 AA, issue #20). */
  const a11y: string[] = [];
  const audit = async (page: Page, label: string) => a11y.push(...(await axeBothSchemes(page, label)));
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

  async function signInWithCode(page: Page, password: string, secret: string) {
    await page.goto(`${base}/account/sign-in`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    lk.clock.advance(STEP); // each code once (RFC 6238 §5.2)
    await page.getByLabel('Code from your authenticator app').fill(codeNow(secret));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Your devices' }).waitFor();
  }

  it('forgot → the mail → its link → new password with a code → signed in; old password and sessions dead', async () => {
    // An account with TOTP, through the API; signed in on an old laptop and an API client.
    const registered = await call(lk.app, '/v1/auth/register', { body: { email, password: PASSWORD } });
    expect(registered.status).toBe(201);
    const pair = await login(lk.app, email);
    const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', {
      method: 'POST',
      token: pair.access_token,
    });
    const secret: string = enrolled.json.secret;
    const activated = await call(lk.app, '/v1/mfa/totp/activate', {
      body: { code: codeNow(secret) },
      token: pair.access_token,
    });
    expect(activated.status).toBe(200);
    const old = await device();
    await signInWithCode(old.page, PASSWORD, secret);
    expect((await call(lk.app, '/v1/users/me', { token: pair.access_token })).status).toBe(200);

    // 1. "Forgot password?" on the sign-in page, then the address.
    const me = await device();
    const { page } = me;
    await page.goto(`${base}/account/sign-in`);
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
    await audit(page, 'forgot password');
    await page.getByLabel('Email').fill(email);
    await shot(page, 'forgot-password');
    await page.getByRole('button', { name: 'Send the link' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    expect(await page.locator('main').textContent()).toContain(`If there is an account for ${email}`);
    await audit(page, 'check your email');

    // 2. The outbox's dispatcher sends it (with the notices of the sign-ins and MFA before it);
    // the SMTP server receives it.
    const before = smtp.received.length;
    expect(await lk.mailDispatcher!.runOnce()).toMatchObject({ failed: 0 });
    const resets = smtp.received
      .slice(before)
      .filter((m) => /^Reset your (.+ )?password$/.test(m.subject ?? ''));
    expect(resets).toHaveLength(1);
    const mail = resets[0]!;
    expect(mail.to && 'text' in mail.to ? mail.to.text : '').toContain(email);
    const link = new RegExp(`${base.replace(/[.]/g, '\\.')}/account/password/reset\\?token=[\\w-]+`).exec(
      mail.text ?? '',
    )?.[0];
    expect(link, mail.text).toBeDefined();
    expect(mail.html).toContain(`href="${link}"`);

    // 3. Clicked in a webmail on another site: the token leaves the address bar at once.
    await me.context.route(`${WEBMAIL}/**`, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<!DOCTYPE html><title>Inbox</title><a href="${link}">Reset your password</a>`,
      }),
    );
    await page.goto(`${WEBMAIL}/inbox`);
    await page.getByRole('link', { name: 'Reset your password' }).click();
    await page.getByRole('heading', { name: 'Set a new password' }).waitFor();
    expect(page.url()).toBe(`${base}/account/password/reset`);
    expect(await page.content()).not.toContain(new URL(link!).searchParams.get('token')!);
    const resetCookie = (await me.context.cookies()).find((cookie) => cookie.name.endsWith('_account_reset'));
    expect(resetCookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });

    // 4. The new password; the account has TOTP, so the code step, with a wrong code first.
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByText('Your account has two-step verification. Enter the new password again').waitFor();
    expect(await page.getByLabel('New password').inputValue()).toBe('');
    await audit(page, 'new password with a code');
    await shot(page, 'reset-password-mfa');
    lk.clock.advance(STEP);
    const valid = new Set(
      [-1, 0, 1].map((steps) => totpCode(secret, Math.floor(lk.clock.now().getTime() / 1000) + steps * 30)),
    );
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await page
      .getByLabel('Code from your authenticator app')
      .fill(['000000', '111111', '222222'].find((c) => !valid.has(c))!);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByText('The code is not valid').waitFor();
    await audit(page, 'new password, wrong code');
    expect(await page.getByLabel('Code from your authenticator app').getAttribute('aria-invalid')).toBe(
      'true',
    );
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await page.getByLabel('Code from your authenticator app').fill(codeNow(secret));
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByRole('heading', { name: 'Password changed' }).waitFor();
    await audit(page, 'password changed');
    expect((await me.context.cookies()).map((cookie) => cookie.name)).not.toContain(resetCookie!.name);

    // 5. Sign in: the old password is refused, the new one (and a code) works.
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText('The email or password is incorrect.').waitFor();
    await signInWithCode(page, NEW_PASSWORD, secret);

    // 6. The sessions from before the reset are dead: the old laptop and the API client.
    await old.page.reload();
    await expect.poll(() => new URL(old.page.url()).pathname).toBe('/account/sign-in');
    expect((await refresh(lk.app, pair.refresh_token)).status).toBe(401);
    expect((await call(lk.app, '/v1/users/me', { token: pair.access_token })).status).toBe(401);

    // 7. The "password changed" notice follows through the same outbox, without the token.
    const sentBefore = smtp.received.length;
    expect((await lk.mailDispatcher!.runOnce()).sent).toBeGreaterThanOrEqual(1);
    const notice = smtp.received.slice(sentBefore).find((m) => /password was changed/i.test(m.subject ?? ''));
    expect(notice).toBeDefined();
    expect(notice!.text).not.toContain(new URL(link!).searchParams.get('token')!);

    expect(me.problems).toEqual([]);
    expect(old.problems).toEqual([]);
    expect(a11y).toEqual([]);
    await me.context.close();
    await old.context.close();
  }, 120_000);
});
