import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSite } from '../../examples/spa/site.js';
import { hasChromium, type LocalServer, launchChromium, listenLocally } from '../support/browser.js';
import { call, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import { freePort } from '../support/ports.js';

/**
 * examples/spa in headless Chromium: the page's script (bundled by esbuild, as `npm run build`
 * does) signs in with `@latchkey/client` through the site's /v1/* proxy to a real Latchkey.
 * The refresh token is a first-party HttpOnly cookie: a reload stays signed in, the script
 * never sees the cookie, and sign-out ends the session.
 */

const EXAMPLE = resolve('examples/spa');

describe.skipIf(!hasChromium)('examples/spa in headless Chromium', () => {
  const database = useDatabase();
  let lk: Latchkey;
  let latchkeyServer: LocalServer;
  let site: Server;
  let origin: string;
  let browser: Browser;
  let bundleDir: string;

  beforeAll(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    // The SPA's origin is allowed to use the refresh cookie (Latchkey checks Origin on cookie refresh and logout).
    lk = await buildLatchkey(database.current, {
      env: { ALLOWED_ORIGINS: origin, TRUSTED_IP_HEADER: 'x-forwarded-for' },
    });
    const latchkey = await listenLocally(lk.app.fetch);
    latchkeyServer = latchkey.server;
    const latchkeyUrl = latchkey.base;

    bundleDir = await mkdtemp(join(tmpdir(), 'latchkey-spa-'));
    await build({
      entryPoints: [join(EXAMPLE, 'page/main.ts')],
      bundle: true,
      format: 'esm',
      target: 'es2022',
      outfile: join(bundleDir, 'main.js'),
      logLevel: 'warning',
    });
    site = createSite({
      latchkeyUrl,
      pageDir: join(EXAMPLE, 'page'),
      bundlePath: join(bundleDir, 'main.js'),
    });
    site.listen(port, '127.0.0.1');
    await new Promise((done) => site.once('listening', done));
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((done) => site?.close(done));
    await new Promise((done) => latchkeyServer?.close(done));
    if (bundleDir) await rm(bundleDir, { recursive: true, force: true });
  });

  /** A page that fails the test on a script error or a CSP violation. */
  async function open(): Promise<{ page: Page; problems: string[]; close: () => Promise<void> }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      // A refused refresh (no cookie yet) or a wrong password is logged as a failed resource.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
        problems.push(message.text());
    });
    await page.goto(`${origin}/`);
    return { page, problems, close: () => context.close() };
  }

  async function signIn(page: Page, email: string, password = PASSWORD) {
    await page.locator('#status', { hasText: 'Not signed in.' }).waitFor();
    await page.fill('#login input[name=email]', email);
    await page.fill('#login input[name=password]', password);
    await page.click('#login button[type=submit]');
  }

  it('signs in, stays signed in across a reload with an HttpOnly first-party cookie, and signs out', async () => {
    const { email } = await registerUser(lk.app);
    const { page, problems, close } = await open();
    await signIn(page, email);
    await page.locator('#who', { hasText: email }).waitFor();
    expect(await page.locator('#sessions li').count()).toBe(1);
    expect(await page.textContent('#sessions li')).toContain('this device');

    const cookies = await page.context().cookies();
    const refreshCookie = cookies.find((cookie) => cookie.name === lk.config.refreshCookieName);
    expect(refreshCookie).toMatchObject({
      httpOnly: true,
      secure: true,
      sameSite: 'Strict',
      path: '/v1/auth',
    });
    expect(new URL(origin).hostname).toBe(refreshCookie?.domain);
    // The script can neither read it nor is the access token anywhere but in memory.
    expect(await page.evaluate(() => document.cookie)).not.toContain(lk.config.refreshCookieName);
    expect(await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }))).toBe('{}');

    await page.reload();
    await page.locator('#who', { hasText: email }).waitFor();

    await page.click('#logout');
    await page.locator('#status', { hasText: 'Signed out.' }).waitFor();
    await page.reload();
    await page.locator('#status', { hasText: 'Not signed in.' }).waitFor();
    expect(problems).toEqual([]);
    await close();
  });

  it('lists the other sessions and signs one out', async () => {
    const { email } = await registerUser(lk.app);
    const phone = await login(lk.app, email, { device_name: 'Phone' });
    const { page, problems, close } = await open();
    await signIn(page, email);
    await page.locator('#sessions li', { hasText: 'Phone' }).waitFor();
    expect(await page.locator('#sessions li').count()).toBe(2);

    await page.locator('#sessions li', { hasText: 'Phone' }).locator('button').click();
    await expect.poll(() => page.locator('#sessions li').count()).toBe(1);
    // The phone's session is over: its refresh token no longer works.
    const refused = await call(lk.app, '/v1/auth/refresh', { body: { refresh_token: phone.refresh_token } });
    expect(refused.status).toBe(401);
    expect(problems).toEqual([]);
    await close();
  });

  it('shows the error of a wrong password, and the proxy refuses an oversized body', async () => {
    const { email } = await registerUser(lk.app);
    const { page, problems, close } = await open();
    await signIn(page, email, 'not the password at all');
    await page.locator('#error', { hasText: /password/i }).waitFor();
    expect(await page.isVisible('#signed-in')).toBe(false);
    expect(problems).toEqual([]);
    await close();

    const tooBig = await fetch(`${origin}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'x'.repeat(70_000) }),
    });
    expect(tooBig.status).toBe(413);
    const page404 = await fetch(`${origin}/../../etc/passwd`);
    expect(page404.status).toBe(404);
  });
});
