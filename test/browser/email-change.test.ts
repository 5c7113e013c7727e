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

/**
 * Changing the address on the account pages, end to end in headless Chromium through a real
 * SMTP server (issue #17, flows 3 and 5): the Security page's form, the two mails the outbox's
 * dispatcher sent (the link to the new address, the notice with "This wasn't me" to the old),
 * the confirmation link clicked from a webmail on another site (a GET shows a button; the
 * token leaves the URL), the new address on Security; then "This wasn't me" from the old
 * address: the address back, every session dead, the way to a new password.
 */

const SCREENSHOTS = resolve(process.env.SCREENSHOT_DIR ?? join(tmpdir(), 'latchkey-screenshots'));
/** A webmail on another site: each link is opened as a cross-site navigation, as from a mail client. */
const WEBMAIL = 'https://webmail.example';

describe.skipIf(!hasChromium)('email change in headless Chromium, through a real SMTP server', () => {
  const database = useDatabase();
  let lk: Latchkey;
  let smtp: TestSmtpServer;
  let server: LocalServer;
  let base: string;
  let browser: Browser;
  const email = uniqueEmail('before');
  const moved = uniqueEmail('after');

  beforeAll(async () => {
    smtp = await startSmtpServer();
    // The server listens first, so that its address is the issuer the mails' links point at.
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

  /** axe-core's serious and critical findings on each page of the flow (WCAG 2.2 AA, issue #20). */
  const a11y: string[] = [];
  const audit = async (page: Page, label: string) => a11y.push(...(await axeBothSchemes(page, label)));
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

  /** Clicks `link` in a webmail page on another site, as a person reading the mail would. */
  async function clickInWebmail(context: BrowserContext, page: Page, link: string, label: string) {
    await context.route(`${WEBMAIL}/**`, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<!DOCTYPE html><title>Inbox</title><a href="${link}">${label}</a>`,
      }),
    );
    await page.goto(`${WEBMAIL}/inbox`);
    await page.getByRole('link', { name: label }).click();
  }

  it('Security → the new address → its mail → confirm; then "This wasn\'t me" from the old address', async () => {
    const registered = await call(lk.app, '/v1/auth/register', { body: { email, password: PASSWORD } });
    expect(registered.status).toBe(201);
    const api = await login(lk.app, email);

    // 1. Signed in on the pages: Security shows the address, not confirmed yet.
    const me = await device();
    const { page } = me;
    await page.goto(`${base}/account/sign-in`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Your devices' }).waitFor();
    await page.getByRole('link', { name: 'Security' }).click();
    const section = page.locator('section', { has: page.getByRole('heading', { name: 'Email address' }) });
    expect(await section.textContent()).toContain(email);
    await section.getByText('Not confirmed').waitFor();

    // 2. The change form: the new address and the current password.
    const form = page.locator('form[action="/account/security/email"]');
    await form.getByLabel('New email address').fill(moved);
    await form.getByLabel('Current password').fill(PASSWORD);
    await shot(page, 'security-email');
    await form.getByRole('button', { name: 'Change email address' }).click();
    await page.getByText(`We sent a link to ${moved}. The change happens when you use it`).waitFor();
    await audit(page, 'security, change asked for');

    // 3. The dispatcher sends both mails: the link to the new address, the notice to the old.
    const before = smtp.received.length;
    expect(await lk.mailDispatcher!.runOnce()).toMatchObject({ failed: 0 });
    const arrived = smtp.received.slice(before);
    // Both arrive in one run; each is read by its subject.
    const pick = (subject: RegExp) => {
      const mail = arrived.find((m) => subject.test(m.subject ?? ''))!;
      expect(mail, arrived.map((m) => m.subject).join(', ')).toBeDefined();
      const link = /http:\/\/127\.0\.0\.1:\d+\/account\/email\/\w+\?token=[\w-]+/.exec(mail.text ?? '')![0];
      expect(mail.html).toContain(`href="${link}"`);
      return { mail, link };
    };
    const confirm = pick(/^Confirm your new (.+ )?address$/);
    expect(confirm.mail.to && 'text' in confirm.mail.to ? confirm.mail.to.text : '').toContain(moved);
    const notice = pick(/address is being changed$/);
    expect(notice.mail.to && 'text' in notice.mail.to ? notice.mail.to.text : '').toContain(email);

    // 4. The confirmation link from a webmail: a page with a button, the token out of the URL.
    await clickInWebmail(me.context, page, confirm.link, 'Confirm the new address');
    await page.getByRole('heading', { name: 'Confirm your new address' }).waitFor();
    await audit(page, 'confirm the new address');
    expect(page.url()).toBe(`${base}/account/email/confirm`);
    const token = new URL(confirm.link).searchParams.get('token')!;
    expect(await page.content()).not.toContain(token);
    const cookie = (await me.context.cookies()).find((c) => c.name.endsWith('_account_change'));
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
    await page.getByRole('button', { name: 'Use this address' }).click();
    await page.getByRole('heading', { name: 'Address changed' }).waitFor();
    await audit(page, 'address changed');
    expect(await page.locator('main').textContent()).toContain(`Your address is now ${moved}`);
    expect((await me.context.cookies()).map((c) => c.name)).not.toContain(cookie!.name);

    // 5. Security shows the new address, confirmed (the link came from its mailbox).
    await page.getByRole('link', { name: 'Go to your account' }).click();
    await section.getByText('Confirmed', { exact: true }).waitFor();
    expect(await section.textContent()).toContain(moved);

    // 6. "This wasn't me" from the old address, in another browser: the address back, everyone out.
    const owner = await device();
    await clickInWebmail(owner.context, owner.page, notice.link, "This wasn't me");
    await owner.page.getByRole('heading', { name: 'Undo the change of your address' }).waitFor();
    await audit(owner.page, 'undo the change');
    expect(owner.page.url()).toBe(`${base}/account/email/revert`);
    await shot(owner.page, 'email-revert');
    await owner.page.getByRole('button', { name: 'Undo the change and sign out everywhere' }).click();
    await owner.page.getByRole('heading', { name: 'Done' }).waitFor();
    await audit(owner.page, 'change undone');
    expect(await owner.page.locator('main').textContent()).toContain(
      `Your address is ${email} again, and every device was signed out`,
    );
    await owner.page.getByRole('link', { name: 'Choose a new password' }).click();
    await owner.page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();

    // Every session is dead: the browser that made the change and the API client.
    await page.reload();
    await expect.poll(() => new URL(page.url()).pathname).toBe('/account/sign-in');
    expect((await refresh(lk.app, api.refresh_token)).status).toBe(401);
    expect((await call(lk.app, '/v1/users/me', { token: api.access_token })).status).toBe(401);

    expect(me.problems).toEqual([]);
    expect(owner.problems).toEqual([]);
    expect(a11y).toEqual([]);
    await me.context.close();
    await owner.context.close();
  }, 120_000);
});
