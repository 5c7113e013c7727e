import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, CDPSession } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeBothSchemes } from '../support/axe.js';
import { hasChromium, type LocalServer, launchChromium, listenLocally } from '../support/browser.js';
import { buildLatchkey, type Latchkey, PASSWORD, uniqueEmail, useDatabase } from '../support/harness.js';

/**
 * Passkeys on the account pages end to end in headless Chromium (issue #20), with Chromium's
 * virtual authenticator (DevTools WebAuthn domain) as the person's device: register a passkey
 * on Security, sign out, sign in with it through the email field's autofill and then with the
 * button (no email typed), step up with it, rename it, remove it. The pages' own script
 * (PASSKEY_SCRIPT) runs the ceremonies under their CSP; axe-core checks the new page states.
 *
 * WebAuthn needs a secure context and a domain as RP ID: the server is reached as
 * http://localhost:<port> (a secure context; an IP address is no RP ID), and ISSUER says so,
 * so the RP ID (localhost) and the origin the passkeys are bound to are the page's.
 */

/** A temporary folder; `SCREENSHOT_DIR=docs/screenshots` refreshes the pictures of docs/account-pages.md. */
const SCREENSHOTS = resolve(process.env.SCREENSHOT_DIR ?? join(tmpdir(), 'latchkey-screenshots'));
const MINUTE = 60_000;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1100, height: 900 };

