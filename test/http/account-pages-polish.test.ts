import { beforeAll, describe, expect, it } from 'vitest';
import { describeDevice, describeEvent } from '../../src/http/pages/views/format.js';
import { ACCOUNT_STYLE } from '../../src/http/pages/views/style.js';
import { call, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import { totpCode } from '../support/totp.js';
import { Browser, CSRF, type Page } from './account-pages-browser.js';

/**
 * Issue #20, "Polish found by a new user": what a first look at the account pages showed, each
 * fixed and pinned here over the HTML (the layout at 390 px is measured in Chromium, in
 * test/browser/account.test.ts).
 */

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

const STEP = 30_000;
const MINUTE = 60_000;
const WINDOWS_CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const IPHONE_SAFARI =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';

const nowSeconds = (instance = lk) => Math.floor(instance.clock.now().getTime() / 1000);

async function signIn(browser: Browser, email: string, fields: Record<string, string> = {}): Promise<Page> {
  if (!browser.cookie(CSRF)) expect((await browser.get('/account/sign-in')).status).toBe(200);
  return browser.post('/account/sign-in', { email, password: PASSWORD, ...fields });
}

/** A user who turned MFA on through the pages: the activation's code is the last one used. */
async function mfaThroughPages() {
  const user = await registerUser(lk.app);
  const browser = new Browser(lk);
  expect((await signIn(browser, user.email)).status).toBe(303);
  const setup = await browser.post('/account/security/totp/enroll');
  const secret = /<input type="hidden" name="secret" value="([A-Z2-7]+)"/.exec(setup.html)![1]!;
  const codes = await browser.post('/account/security/totp/activate', {
    secret,
    code: totpCode(secret, nowSeconds()),
  });
  expect(codes.status).toBe(200);
  return { user, browser, secret, codes };
}

/** The `<label>` texts of a page, in order. */
const labelsOf = (page: Page) =>
  [...page.html.matchAll(/<label for="[^"]+">([^<]*)<\/label>/g)].map((m) => m[1]);

describe('recovery codes', () => {
  it('one code per list item, never broken inside (nowrap), one column when two do not fit', async () => {
    const { codes } = await mfaThroughPages();
    const items = [
      ...(/<ul class="codes"[^>]*>([\s\S]*?)<\/ul>/.exec(codes.html)?.[1] ?? '').matchAll(
        /<li>([^<]*)<\/li>/g,
      ),
    ].map((m) => m[1]);
    expect(items).toHaveLength(10);
    for (const code of items) expect(code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(ACCOUNT_STYLE).toMatch(/\.codes li \{[^}]*white-space: nowrap/);
    // At most two columns, each at least 12rem wide: one column on a phone.
    expect(ACCOUNT_STYLE).toMatch(/\.codes \{[^}]*columns: 2 12rem/);
    // The download names the product (BRAND_NAME, "Account" by default), not Latchkey.
    const href = /download="recovery-codes\.txt" href="data:text\/plain;charset=utf-8,([^"]*)"/.exec(
      codes.html,
    )?.[1];
    expect(decodeURIComponent(href!)).toBe(`Account recovery codes\n\n${items.join('\n')}\n`);
    expect(codes.html).not.toMatch(/latchkey/i);
  });

  it('"Two-step verification is on" is a success notice', async () => {
    const { codes } = await mfaThroughPages();
    expect(codes.html).toMatch(/<p class="notice success"[^>]*>Two-step verification is on\.<\/p>/);
    expect(ACCOUNT_STYLE).toMatch(/\.notice\.success \{[^}]*var\(--ok\)/);
  });
});

describe('the security page', () => {
  it('with MFA on: one form per action, each code field with its own label, set apart from the next', async () => {
    const { browser } = await mfaThroughPages();
    lk.clock.advance(10 * MINUTE); // not fresh: the change of address asks for a code too
    const page = await browser.get('/account/security');
    const labels = labelsOf(page);
    expect(labels).toEqual(
      expect.arrayContaining([
        'Code to get new recovery codes',
        'Code to turn off two-step verification',
        'Code to change your email address',
        // Passkeys (issue #20): a stale session confirms before adding or removing one.
        'Code to add or remove passkeys',
      ]),
    );
    // No two code fields read alike (the old page had "Code from your authenticator app" twice).
    const codeLabels = labels.filter((label) => label?.startsWith('Code'));
    expect(codeLabels).toHaveLength(4);
    expect(new Set(codeLabels).size).toBe(4);
    // Each action its own form, marked as a step of the card (a rule and space above it).
    for (const action of ['/account/security/recovery-codes', '/account/security/totp/disable'])
      expect(page.html).toMatch(
        new RegExp(`<form method="post" action="${action}" class="step" novalidate(="")?>`),
      );
    expect(ACCOUNT_STYLE).toMatch(/form\.step \{[^}]*margin-top: 1\.5rem[^}]*border-top/);
    // The fields stay one-time-code inputs of six digits, and are told apart by screen readers.
    for (const id of ['regenerate-code', 'disable-code'])
      expect(page.html).toMatch(
        new RegExp(
          `<input id="${id}" name="code" type="text" autocomplete="one-time-code"[^>]*maxlength="7"`,
        ),
      );
  });

  it('"Change password": its heading is followed by the form with space between', async () => {
    const user = await registerUser(lk.app);
    const browser = new Browser(lk);
    await signIn(browser, user.email);
    const page = await browser.get('/account/security');
    expect(page.html).toMatch(/<h2 id="password-title">Change password<\/h2><form/);
    expect(ACCOUNT_STYLE).toMatch(/\.card h2 \+ form[^{]*\{ margin-top: 1rem; \}/);
  });
});

describe('activity: a new device', () => {
  it('the first sign-in of an account is no alarm; a new device on an account with history is', async () => {
    const user = await registerUser(lk.app);
    const laptop = new Browser(lk, WINDOWS_CHROME);
    expect((await signIn(laptop, user.email)).status).toBe(303);
    let page = await laptop.get('/account/activity');
    expect(page.text).toContain('Signed in just now · Chrome 131 on Windows 10');
    expect(page.text).not.toContain('new device');
    expect(page.html).not.toContain('class="alert"');

    // The same browser again: nothing new either.
    lk.clock.advance(MINUTE);
    expect((await signIn(new Browser(lk, WINDOWS_CHROME), user.email)).status).toBe(303);
    page = await laptop.get('/account/activity');
    expect(page.html).not.toContain('class="alert"');

    // Another device, with history to compare with: the alarm.
    lk.clock.advance(MINUTE);
    expect((await signIn(new Browser(lk, IPHONE_SAFARI), user.email)).status).toBe(303);
    page = await laptop.get('/account/activity');
    expect(page.html).toMatch(/<span class="alert">Signed in from a new device<\/span>/);
    expect(page.html.match(/class="alert"/g)).toHaveLength(1);
  });

  it('describeEvent follows the details', () => {
    expect(describeEvent('login_succeeded', { new_device: true, first_sign_in: true })).toEqual({
      text: 'Signed in',
      alert: false,
    });
    expect(describeEvent('login_succeeded', { new_device: true, first_sign_in: false })).toEqual({
      text: 'Signed in from a new device',
      alert: true,
    });
    // An event from before first_sign_in was recorded keeps its alarm.
    expect(describeEvent('login_succeeded', { new_device: true }).alert).toBe(true);
  });
});

describe('devices: one structure for every card', () => {
  /** The card of a session: its heading's text (badges out) and the line under it. */
  function cardOf(page: Page, sessionId: string) {
    const card = new RegExp(`<article[^>]*data-session="${sessionId}"[^>]*>([\\s\\S]*?)</article>`).exec(
      page.html,
    )?.[1];
    expect(card, sessionId).toBeTruthy();
    const heading = /<h2[^>]*>([\s\S]*?)<\/h2>/.exec(card!)![1]!;
    return {
      title: heading.replace(/<span class="badge[^"]*">[^<]*<\/span>/g, '').trim(),
      subtitle: /<p class="muted subtitle">([^<]*)<\/p>/.exec(card!)?.[1],
    };
  }

  it('title: the name given, else the device; under it: browser and system, for both', async () => {
    const user = await registerUser(lk.app);
    const named = new Browser(lk, WINDOWS_CHROME);
    expect((await signIn(named, user.email, { device_name: 'Work laptop' })).status).toBe(303);
    const unnamed = new Browser(lk, IPHONE_SAFARI);
    expect((await signIn(unnamed, user.email)).status).toBe(303);
    const api = await login(lk.app, user.email); // no user agent at all

    const page = await named.get('/account/sessions');
    const ids = [...page.html.matchAll(/data-session="([^"]+)"/g)].map((m) => m[1]!);
    expect(ids).toHaveLength(3);
    const cards = ids.map((id) => cardOf(page, id));
    expect(cards).toContainEqual({ title: 'Work laptop', subtitle: 'Chrome 131 on Windows 10' });
    expect(cards).toContainEqual({ title: 'iPhone', subtitle: 'Mobile Safari 18 on iPhone, iOS 18.1' });
    expect(cardOf(page, api.session_id)).toEqual({ title: 'Unknown device', subtitle: undefined });
  });

  it('describeDevice names the device, never the browser', () => {
    expect(describeDevice(WINDOWS_CHROME)).toBe('Windows computer');
    expect(describeDevice(IPHONE_SAFARI)).toBe('iPhone');
    expect(
      describeDevice(
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
      ),
    ).toBe('Mac');
    expect(
      describeDevice(
        'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
      ),
    ).toBe('Pixel 8');
    expect(describeDevice('curl/8.5.0')).toBeNull();
    expect(describeDevice(null)).toBeNull();
  });
});