describe.skipIf(!hasChromium)('passkeys on the account pages in headless Chromium', () => {
  const database = useDatabase();
  let lk: Latchkey;
  let server: LocalServer;
  let base: string;
  let browser: Browser;
  const email = uniqueEmail('passkeys');

  beforeAll(async () => {
    // The server listens first, so that its address is the issuer (and so the RP ID and origin).
    ({ server, base } = await listenLocally((request) => lk.app.fetch(request), 'localhost'));
    lk = await buildLatchkey(database.current, {
      env: { ISSUER: base, BRAND_NAME: 'Acme', BRAND_ACCENT_COLOR: '#6d28d9' },
    });
    const registered = await lk.app.request('/v1/auth/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD, name: 'Ada' }),
    });
    expect(registered.status).toBe(201);
    await mkdir(SCREENSHOTS, { recursive: true });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('registers a passkey, signs in with it (autofill, then the button), steps up, renames and removes it', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    // A CSP violation or a script error is a failure: the ceremonies run under the pages' policy.
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
        problems.push(`console on ${new URL(page.url()).pathname}: ${message.text()}`);
    });
    const posts: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST') posts.push(new URL(request.url()).pathname);
    });
    // The conditional (autofill) requests of every page, as they start and end: told to this
    // process through a DevTools binding (neither it nor the init script is under the page's CSP).
    const conditional: string[] = [];
    await page.exposeFunction('reportConditional', (event: string) => conditional.push(event));
    await page.addInitScript(() => {
      const report = (window as unknown as { reportConditional: (event: string) => void }).reportConditional;
      const get = navigator.credentials.get.bind(navigator.credentials);
      navigator.credentials.get = (options?: CredentialRequestOptions) => {
        const pending = get(options);
        if (options?.mediation === 'conditional') {
          report('pending');
          pending.then(
            () => report('resolved'),
            (error: Error) => report(error.name),
          );
        }
        return pending;
      };
    });
    const conditionalLog = () => [...conditional];

    // The person's device: a platform authenticator that keeps passkeys and verifies the user.
    const cdp: CDPSession = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    /** Off: the authenticator waits for a touch that never comes, as a person who has not picked yet. */
    const presence = (enabled: boolean) =>
      cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled });
    const credentials = async () =>
      (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;

    const findings: string[] = [];
    const audit = async (name: string) => {
      for (const [width, viewport] of [
        ['390px', PHONE],
        ['desktop', DESKTOP],
      ] as const) {
        await page.setViewportSize(viewport);
        if (viewport === PHONE) {
          const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
          if (wide) findings.push(`${name} at 390px: wider than the window`);
        }
        findings.push(...(await axeBothSchemes(page, `${name} at ${width}`)));
      }
      await page.setViewportSize(DESKTOP);
    };
    const signOut = async () => {
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL(`${base}/account/sign-in?notice=signed_out`);
    };

    // 1. A password sign-in, then Security: the sign-in is fresh, so "Add a passkey" is there
    //    (the script shows it: the browser has WebAuthn).
    await page.goto(`${base}/account/sign-in`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Your devices' }).waitFor();
    await page.getByRole('link', { name: 'Security' }).click();
    const add = page.getByRole('button', { name: 'Add a passkey' });
    await add.waitFor();
    await page.getByLabel('Name it (optional)').fill('Work laptop');
    await add.click();
    await page.waitForURL(`${base}/account/security?notice=passkey_added`);
    await page.getByText('Passkey added.').waitFor();
    const listed = page.getByRole('list', { name: 'Your passkeys' });
    expect(await listed.getByRole('heading', { level: 3 }).allTextContents()).toEqual([
      'Work laptopDevice-bound',
    ]);
    expect(await listed.textContent()).toContain('not used yet');
    expect(await credentials()).toHaveLength(1);
    expect((await credentials())[0]!.isResidentCredential).toBe(true); // discoverable
    await page.screenshot({ path: join(SCREENSHOTS, 'security-passkeys.png'), fullPage: true });
    await audit('security, a passkey listed');

    // 2. Signed out, the sign-in page arms the autofill request (the email field's passkeys)
    //    at once. Presence off: the request waits, as for a person who has not picked yet.
    await presence(false);
    conditional.length = 0;
    await signOut();
    await expect.poll(conditionalLog).toEqual(['pending']);
    expect(await page.getByLabel('Email').getAttribute('autocomplete')).toBe('username webauthn');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).waitFor();
    await audit('sign-in, the passkey button');

    // 3. Through the autofill. Headless Chromium draws no autofill menu to pick from: its
    //    virtual authenticator answers a conditional request by itself when presence is
    //    simulated, which stands for the person's pick in the email field's menu (a request
    //    already pending is not answered when presence is turned on, so the page is loaded
    //    again). The script posts the form: no button pressed, no email typed.
    await presence(true);
    posts.length = 0;
    conditional.length = 0;
    await page.reload();
    await page.waitForURL(`${base}/account/sessions`);
    expect(conditionalLog()).toEqual(['pending', 'resolved']);
    expect(posts).toEqual(['/account/sign-in/passkey/options', '/account/sign-in/passkey']);
    await page.getByRole('heading', { name: 'Your devices' }).waitFor();

    // 4. With the button, "Remember this device" ticked on the password form (the passkey
    //    form takes it over): the button replaces the pending autofill request, whose
    //    AbortError shows nothing, and asks for the passkey in the browser's dialog.
    await presence(false);
    conditional.length = 0;
    await signOut();
    await expect.poll(conditionalLog).toEqual(['pending']);
    await presence(true); // for the button's request; the pending one stays pending
    await page.getByLabel(/^Remember this device/).check();
    posts.length = 0;
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(`${base}/account/sessions`);
    expect(conditionalLog()).toEqual(['pending', 'AbortError']);
    expect(posts).toEqual(['/account/sign-in/passkey/options', '/account/sign-in/passkey']);
    const refresh = (await context.cookies()).find((cookie) => cookie.name === '__Host-latchkey_account_rt');
    expect(refresh!.expires).toBeGreaterThan(Date.now() / 1000 + 29 * 24 * 3600); // remembered
    const devices = await page.locator('article[data-session]').textContent();
    expect(devices).toContain('Remembered');

    // 5. Step-up: ten minutes on, adding or removing a passkey needs a fresh sign-in; the
    //    passkey gives it (RFC 9470 step-up, aal2).
    lk.clock.advance(10 * MINUTE);
    await page.getByRole('link', { name: 'Security' }).click();
    await page.getByRole('heading', { name: 'Add or remove a passkey' }).waitFor();
    expect(await page.getByRole('button', { name: 'Remove this passkey' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Confirm with a passkey' }).click();
    await page.waitForURL(`${base}/account/security?notice=confirmed`);
    await page.getByText('Confirmed. For the next 5 minutes you can add and remove passkeys.').waitFor();
    expect(await listed.textContent()).toMatch(/last used just now/);

    // 6. Rename it.
    await listed.getByText('Rename').click();
    await listed.getByLabel('New name').fill('Old laptop');
    await listed.getByRole('button', { name: 'Save name' }).click();
    await page.waitForURL(`${base}/account/security?notice=passkey_renamed`);
    expect(await listed.getByRole('heading', { level: 3 }).allTextContents()).toEqual([
      'Old laptopDevice-bound',
    ]);

    // 7. Remove it; the device still holds its copy until the person deletes it there.
    await page.getByRole('button', { name: 'Remove this passkey' }).click();
    await page.waitForURL(`${base}/account/security?notice=passkey_removed`);
    await page.getByText('You have no passkeys yet.').waitFor();
    await page.getByRole('link', { name: 'Activity' }).click();
    const activity = await page.locator('.events').textContent();
    for (const line of [
      'Passkey added',
      'Signed in with a passkey',
      'Identity confirmed again with a passkey',
      'Passkey removed',
    ])
      expect(activity).toContain(line);
    await audit('activity, passkey events');
    await cdp.send('WebAuthn.clearCredentials', { authenticatorId });

    // 8. Signed out: nothing to offer, the autofill request ends quietly, no error shown.
    conditional.length = 0;
    await signOut();
    await expect.poll(conditionalLog).toEqual(['pending', 'NotAllowedError']);
    expect(await page.locator('form[data-passkey="autofill"] [data-passkey-error]').textContent()).toBe('');

    expect(findings).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  }, 300_000);
});