describe('"Remember this device for …" says what SESSION_REMEMBER_TTL says', () => {
  it('90 days by default, 30 days when configured so', async () => {
    const label = (page: Page) => /Remember this device for ([^<]+)</.exec(page.html)?.[1]?.trim();
    expect(label(await new Browser(lk).get('/account/sign-in'))).toBe('90 days');
    const thirty = await buildLatchkey(database.current, {
      env: { SESSION_REMEMBER_TTL: String(30 * 86400) },
    });
    const browser = new Browser(thirty);
    expect(label(await browser.get('/account/sign-in'))).toBe('30 days');
    // The form coming back with an error says the same.
    const wrong = await browser.post('/account/sign-in', { email: 'nobody@example.com', password: 'x' });
    expect(label(wrong)).toBe('30 days');
  });
});

describe('a TOTP code used a moment ago', () => {
  it('sign-in: "already used", not "not valid"; it still spends an attempt', async () => {
    const { user, secret } = await mfaThroughPages();
    // The activation's code, still inside its ±1 step window.
    const used = totpCode(secret, nowSeconds());
    const browser = new Browser(lk);
    expect((await signIn(browser, user.email)).status).toBe(303);
    const again = await browser.post('/account/sign-in/mfa', { code: used });
    expect(again.status).toBe(401);
    expect(again.text).toContain('This code was already used; wait for the next one (4 attempts left)');
    expect(again.text).not.toContain('not valid');
    const wrong = ['000000', '111111', '222222'].find(
      (code) => ![-1, 0, 1].some((s) => totpCode(secret, nowSeconds() + s * 30) === code),
    )!;
    const next = await browser.post('/account/sign-in/mfa', { code: wrong });
    expect(next.text).toContain('The code is not valid (3 attempts left)');
    lk.clock.advance(STEP);
    const ok = await browser.post('/account/sign-in/mfa', { code: totpCode(secret, nowSeconds()) });
    expect(ok.status).toBe(303);
  });

  it('step-up on the security page: the code of the sign-in just made is "already used"', async () => {
    const { user, secret } = await mfaThroughPages();
    lk.clock.advance(STEP);
    const browser = new Browser(lk);
    expect((await signIn(browser, user.email)).status).toBe(303);
    const code = totpCode(secret, nowSeconds());
    expect((await browser.post('/account/sign-in/mfa', { code })).status).toBe(303);
    const page = await browser.post('/account/security/totp/disable', { code });
    expect(page.status).toBe(403);
    expect(page.html).toMatch(
      /id="disable-code-error"[^>]*>This code was already used; wait for the next one</,
    );
    // Still on: nothing was done.
    expect((await browser.get('/account/security')).html).toMatch(/<span class="badge current">On<\/span>/);
  });

  it('the JSON API keeps its error code (invalid_code) and counts the attempt; the description says why', async () => {
    const { user, secret } = await mfaThroughPages();
    const used = totpCode(secret, nowSeconds());
    const first = await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
    const res = await call(lk.app, '/v1/auth/login/mfa', {
      body: { mfa_token: first.json.mfa_token, code: used },
    });
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({
      error: 'invalid_code',
      attempts_left: 4,
      error_description: 'This code was already used; wait for the next one (4 attempts left)',
    });
  });
});
