import { beforeAll, describe, expect, it } from 'vitest';
import { NO_ORIGIN, type Store } from '../../src/ports/store.js';
import { call, decodeJwtPart, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import { totpCode } from '../support/totp.js';
import {
  ACCESS,
  Browser,
  CSRF,
  cspDirectives,
  decodeEntities,
  expectCleared,
  LIMIT,
  MFA,
  type Page,
  type PostOptions,
  REFRESH,
  setCookieOf,
} from './account-pages-browser.js';

/**
 * The account pages (/account) without JavaScript, over `app.request()`: form posts and a
 * small cookie jar of our own that plays the browser (./account-pages-browser.ts). Every
 * /account answer this file gets is also checked for the page invariants (CSP with a fresh
 * nonce, no inline handlers or style attributes, no-store, the CSRF token in every form).
 */

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const STEP = 30 * SECOND;
/** Past the access token's 900 s and the verifier's 5 s of clock tolerance. */
const ACCESS_EXPIRED = 15 * MINUTE + 10 * SECOND;

// ---------------------------------------------------------------------------------------------
// Helpers over the pages and the JSON API.
// ---------------------------------------------------------------------------------------------

const nowSeconds = () => Math.floor(lk.clock.now().getTime() / 1000);
const codeNow = (secret: string) => totpCode(secret, nowSeconds());

/** Each code is accepted once per factor: move to the next time step first. */
function nextCode(secret: string): string {
  lk.clock.advance(STEP);
  return codeNow(secret);
}

/** A code valid in none of the steps the server accepts now (−1, 0, +1). */
function wrongCode(secret: string): string {
  const valid = new Set([-1, 0, 1].map((steps) => totpCode(secret, nowSeconds() + steps * 30)));
  return ['000000', '111111', '222222', '333333'].find((code) => !valid.has(code))!;
}

const sidOf = (browser: Browser): string => decodeJwtPart(browser.cookie(ACCESS)!, 1).sid;

async function signIn(
  browser: Browser,
  email: string,
  options: { password?: string; remember?: boolean; deviceName?: string } = {},
): Promise<Page> {
  if (!browser.cookie(CSRF)) expect((await browser.get('/account/sign-in')).status).toBe(200);
  return browser.post('/account/sign-in', {
    email,
    password: options.password ?? PASSWORD,
    ...(options.remember ? { remember: 'yes' } : {}),
    ...(options.deviceName !== undefined ? { device_name: options.deviceName } : {}),
  });
}

/** A new user signed in through the pages, without MFA. */
async function signedIn(options: { remember?: boolean; deviceName?: string } = {}, instance = lk) {
  const user = await registerUser(instance.app);
  const browser = new Browser(instance);
  const res = await signIn(browser, user.email, options);
  expect(res.status).toBe(303);
  expect(res.location).toBe('/account/sessions');
  return { user, browser, sid: sidOf(browser) };
}

const liveSessionIds = async (userId: string) =>
  (await lk.store.listSessions(userId, lk.clock.now())).map((session) => session.id);

/** GET /v1/sessions with a Bearer token: 200 while its session lives. */
const apiSessions = (token: string) => call(lk.app, '/v1/sessions', { token });

/** A registered user with TOTP active, through the JSON API. */
async function userWithMfa() {
  const user = await registerUser(lk.app);
  const pair = await login(lk.app, user.email);
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
  expect(enrolled.status).toBe(200);
  const secret: string = enrolled.json.secret;
  const activated = await call(lk.app, '/v1/mfa/totp/activate', {
    body: { code: codeNow(secret) },
    token: pair.access_token,
  });
  expect(activated.status).toBe(200);
  return { ...user, secret, recoveryCodes: activated.json.recovery_codes as string[] };
}

/** The second step of an API login with MFA. */
async function apiMfaLogin(email: string, factor: { code: string } | { recovery_code: string }) {
  const first = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
  expect(first.json.mfa_required).toBe(true);
  return call(lk.app, '/v1/auth/login/mfa', { body: { mfa_token: first.json.mfa_token, ...factor } });
}

const codesOf = (page: Page): string[] => {
  const list = /<ul class="codes"[^>]*>([\s\S]*?)<\/ul>/.exec(page.html)?.[1] ?? '';
  return [...list.matchAll(/<li>([^<]*)<\/li>/g)].map((m) => m[1]!);
};

/** The key shown on the set-up page (in its hidden field). */
const setupSecretOf = (page: Page) =>
  /<input type="hidden" name="secret" value="([A-Z2-7]+)"/.exec(page.html)?.[1];

// ---------------------------------------------------------------------------------------------

describe('every page', () => {
  it('has a strict CSP whose fresh nonce every script and style carries, and nothing inline', async () => {
    // The invariants are checked on every /account response of this file; here, one of each page.
    const { user, browser } = await signedIn();
    await login(lk.app, user.email, { device_name: 'Other' });
    const pages = [
      await new Browser(lk).get('/account/sign-in'),
      await signIn(new Browser(lk), user.email, { password: 'wrong password!' }),
      await browser.get('/account/sessions'),
      await browser.get('/account/sessions?notice=others&n=3'),
      await browser.get('/account/sessions/sign-out-others'),
      await browser.get('/account/security'),
      await browser.post('/account/security/totp/enroll'),
      await browser.get('/account/activity'),
      await browser.post('/account/security/password', {}, { csrf: 'nope' }),
    ];
    const nonces = new Set<string>();
    for (const page of pages) {
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      const nonce = /'nonce-([^']+)'/.exec(page.headers.get('content-security-policy') ?? '')?.[1];
      expect(nonce).toBeTruthy();
      expect(page.html).toContain(`<script nonce="${nonce}">`);
      expect(page.html).toContain(`<style nonce="${nonce}">`);
      nonces.add(nonce!);
    }
    expect(nonces.size).toBe(pages.length);
  });

  it('gives two loads of one page two nonces', async () => {
    const browser = new Browser(lk);
    const first = cspDirectives(await browser.get('/account/sign-in')).get('script-src');
    const second = cspDirectives(await browser.get('/account/sign-in')).get('script-src');
    expect(first).not.toEqual(second);
  });

  it('sets the CSRF cookie once: __Host-, Secure, HttpOnly, SameSite=Strict, Path=/, and every form echoes it', async () => {
    const browser = new Browser(lk);
    const first = await browser.get('/account/sign-in');
    const set = setCookieOf(first, CSRF);
    expect(set).toBeDefined();
    expect(set!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(set!.attributes.get('path')).toBe('/');
    expect(set!.attributes.get('secure')).toBe(true);
    expect(set!.attributes.get('httponly')).toBe(true);
    expect(set!.attributes.get('samesite')).toBe('Strict');
    expect(set!.attributes.has('domain')).toBe(false);
    expect(first.html).toContain(`name="csrf" value="${set!.value}"`);
    // The browser keeps its token: a second page neither sets nor changes it.
    const second = await browser.get('/account/sign-in');
    expect(setCookieOf(second, CSRF)).toBeUndefined();
    expect(second.html).toContain(`name="csrf" value="${set!.value}"`);
    // Two browsers, two tokens.
    const other = await new Browser(lk).get('/account/sign-in');
    expect(setCookieOf(other, CSRF)!.value).not.toBe(set!.value);
  });

  it('keeps the usual secure headers on the pages', async () => {
    const page = await new Browser(lk).get('/account/sign-in');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
  });
});

describe('CSRF', () => {
  it('refuses a POST without the token, with a wrong one, cross-site or from a foreign Origin; changes nothing', async () => {
    const { user, browser } = await signedIn();
    const victim = await login(lk.app, user.email, { device_name: 'Phone' });
    const path = `/account/sessions/${victim.session_id}/revoke`;
    const attempts: [string, PostOptions][] = [
      ['no csrf field', { csrf: null }],
      ['an empty csrf field', { csrf: '' }],
      ['a wrong token', { csrf: 'x'.repeat(43) }],
      ['cross-site, right token', { site: 'cross-site' }],
      ['same-site, right token', { site: 'same-site' }],
      ['Sec-Fetch-Site: none, right token', { site: 'none' }],
      ['foreign Origin, no Fetch Metadata', { site: null, origin: 'https://evil.example' }],
      ['Origin null, no Fetch Metadata', { site: null, origin: 'null' }],
      ['foreign Origin, no token', { site: null, origin: 'https://evil.example', csrf: null }],
    ];
    for (const [label, options] of attempts) {
      const res = await browser.post(path, {}, options);
      expect(res.status, label).toBe(403);
      expect(res.text, label).toContain('Form expired');
      expect(res.text).toContain('This form is out of date or came from another site.');
      expect(res.location).toBeNull();
      expect(res.cookies.filter((cookie) => cookie.name !== CSRF)).toEqual([]);
    }
    const still = await apiSessions(victim.access_token);
    expect(still.status).toBe(200);
    expect(still.json.sessions.map((s: { id: string }) => s.id)).toContain(victim.session_id);

    const ok = await browser.post(path);
    expect(ok.status).toBe(303);
    expect(ok.location).toBe('/account/sessions?notice=revoked');
    expect((await apiSessions(victim.access_token)).status).toBe(401);
  });

  it('refuses a CSRF token from another browser (double submit: cookie and field must match)', async () => {
    const { user, browser } = await signedIn();
    const victim = await login(lk.app, user.email);
    const stranger = new Browser(lk);
    await stranger.get('/account/sign-in');
    const res = await browser.post(
      `/account/sessions/${victim.session_id}/revoke`,
      {},
      { csrf: stranger.csrf },
    );
    expect(res.status).toBe(403);
    expect((await apiSessions(victim.access_token)).status).toBe(200);
  });

  it('accepts a same-origin form without Fetch Metadata (an older browser): Origin alone', async () => {
    const { user, browser } = await signedIn();
    const victim = await login(lk.app, user.email);
    const res = await browser.post(`/account/sessions/${victim.session_id}/revoke`, {}, { site: null });
    expect(res.status).toBe(303);
    expect((await apiSessions(victim.access_token)).status).toBe(401);
  });

  it('refuses a cross-site sign-in (login CSRF) and a cross-site sign-out', async () => {
    const user = await registerUser(lk.app);
    const browser = new Browser(lk);
    await browser.get('/account/sign-in');
    const forced = await browser.post(
      '/account/sign-in',
      { email: user.email, password: PASSWORD },
      { site: 'cross-site' },
    );
    expect(forced.status).toBe(403);
    expect(browser.cookie(REFRESH)).toBeUndefined();
    expect(await liveSessionIds(user.id)).toEqual([]);

    const { user: other, browser: signed, sid } = await signedIn();
    const out = await signed.post('/account/sign-out', {}, { site: 'cross-site' });
    expect(out.status).toBe(403);
    expect(await liveSessionIds(other.id)).toEqual([sid]);
    expect((await signed.get('/account/sessions')).status).toBe(200);
  });
});

describe('sign in', () => {
  it('shows the form with no token cookies, and a signed-in browser skips it', async () => {
    const page = await new Browser(lk).get('/account/sign-in');
    expect(page.status).toBe(200);
    expect(page.html).toContain('action="/account/sign-in"');
    expect(page.html).toContain('name="email"');
    expect(page.html).toContain('name="password"');
    expect(page.cookies.map((cookie) => cookie.name)).toEqual([CSRF]);

    const { browser } = await signedIn();
    const again = await browser.get('/account/sign-in');
    expect(again.status).toBe(303);
    expect(again.location).toBe('/account/sessions');
  });

  it('a wrong password: 401, the message, the email kept, no session', async () => {
    const user = await registerUser(lk.app);
    const browser = new Browser(lk);
    const res = await signIn(browser, user.email, { password: 'not the password' });
    expect(res.status).toBe(401);
    expect(res.text).toContain('The email or password is incorrect.');
    expect(res.html).toContain(`value="${user.email}"`);
    expect(res.html).toContain('aria-invalid="true"');
    expect(browser.cookie(REFRESH)).toBeUndefined();
    expect(browser.cookie(ACCESS)).toBeUndefined();
    // An unknown email reads the same.
    const unknown = await signIn(browser, `nobody-${Date.now()}@example.com`);
    expect(unknown.status).toBe(401);
    expect(unknown.text).toContain('The email or password is incorrect.');
  });

  it('an email with markup is kept escaped', async () => {
    const res = await signIn(new Browser(lk), '"><img src=x>@example.com', { password: 'whatever-password' });
    expect(res.status).toBe(401);
    expect(res.html).not.toContain('"><img src=x>');
    expect(res.html).toContain('value="&quot;&gt;&lt;img src=x&gt;@example.com"');
  });

  it('empty fields: 400 with a message per field', async () => {
    const browser = new Browser(lk);
    const both = await signIn(browser, '', { password: '' });
    expect(both.status).toBe(400);
    expect(both.text).toContain('Enter your email address.');
    expect(both.text).toContain('Enter your password.');
    const noPassword = await signIn(browser, 'someone@example.com', { password: '' });
    expect(noPassword.status).toBe(400);
    expect(noPassword.text).not.toContain('Enter your email address.');
    expect(noPassword.text).toContain('Enter your password.');
    expect(noPassword.html).toContain('value="someone@example.com"');
    const blank = await signIn(browser, '   ', { password: PASSWORD });
    expect(blank.status).toBe(400);
    expect(blank.text).toContain('Enter your email address.');
  });

  it('throttled: 429 with Retry-After and "Too many attempts", even for the right password', async () => {
    const strict = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { LOGIN_FAILURES_PER_ACCOUNT: '3' },
    });
    const user = await registerUser(strict.app);
    const browser = new Browser(strict);
    const statuses: number[] = [];
    let last: Page | undefined;
    for (let i = 0; i < 4; i++) {
      last = await signIn(browser, user.email, { password: `wrong password ${i}` });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(last!.text).toMatch(/Too many attempts\. Try again in \d+ (seconds|minutes)\./);
    const right = await signIn(browser, user.email);
    expect(right.status).toBe(429);
    expect(right.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(right.text).toContain('Too many attempts');
    expect(browser.cookie(REFRESH)).toBeUndefined();
  });

  it('a disabled account: 403 with a message, no session', async () => {
    const user = await registerUser(lk.app);
    expect(await lk.store.disableUser({ userId: user.id, now: lk.clock.now() })).toMatchObject({
      revoked: 0,
    });
    const browser = new Browser(lk);
    const res = await signIn(browser, user.email);
    expect(res.status).toBe(403);
    expect(res.text).toContain('This account is disabled. Contact your administrator.');
    expect(browser.cookie(REFRESH)).toBeUndefined();
  });

  it('success: 303 to the devices page with __Host- (Path=/, no Domain), HttpOnly, Secure, SameSite=Strict cookies; no Max-Age unless remembered', async () => {
    const user = await registerUser(lk.app);
    const browser = new Browser(lk);
    const res = await signIn(browser, user.email);
    expect(res.status).toBe(303);
    expect(res.location).toBe('/account/sessions');
    for (const name of [REFRESH, ACCESS]) {
      const set = setCookieOf(res, name);
      expect(set, name).toBeDefined();
      expect(set!.value.length).toBeGreaterThan(20);
      expect(set!.attributes.get('httponly')).toBe(true);
      expect(set!.attributes.get('secure')).toBe(true);
      expect(set!.attributes.get('samesite')).toBe('Strict');
      expect(set!.attributes.get('path')).toBe('/');
      expect(set!.attributes.has('domain')).toBe(false);
      // A browser-session cookie: dies with the browser.
      expect(set!.attributes.has('max-age')).toBe(false);
      expect(set!.attributes.has('expires')).toBe(false);
    }
    expect(decodeJwtPart(setCookieOf(res, ACCESS)!.value, 1)).toMatchObject({ sub: user.id, acr: 'aal1' });
    const page = await browser.follow(res);
    expect(page.status).toBe(200);
    expect(page.text).toContain(user.email);
    expect(page.text).toContain('This device');
    expect(page.text).not.toContain('Remembered');
  });

  it('remembered: Max-Age on the refresh cookie (30 days), the card says so', async () => {
    const user = await registerUser(lk.app);
    const browser = new Browser(lk);
    const res = await signIn(browser, user.email, { remember: true });
    expect(res.status).toBe(303);
    const refreshCookie = setCookieOf(res, REFRESH)!;
    expect(Number(refreshCookie.attributes.get('max-age'))).toBe(30 * 24 * 3600);
    expect(refreshCookie.attributes.get('path')).toBe('/');
    expect(Number(setCookieOf(res, ACCESS)!.attributes.get('max-age'))).toBe(900);
    const page = await browser.follow(res);
    expect(page.text).toContain('Remembered');
  });

  it('names the device; the name is shown HTML-escaped', async () => {
    const hostile = '<img src=x onerror=alert(1)>';
    const { browser } = await signedIn({ deviceName: hostile });
    const page = await browser.get('/account/sessions');
    expect(page.status).toBe(200);
    expect(page.html).not.toContain(hostile);
    expect(page.html).not.toMatch(/<img src=x/i);
    expect(page.html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page.text).toContain(hostile);

    const { browser: named } = await signedIn({ deviceName: '  Work laptop  ' });
    expect((await named.get('/account/sessions')).text).toContain('Work laptop This device');
  });
});

describe('bad input is a 4xx, never a 500', () => {
  // BUG: the pages skip the JSON API's NUL check (src/http/request.ts, containsNul); PostgreSQL
  // text cannot hold NUL, so the login's query fails and the page is a 500.
  it('a NUL in the email or the device name: 400, no session', async () => {
    const user = await registerUser(lk.app);
    const browser = new Browser(lk);
    const nulEmail = await signIn(browser, `${user.email}\u0000`);
    expect(nulEmail.status).toBe(400);
    const nulDevice = await signIn(browser, user.email, { deviceName: 'a\u0000b' });
    expect(nulDevice.status).toBe(400);
    expect(await liveSessionIds(user.id)).toEqual([]);
  });

  // BUG: a body parseBody cannot read (multipart without a boundary) throws a TypeError in the
  // CSRF middleware, and the page says 500 "Something went wrong".
  it('a form body that cannot be parsed: 400, not a 500', async () => {
    const browser = new Browser(lk);
    await browser.get('/account/sign-in');
    const res = await browser.post(
      '/account/sign-in',
      {},
      { raw: { contentType: 'multipart/form-data', body: 'garbage' } },
    );
    expect(res.status).toBe(400);
  });

  // Minor: a page that does not exist is the JSON API's 404; a person deserves a page.
  it('an unknown page under /account: an HTML 404 page', async () => {
    const res = await new Browser(lk).get('/account/no-such-page');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  });
});

describe('session limit (SESSION_LIMIT_POLICY=reject)', () => {
  it('holds the sign-in on a page listing the devices; signing one out completes it', async () => {
    const strict = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { SESSION_LIMIT_POLICY: 'reject', MAX_SESSIONS_PER_USER: '1' },
    });
    const user = await registerUser(strict.app);
    const old = await login(strict.app, user.email, { device_name: 'Old tablet' });
    const browser = new Browser(strict);
    const held = await signIn(browser, user.email);
    expect(held.status).toBe(409);
    expect(held.text).toContain('Too many devices');
    expect(held.text).toContain('Old tablet');
    expect(held.html).toContain(`name="revoke_session_id" value="${old.session_id}"`);
    const limit = held.cookies.find((cookie) => cookie.name === LIMIT);
    expect(limit?.attributes.get('path')).toBe('/');
    expect(limit?.attributes.get('httponly')).toBe(true);
    expect(browser.cookie(REFRESH)).toBeUndefined();

    const done = await browser.post('/account/sign-in/session-limit', { revoke_session_id: old.session_id });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/account/sessions');
    expectCleared(done, LIMIT);
    expect(browser.cookie(REFRESH)).toBeDefined();
    expect((await apiSessions(old.access_token)).status).toBe(401);
    expect(await liveSessionIds(user.id)).toEqual([sidOf(browser)]);
  });
});

describe('session limit after a second factor (SESSION_LIMIT_POLICY=reject)', () => {
  it('an MFA sign-in at the limit gets the same page and finishes the same way', async () => {
    const strict = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { SESSION_LIMIT_POLICY: 'reject', MAX_SESSIONS_PER_USER: '1' },
    });
    const user = await registerUser(strict.app);
    const old = await login(strict.app, user.email, { device_name: 'Old phone' });
    const enrolled = await call(strict.app, '/v1/mfa/totp/enroll', {
      method: 'POST',
      token: old.access_token,
    });
    const secret: string = enrolled.json.secret;
    expect(
      (
        await call(strict.app, '/v1/mfa/totp/activate', {
          body: { code: codeNow(secret) },
          token: old.access_token,
        })
      ).status,
    ).toBe(200);
    const browser = new Browser(strict);
    expect((await signIn(browser, user.email)).location).toBe('/account/sign-in/mfa');
    const held = await browser.post('/account/sign-in/mfa', { code: nextCode(secret) });
    expect(held.status).toBe(409);
    expect(held.text).toContain('Old phone');
    const done = await browser.post('/account/sign-in/session-limit', { revoke_session_id: old.session_id });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/account/sessions');
    expect(await liveSessionIds(user.id)).toEqual([sidOf(browser)]);
  });
});

describe('MFA sign-in', () => {
  it('password first: 303 to the code page with the short-lived __Host- mfa cookie', async () => {
    const user = await userWithMfa();
    const browser = new Browser(lk);
    const res = await signIn(browser, user.email);
    expect(res.status).toBe(303);
    expect(res.location).toBe('/account/sign-in/mfa');
    const set = setCookieOf(res, MFA);
    expect(set).toBeDefined();
    expect(set!.attributes.get('path')).toBe('/');
    expect(set!.attributes.has('domain')).toBe(false);
    expect(set!.attributes.get('httponly')).toBe(true);
    expect(set!.attributes.get('secure')).toBe(true);
    expect(set!.attributes.get('samesite')).toBe('Strict');
    expect(Number(set!.attributes.get('max-age'))).toBe(300);
    expect(setCookieOf(res, REFRESH)).toBeUndefined();
    expect(setCookieOf(res, ACCESS)).toBeUndefined();
    // The mfa_token never reaches the page.
    const page = await browser.follow(res);
    expect(page.status).toBe(200);
    expect(page.html).toContain('action="/account/sign-in/mfa"');
    expect(page.html).toContain('autocomplete="one-time-code"');
    expect(page.html).not.toContain(set!.value);
    // No access to the account yet.
    expect((await browser.get('/account/sessions')).location).toBe('/account/sign-in');
  });

  it('a wrong code: 401 with the attempts left; the right one: 303 to the devices page at aal2', async () => {
    const user = await userWithMfa();
    const browser = new Browser(lk);
    await signIn(browser, user.email);
    const empty = await browser.post('/account/sign-in/mfa', { code: '' });
    expect(empty.status).toBe(400);
    expect(empty.text).toContain('Enter the code, or a recovery code.');
    lk.clock.advance(STEP);
    const wrong = await browser.post('/account/sign-in/mfa', { code: wrongCode(user.secret) });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('The code is not valid (4 attempts left)');
    expect(browser.cookie(REFRESH)).toBeUndefined();
    const right = await browser.post('/account/sign-in/mfa', { code: codeNow(user.secret) });
    expect(right.status).toBe(303);
    expect(right.location).toBe('/account/sessions');
    expectCleared(right, MFA);
    expect(browser.cookie(MFA)).toBeUndefined();
    expect(decodeJwtPart(browser.cookie(ACCESS)!, 1)).toMatchObject({ acr: 'aal2', amr: ['pwd', 'otp'] });
    const page = await browser.follow(right);
    expect(page.status).toBe(200);
    expect(page.text).toContain('with two-step verification');
    // The used mfa cookie is gone: the code page sends the browser back to sign in.
    expect((await browser.get('/account/sign-in/mfa')).location).toBe('/account/sign-in');
  });

  it('a code with a space, as the field allows, works', async () => {
    const user = await userWithMfa();
    const browser = new Browser(lk);
    await signIn(browser, user.email);
    const code = nextCode(user.secret);
    const res = await browser.post('/account/sign-in/mfa', { code: `${code.slice(0, 3)} ${code.slice(3)}` });
    expect(res.status).toBe(303);
    expect(res.location).toBe('/account/sessions');
  });

  it('a recovery code works, once', async () => {
    const user = await userWithMfa();
    const browser = new Browser(lk);
    await signIn(browser, user.email);
    const res = await browser.post('/account/sign-in/mfa', {
      code: '',
      recovery_code: user.recoveryCodes[0]!,
    });
    expect(res.status).toBe(303);
    expect(res.location).toBe('/account/sessions');
    expect(decodeJwtPart(browser.cookie(ACCESS)!, 1).acr).toBe('aal2');

    const again = new Browser(lk);
    await signIn(again, user.email);
    const reused = await again.post('/account/sign-in/mfa', { recovery_code: user.recoveryCodes[0]! });
    expect(reused.status).toBe(401);
    expect(again.cookie(REFRESH)).toBeUndefined();
  });

  it('after 5 wrong codes the sign-in is over: back to sign in with the restart notice', async () => {
    const user = await userWithMfa();
    const browser = new Browser(lk);
    await signIn(browser, user.email);
    lk.clock.advance(STEP);
    const bad = wrongCode(user.secret);
    for (let left = 4; left >= 1; left--) {
      const res = await browser.post('/account/sign-in/mfa', { code: bad });
      expect(res.status).toBe(401);
      expect(res.text).toContain(`(${left} attempts left)`);
    }
    // The fifth wrong code ends this sign-in at once: back to the start, the mfa cookie gone.
    const fifth = await browser.post('/account/sign-in/mfa', { code: bad });
    expect(fifth.status).toBe(303);
    expect(fifth.location).toBe('/account/sign-in?notice=mfa_restart');
    expectCleared(fifth, MFA);
    expect(browser.cookie(REFRESH)).toBeUndefined();
    // Even the right code with no mfa cookie opens nothing.
    const late = await browser.post('/account/sign-in/mfa', { code: codeNow(user.secret) });
    expect(late.status).toBe(303);
    expect(late.location).toBe('/account/sign-in?notice=mfa_restart');
    const page = await browser.follow(late);
    expect(page.status).toBe(200);
    expect(page.text).toContain('That sign-in expired or had too many wrong codes. Sign in again.');
  });

  it('without the mfa cookie: the code page and its form send the browser to sign in', async () => {
    const browser = new Browser(lk);
    await browser.get('/account/sign-in');
    const get = await browser.get('/account/sign-in/mfa');
    expect(get.status).toBe(303);
    expect(get.location).toBe('/account/sign-in');
    const post = await browser.post('/account/sign-in/mfa', { code: '123456' });
    expect(post.status).toBe(303);
    expect(post.location).toBe('/account/sign-in?notice=mfa_restart');
  });

  it('an expired sign-in (mfa cookie older than 5 minutes on the server) restarts', async () => {
    const user = await userWithMfa();
    const browser = new Browser(lk);
    await signIn(browser, user.email);
    lk.clock.advance(6 * MINUTE);
    const res = await browser.post('/account/sign-in/mfa', { code: codeNow(user.secret) });
    expect(res.status).toBe(303);
    expect(res.location).toBe('/account/sign-in?notice=mfa_restart');
  });
});

describe('session refresh through cookies', () => {
  it('rotates the refresh cookie once the access token has expired, and still renders', async () => {
    const { browser, sid } = await signedIn();
    const before = { refresh: browser.cookie(REFRESH)!, access: browser.cookie(ACCESS)! };
    // Inside the access token's lifetime: no rotation.
    const quiet = await browser.get('/account/sessions');
    expect(quiet.status).toBe(200);
    expect(setCookieOf(quiet, REFRESH)).toBeUndefined();

    lk.clock.advance(ACCESS_EXPIRED);
    const page = await browser.get('/account/sessions');
    expect(page.status).toBe(200);
    expect(page.text).toContain('This device');
    const rotated = setCookieOf(page, REFRESH);
    expect(rotated).toBeDefined();
    expect(rotated!.value).not.toBe(before.refresh);
    expect(rotated!.attributes.get('path')).toBe('/');
    expect(rotated!.attributes.get('httponly')).toBe(true);
    expect(rotated!.attributes.has('max-age')).toBe(false);
    expect(setCookieOf(page, ACCESS)!.value).not.toBe(before.access);
    expect(sidOf(browser)).toBe(sid);
  });

  it('a remembered session stays remembered after a rotation (Max-Age again)', async () => {
    const { browser } = await signedIn({ remember: true });
    lk.clock.advance(ACCESS_EXPIRED);
    const page = await browser.get('/account/security');
    expect(page.status).toBe(200);
    const rotated = setCookieOf(page, REFRESH)!;
    expect(rotated).toBeDefined();
    expect(Number(rotated.attributes.get('max-age'))).toBeGreaterThan(29 * 24 * 3600);
  });

  it('a replay of the old refresh cookie inside the grace window is a second tab, not a theft', async () => {
    const { user, browser, sid } = await signedIn();
    const tab = browser.clone();
    lk.clock.advance(ACCESS_EXPIRED);
    expect((await browser.get('/account/sessions')).status).toBe(200);
    lk.clock.advance(2 * SECOND);
    const late = await tab.get('/account/sessions');
    expect(late.status).toBe(200);
    expect(tab.cookie(REFRESH)).toBe(browser.cookie(REFRESH));
    expect(await liveSessionIds(user.id)).toEqual([sid]);
  });

  it('a replay of the old refresh cookie after the grace window is reuse: session revoked, cookies cleared', async () => {
    const { user, browser, sid } = await signedIn();
    const thief = browser.clone();
    lk.clock.advance(ACCESS_EXPIRED);
    expect((await browser.get('/account/sessions')).status).toBe(200);
    lk.clock.advance(11 * SECOND);

    const replay = await thief.get('/account/sessions');
    expect(replay.status).toBe(303);
    expect(replay.location).toBe('/account/sign-in?notice=ended');
    expectCleared(replay, REFRESH);
    expectCleared(replay, ACCESS);
    expect(thief.cookie(REFRESH)).toBeUndefined();
    expect(thief.cookie(ACCESS)).toBeUndefined();
    expect(await liveSessionIds(user.id)).not.toContain(sid);
    const notice = await thief.follow(replay);
    expect(notice.status).toBe(200);
    expect(notice.text).toContain('Your session has ended. Sign in again to continue.');

    // The rightful browser, whose access token is still within its lifetime, is out too.
    const owner = await browser.get('/account/sessions');
    expect(owner.status).toBe(303);
    expect(owner.location).toBe('/account/sign-in?notice=ended');
    expect(browser.cookie(REFRESH)).toBeUndefined();
  });

  it('garbage token cookies: 303 to sign in with the ended notice, cookies cleared', async () => {
    const browser = new Browser(lk);
    await browser.get('/account/sign-in');
    browser.plant(`${REFRESH}=not-a-token; Path=/`);
    browser.plant(`${ACCESS}=not.a.jwt; Path=/`);
    const res = await browser.get('/account/security');
    expect(res.status).toBe(303);
    expect(res.location).toBe('/account/sign-in?notice=ended');
    expectCleared(res, REFRESH);
    expectCleared(res, ACCESS);
  });
});

describe('cookies planted by a sibling subdomain', () => {
  // evil.example.com can set a cookie for Domain=example.com with a longer Path: the browser
  // sends it before ours, and Hono's getCookie takes the first. `__Host-` names keep a
  // browser from accepting such a cookie at all (RFC 6265bis §4.1.3.2); these tests play a
  // browser that let one through (the jar keys by path only, so a longer Path stands in for
  // the other domain) and check that the server then uses neither value.
  const PLANTED_PATH = '/account/sessions';

  it("the attacker's own session cookies, sent first, neither sign the victim into the attacker's account nor spend the attacker's token", async () => {
    const victim = await signedIn();
    const attacker = await signedIn();
    // Whatever this server names its token cookies: the attacker copies theirs.
    const tokens = attacker.browser.stored().filter((cookie) => cookie.name !== CSRF);
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    for (const cookie of tokens) victim.browser.plant(`${cookie.name}=${cookie.value}; Path=${PLANTED_PATH}`);
    // Past the access token's life, so a page view would rotate the refresh token it reads.
    lk.clock.advance(ACCESS_EXPIRED);

    const page = await victim.browser.get(PLANTED_PATH);
    expect(page.text).not.toContain(attacker.user.email);
    // Said on a page of its own: the sign-in page (not sent the planted path's cookies)
    // would find the victim signed in and send them straight back here.
    expect(page.status).toBe(400);
    expect(page.text).toContain('Conflicting cookies');
    expect(setCookieOf(page, REFRESH)).toBeUndefined();
    // Neither session was rotated or ended by it: both browsers' own cookies still work.
    expect(await liveSessionIds(victim.user.id)).toEqual([victim.sid]);
    const attackers = await attacker.browser.get('/account/sessions');
    expect(attackers.status).toBe(200);
    expect(attackers.text).toContain(attacker.user.email);
  });

  it('a planted CSRF cookie, sent first, cannot satisfy the double submit', async () => {
    const { user, browser } = await signedIn();
    const other = await login(lk.app, user.email, { device_name: 'Phone' });
    const planted = 'p'.repeat(43); // well formed, and known to the attacker
    browser.plant(`${CSRF}=${planted}; Path=${PLANTED_PATH}`);
    // No Fetch Metadata and no Origin (a browser old enough to ignore prefixes sends neither).
    const res = await browser.post(
      `/account/sessions/${other.session_id}/revoke`,
      {},
      { csrf: planted, site: null, origin: null },
    );
    expect(res.status).toBe(403);
    expect(res.text).toContain('Form expired');
    expect(await liveSessionIds(user.id)).toContain(other.session_id);
  });
});

describe('devices', () => {
  it('lists this device first, then the others, each with a sign-out form', async () => {
    const { user, browser, sid } = await signedIn({ deviceName: 'This laptop' });
    lk.clock.advance(SECOND);
    const other = await login(lk.app, user.email, { device_name: 'Old phone' });
    const page = await browser.get('/account/sessions');
    expect(page.status).toBe(200);
    expect(page.text).toContain('2 devices signed in');
    const mine = page.html.indexOf(`data-session="${sid}"`);
    const theirs = page.html.indexOf(`data-session="${other.session_id}"`);
    expect(mine).toBeGreaterThan(0);
    expect(theirs).toBeGreaterThan(mine);
    expect(page.html).toContain(`action="/account/sessions/${other.session_id}/revoke"`);
    expect(page.html).not.toContain(`action="/account/sessions/${sid}/revoke"`);
    expect(page.text).toContain('Old phone');
    expect(page.text).toContain('203.0.113.7');
    expect(page.text).toContain('Firefox 133 on Linux');
    expect(page.html).toContain('href="/account/sessions/sign-out-others"');
  });

  it('revokes another session: 303 with the notice, and that session is over', async () => {
    const { user, browser } = await signedIn();
    const other = await login(lk.app, user.email, { device_name: 'Old phone' });
    const res = await browser.post(`/account/sessions/${other.session_id}/revoke`);
    expect(res.status).toBe(303);
    expect(res.location).toBe('/account/sessions?notice=revoked');
    const page = await browser.follow(res);
    expect(page.status).toBe(200);
    expect(page.text).toContain('The device was signed out.');
    expect(page.text).toContain('1 device signed in');
    expect(page.text).not.toContain('Old phone');
    expect((await apiSessions(other.access_token)).status).toBe(401);
    expect((await refresh(lk.app, other.refresh_token)).status).toBe(401);
  });

  it('an unknown id or another user’s: 303 with "already signed out", nothing revoked', async () => {
    const { user, browser, sid } = await signedIn();
    const stranger = await registerUser(lk.app);
    const theirs = await login(lk.app, stranger.email);
    for (const id of [crypto.randomUUID(), theirs.session_id]) {
      const res = await browser.post(`/account/sessions/${id}/revoke`);
      expect(res.status, id).toBe(303);
      expect(res.location).toBe('/account/sessions?notice=gone');
    }
    const page = await browser.get('/account/sessions?notice=gone');
    expect(page.text).toContain('That device was already signed out.');
    expect((await apiSessions(theirs.access_token)).status).toBe(200);
    expect(await liveSessionIds(user.id)).toEqual([sid]);
  });

  // BUG: the page passes the id to the store unchecked; PostgreSQL refuses 'not-a-uuid' for a
  // uuid column (22P02) and the page is a 500. DELETE /v1/sessions/{id} checks it (SessionIdParam).
  it('a session id that is not a UUID: the same "already signed out", not a 500', async () => {
    const { browser } = await signedIn();
    const res = await browser.post('/account/sessions/not-a-uuid/revoke');
    expect(res.status).toBe(303);
    expect(res.location).toBe('/account/sessions?notice=gone');
  });

  it('notices are a fixed list: words in the query never reach the page', async () => {
    const { browser } = await signedIn();
    const page = await browser.get('/account/sessions?notice=%3Cb%3Epwned%3C%2Fb%3E&n=%3Cb%3E');
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('pwned');
    const odd = await browser.get('/account/sessions?notice=others&n=-5');
    expect(odd.text).toContain('Signed out of 0 other devices.');
  });

  it('sign out everywhere else: a confirm page without JavaScript, then the count', async () => {
    const { user, browser, sid } = await signedIn();
    const a = await login(lk.app, user.email);
    const b = await login(lk.app, user.email);
    const confirm = await browser.get('/account/sessions/sign-out-others');
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain('Sign out everywhere else?');
    expect(confirm.html).toMatch(/<form method="post" action="\/account\/sessions\/sign-out-others">/);
    expect(confirm.html).toContain('href="/account/sessions"');
    // Only asking changes nothing.
    expect((await apiSessions(a.access_token)).status).toBe(200);

    const res = await browser.post('/account/sessions/sign-out-others');
    expect(res.status).toBe(303);
    expect(res.location).toBe('/account/sessions?notice=others&n=2');
    const page = await browser.follow(res);
    expect(page.text).toContain('Signed out of 2 other devices.');
    expect(page.text).toContain('1 device signed in');
    expect(await liveSessionIds(user.id)).toEqual([sid]);
    expect((await apiSessions(a.access_token)).status).toBe(401);
    expect((await apiSessions(b.access_token)).status).toBe(401);

    const none = await browser.post('/account/sessions/sign-out-others');
    expect(none.location).toBe('/account/sessions?notice=others&n=0');
  });
});

describe('security', () => {
  it('change password: wrong current 403, weak new 400, empty 400, then 303 and the other sessions are out', async () => {
    const { user, browser, sid } = await signedIn();
    const other = await login(lk.app, user.email);
    const newPassword = 'a much longer and stranger passphrase 7';

    const wrong = await browser.post('/account/security/password', {
      current_password: 'not my password',
      new_password: newPassword,
    });
    expect(wrong.status).toBe(403);
    expect(wrong.html).toMatch(
      /id="password-current_password-error"[^>]*>The current password is incorrect</,
    );

    const weak = await browser.post('/account/security/password', {
      current_password: PASSWORD,
      new_password: 'password1',
    });
    expect(weak.status).toBe(400);
    expect(weak.html).toContain('id="password-new_password-error"');
    expect(weak.html).not.toContain('id="password-current_password-error"');

    const empty = await browser.post('/account/security/password', {
      current_password: '',
      new_password: '',
    });
    expect(empty.status).toBe(400);
    expect(empty.text).toContain('Enter your current password.');
    expect(empty.text).toContain('Enter a new password.');
    expect((await apiSessions(other.access_token)).status).toBe(200);

    const res = await browser.post('/account/security/password', {
      current_password: PASSWORD,
      new_password: newPassword,
    });
    expect(res.status).toBe(303);
    expect(res.location).toBe('/account/security?notice=password&n=1');
    const page = await browser.follow(res);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Your password was changed and 1 other device signed out.');
    expect(await liveSessionIds(user.id)).toEqual([sid]);
    expect((await apiSessions(other.access_token)).status).toBe(401);
    const oldLogin = await call(lk.app, '/v1/auth/login', {
      body: { email: user.email, password: PASSWORD },
    });
    expect(oldLogin.status).toBe(401);
    const newLogin = await call(lk.app, '/v1/auth/login', {
      body: { email: user.email, password: newPassword },
    });
    expect(newLogin.status).toBe(200);
  });

  it('enrolment right after sign-in needs no password; the set-up page has the key and a data: QR', async () => {
    const { user, browser } = await signedIn();
    const security = await browser.get('/account/security');
    expect(security.status).toBe(200);
    expect(security.html).toMatch(/Two-step verification\s*<span class="badge">Off<\/span>/);
    expect(security.html).not.toContain('id="enroll-password"');

    const setup = await browser.post('/account/security/totp/enroll');
    expect(setup.status).toBe(200);
    const secret = setupSecretOf(setup);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(setup.text).toContain(secret!.match(/.{4}/g)!.join(' '));
    const qr = /<img class="qr" src="data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)"/.exec(setup.html)?.[1];
    expect(qr).toBeTruthy();
    expect(Buffer.from(qr!, 'base64').toString('utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    expect(setup.html).toContain('alt="QR code that adds this account to an authenticator app"');
    expect(setup.html).toContain('action="/account/security/totp/activate"');
    // Pending only: nothing changes for sign-in yet.
    const me = await call(lk.app, '/v1/users/me', { token: browser.cookie(ACCESS)! });
    expect(me.json.user).toMatchObject({ email: user.email, mfa_enabled: false });
  });

  it('enrolment when the sign-in is older than ~5 minutes asks for the password', async () => {
    const { browser } = await signedIn();
    // Past the 300 s of fresh auth: exactly 300 s is still fresh, as the API decides (below).
    lk.clock.advance(5 * MINUTE + SECOND);
    const security = await browser.get('/account/security');
    expect(security.html).toContain('id="enroll-password"');
    const bare = await browser.post('/account/security/totp/enroll');
    expect(bare.status).toBe(400);
    expect(bare.text).toContain('Enter your password to continue.');
    expect(setupSecretOf(bare)).toBeUndefined();
    const wrong = await browser.post('/account/security/totp/enroll', { password: 'not my password' });
    expect(wrong.status).toBe(403);
    expect(wrong.html).toMatch(/id="enroll-password-error"[^>]*>The password is incorrect</);
    const before = browser.cookie(REFRESH);
    const ok = await browser.post('/account/security/totp/enroll', { password: PASSWORD });
    expect(ok.status).toBe(200);
    expect(setupSecretOf(ok)).toMatch(/^[A-Z2-7]{32}$/);
    // The step-up renewed this browser's tokens.
    expect(browser.cookie(REFRESH)).not.toBe(before);
    expect(decodeJwtPart(browser.cookie(ACCESS)!, 1).auth_time).toBe(nowSeconds());
  });

  it('activate: a wrong code keeps the same key on the page; the right one shows 10 recovery codes', async () => {
    const { user, browser } = await signedIn();
    const setup = await browser.post('/account/security/totp/enroll');
    const secret = setupSecretOf(setup)!;

    const wrong = await browser.post('/account/security/totp/activate', { code: wrongCode(secret), secret });
    expect(wrong.status).toBe(403);
    expect(setupSecretOf(wrong)).toBe(secret);
    expect(wrong.html).toContain('id="activate-code-error"');
    expect(wrong.html).toContain('src="data:image/svg+xml;base64,');

    // An echo that is not a key is not shown back.
    const tampered = await browser.post('/account/security/totp/activate', {
      code: wrongCode(secret),
      secret: '"><script>alert(1)</script>',
    });
    expect(tampered.status).toBe(303);
    expect(tampered.location).toBe('/account/security');

    const done = await browser.post('/account/security/totp/activate', { code: codeNow(secret), secret });
    expect(done.status).toBe(200);
    expect(done.text).toContain('Two-step verification is on.');
    const codes = codesOf(done);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    const download = /download="recovery-codes.txt"\s+href="data:text\/plain;charset=utf-8,([^"]+)"/.exec(
      done.html,
    )?.[1];
    expect(download).toBeTruthy();
    const file = decodeURIComponent(decodeEntities(download!));
    for (const code of codes) expect(file).toContain(code);

    const security = await browser.get('/account/security');
    expect(security.html).toMatch(/Two-step verification\s*<span class="badge current">On<\/span>/);
    expect(security.html).toContain('action="/account/security/recovery-codes"');
    expect(security.html).toContain('action="/account/security/totp/disable"');
    const me = await call(lk.app, '/v1/users/me', { token: browser.cookie(ACCESS)! });
    expect(me.json.user.mfa_enabled).toBe(true);
    // A recovery code from the page signs in.
    expect((await apiMfaLogin(user.email, { recovery_code: codes[0]! })).status).toBe(200);
  });

  it('regenerate recovery codes needs a code: empty 400, wrong 403, right 200 with new codes; old ones stop working', async () => {
    const user = await userWithMfa();
    const browser = new Browser(lk);
    await signIn(browser, user.email);
    expect((await browser.post('/account/sign-in/mfa', { code: nextCode(user.secret) })).status).toBe(303);

    const empty = await browser.post('/account/security/recovery-codes', { code: '' });
    expect(empty.status).toBe(400);
    expect(empty.html).toMatch(
      /id="regenerate-code-error"[^>]*>Enter the code from your authenticator app\.</,
    );
    lk.clock.advance(STEP);
    const wrong = await browser.post('/account/security/recovery-codes', { code: wrongCode(user.secret) });
    expect(wrong.status).toBe(403);
    expect(wrong.html).toContain('id="regenerate-code-error"');
    expect(codesOf(wrong)).toEqual([]);

    const res = await browser.post('/account/security/recovery-codes', { code: nextCode(user.secret) });
    expect(res.status).toBe(200);
    expect(res.text).toContain('New recovery codes; the old ones no longer work.');
    const fresh = codesOf(res);
    expect(fresh).toHaveLength(10);
    for (const code of fresh) expect(user.recoveryCodes).not.toContain(code);

    const old = new Browser(lk);
    await signIn(old, user.email);
    const refused = await old.post('/account/sign-in/mfa', { recovery_code: user.recoveryCodes[1]! });
    expect(refused.status).toBe(401);
    const accepted = await old.post('/account/sign-in/mfa', { recovery_code: fresh[0]! });
    expect(accepted.status).toBe(303);
    expect(accepted.location).toBe('/account/sessions');
  });

  it('disable needs a fresh code: empty 400, wrong 403, right 303; then "Off" and sign-in without a code', async () => {
    const user = await userWithMfa();
    const browser = new Browser(lk);
    await signIn(browser, user.email);
    expect((await browser.post('/account/sign-in/mfa', { code: nextCode(user.secret) })).status).toBe(303);
    const other = await apiMfaLogin(user.email, { code: nextCode(user.secret) });
    expect(other.status).toBe(200);

    const empty = await browser.post('/account/security/totp/disable', { code: '  ' });
    expect(empty.status).toBe(400);
    expect(empty.html).toMatch(/id="disable-code-error"[^>]*>Enter the code from your authenticator app\.</);
    lk.clock.advance(STEP);
    const wrong = await browser.post('/account/security/totp/disable', { code: wrongCode(user.secret) });
    expect(wrong.status).toBe(403);
    expect(wrong.html).toContain('id="disable-code-error"');
    // The code of the last login (one step ago, still in the window) was used: not fresh.
    const replayed = await browser.post('/account/security/totp/disable', {
      code: totpCode(user.secret, nowSeconds() - 30),
    });
    expect(replayed.status).toBe(403);
    expect((await apiSessions(other.json.access_token)).status).toBe(200);

    const res = await browser.post('/account/security/totp/disable', { code: nextCode(user.secret) });
    expect(res.status).toBe(303);
    expect(res.location).toMatch(/^\/account\/security\?notice=mfa_off&n=\d+$/);
    const page = await browser.follow(res);
    expect(page.status).toBe(200);
    expect(page.html).toMatch(/Two-step verification\s*<span class="badge">Off<\/span>/);
    expect(page.text).toContain('Two-step verification is off');
    expect((await apiSessions(other.json.access_token)).status).toBe(401);

    const again = await signIn(new Browser(lk), user.email);
    expect(again.status).toBe(303);
    expect(again.location).toBe('/account/sessions');
  });
});

describe('the pages and the API decide fresh auth alike (RFC 9470 max_age=300)', () => {
  /** Enrolment without a password, through the page and through POST /v1/mfa/totp/enroll, same session. */
  async function enrolAfter(ageSeconds: number) {
    const { browser } = await signedIn();
    lk.clock.advance(ageSeconds * SECOND);
    const security = await browser.get('/account/security');
    const page = await browser.post('/account/security/totp/enroll');
    const api = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: browser.cookie(ACCESS)! });
    return { security, page, api };
  }

  it('an auth_time exactly 300 s old is fresh for both', async () => {
    const { security, page, api } = await enrolAfter(300);
    expect(page.status).toBe(200);
    expect(setupSecretOf(page)).toMatch(/^[A-Z2-7]{32}$/);
    expect(api.status).toBe(200);
    // The security page already asks for the password: its form would be posted after 300 s
    // (FORM_LEAD_SECONDS in src/domain/assurance.ts), and the POST is judged when it comes.
    expect(security.html).toContain('id="enroll-password"');
  });

  it('an auth_time 301 s old is stale for both', async () => {
    const { page, api } = await enrolAfter(301);
    expect(page.status).toBe(400);
    expect(page.text).toContain('Enter your password to continue.');
    expect(setupSecretOf(page)).toBeUndefined();
    expect(api.status).toBe(401);
    expect(api.headers.get('www-authenticate')).toContain('max_age=300');
  });

  it('the security page offers enrolment without a password while the form, posted within 30 s, would still pass', async () => {
    const { browser } = await signedIn();
    lk.clock.advance(270 * SECOND);
    expect((await browser.get('/account/security')).html).not.toContain('id="enroll-password"');
    lk.clock.advance(SECOND);
    expect((await browser.get('/account/security')).html).toContain('id="enroll-password"');
  });
});

describe('activity', () => {
  it('lists the events, newest first, with readable words', async () => {
    const user = await registerUser(lk.app);
    lk.clock.advance(MINUTE);
    const browser = new Browser(lk);
    expect((await signIn(browser, user.email)).status).toBe(303);
    lk.clock.advance(2 * MINUTE);
    const page = await browser.get('/account/activity');
    expect(page.status).toBe(200);
    // The account's first sign-in: no history to call the device new against (issue #20).
    expect(page.text).toContain(
      'Signed in 2 minutes ago · Firefox 133 on Linux · 203.0.113.7 Account created 3 minutes ago',
    );
    expect(page.html).not.toContain('class="alert"');
    expect(page.html).not.toContain('Older activity');
  });

  it('pages with ?cursor= (25 per page), every event once', async () => {
    const { user, browser } = await signedIn();
    for (let i = 0; i < 30; i++) {
      lk.clock.advance(SECOND);
      await lk.store.recordSecurityEvent({
        userId: user.id,
        type: 'step_up',
        ...NO_ORIGIN,
        at: lk.clock.now(),
      });
    }
    const itemsOf = (page: Page) =>
      (/<ul class="events">([\s\S]*?)<\/ul>/.exec(page.html)?.[1] ?? '').match(/<li>/g)?.length ?? 0;
    const first = await browser.get('/account/activity');
    expect(first.status).toBe(200);
    expect(itemsOf(first)).toBe(25);
    const next = /<a href="(\/account\/activity\?cursor=[^"]+)">Older activity<\/a>/.exec(first.html)?.[1];
    expect(next).toBeTruthy();
    const second = await browser.get(decodeEntities(next!));
    expect(second.status).toBe(200);
    // 30 step-ups, the sign-in and the registration.
    expect(itemsOf(second)).toBe(32 - 25);
    expect(second.text).toContain('Account created');
    expect(second.html).not.toContain('Older activity');
  });

  it('a bad cursor: an error page, not a 500, no stack', async () => {
    const { browser } = await signedIn();
    for (const cursor of ['nope', '%%%', btoa('not a date|x'), 'A'.repeat(500)]) {
      const res = await browser.get(`/account/activity?cursor=${encodeURIComponent(cursor)}`);
      expect(res.status, cursor).toBe(400);
      expect(res.text).toContain('That did not work');
      expect(res.text).toContain('cursor is not valid');
    }
  });

  // BUG: decodeEventCursor (src/services/session-service.ts) takes any 36 of [0-9a-f-] for the id
  // and any date JavaScript can hold; PostgreSQL refuses both (22P02, 22008): a 500.
  it('a cursor that passes the format check but holds no UUID: 400, not a 500', async () => {
    const { browser } = await signedIn();
    const cursor = btoa(`2030-01-01T00:00:00.000Z|${'-'.repeat(36)}`).replace(/=+$/, '');
    const res = await browser.get(`/account/activity?cursor=${encodeURIComponent(cursor)}`);
    expect(res.status).toBe(400);
    expect(res.text).toContain('cursor is not valid');
  });

  it('a cursor with a date PostgreSQL cannot hold: 400, not a 500', async () => {
    const { browser } = await signedIn();
    const cursor = btoa(`-271821-04-20T00:00:00.000Z|${crypto.randomUUID()}`).replace(/=+$/, '');
    const res = await browser.get(`/account/activity?cursor=${encodeURIComponent(cursor)}`);
    expect(res.status).toBe(400);
    expect(res.text).toContain('cursor is not valid');
  });
});

describe('sign out', () => {
  it('revokes the session, clears the cookies and says so', async () => {
    const { user, browser, sid } = await signedIn({ remember: true });
    const refreshToken = browser.cookie(REFRESH)!;
    const accessToken = browser.cookie(ACCESS)!;
    const keep = await login(lk.app, user.email);
    const stale = browser.clone();

    const res = await browser.post('/account/sign-out');
    expect(res.status).toBe(303);
    expect(res.location).toBe('/account/sign-in?notice=signed_out');
    expectCleared(res, REFRESH);
    expectCleared(res, ACCESS);
    expect(browser.cookie(REFRESH)).toBeUndefined();
    expect(browser.cookie(ACCESS)).toBeUndefined();
    expect(browser.cookie(CSRF)).toBeDefined();
    expect(await liveSessionIds(user.id)).toEqual([keep.session_id]);
    expect(await liveSessionIds(user.id)).not.toContain(sid);
    expect((await refresh(lk.app, refreshToken)).status).toBe(401);
    expect((await apiSessions(accessToken)).status).toBe(401);

    const page = await browser.follow(res);
    expect(page.status).toBe(200);
    expect(page.text).toContain('You are signed out.');
    expect((await browser.get('/account/sessions')).location).toBe('/account/sign-in');
    // The old cookies, kept by someone, open nothing.
    const replay = await stale.get('/account/sessions');
    expect(replay.status).toBe(303);
    expect(replay.location).toBe('/account/sign-in?notice=ended');
  });

  it('signed out already: still 303 to sign in', async () => {
    const browser = new Browser(lk);
    await browser.get('/account/sign-in');
    const res = await browser.post('/account/sign-out');
    expect(res.status).toBe(303);
    expect(res.location).toBe('/account/sign-in?notice=signed_out');
  });
});

describe('without a session', () => {
  it('GET /account goes to the devices page, and every page to sign in', async () => {
    const browser = new Browser(lk);
    const root = await browser.get('/account');
    expect(root.status).toBe(303);
    expect(root.location).toBe('/account/sessions');
    for (const path of [
      '/account/sessions',
      '/account/security',
      '/account/activity',
      '/account/sessions/sign-out-others',
    ]) {
      const res = await browser.get(path);
      expect(res.status, path).toBe(303);
      expect(res.location, path).toBe('/account/sign-in');
      expect(res.html).toBe('');
    }
  });

  it('a form post with a valid CSRF token but no session goes to sign in and does nothing', async () => {
    const { user } = await signedIn();
    const victim = await login(lk.app, user.email);
    const browser = new Browser(lk);
    await browser.get('/account/sign-in');
    for (const path of [
      `/account/sessions/${victim.session_id}/revoke`,
      '/account/sessions/sign-out-others',
      '/account/security/totp/enroll',
      '/account/security/password',
    ]) {
      const res = await browser.post(path, {
        current_password: PASSWORD,
        new_password: 'another long passphrase 99',
      });
      expect(res.status, path).toBe(303);
      expect(res.location, path).toBe('/account/sign-in');
    }
    expect((await apiSessions(victim.access_token)).status).toBe(200);
  });
});

describe('errors', () => {
  let failure: Error | undefined;
  let broken: Latchkey;
  beforeAll(async () => {
    broken = await buildLatchkey(database.current, {
      clock: lk.clock,
      wrapStore: (store: Store): Store => ({
        ...store,
        listSessions: async (...args) => {
          if (failure) throw failure;
          return store.listSessions(...args);
        },
      }),
    });
  });

  it('an internal failure: an HTML 500 page, no stack, no error text', async () => {
    const { browser } = await signedIn({}, broken);
    failure = new Error('kaboom: secret internals at listSessions');
    try {
      const res = await browser.get('/account/sessions');
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.text).toContain('Something went wrong');
      expect(res.text).toContain('The server could not finish this request. Try again.');
      expect(res.html).not.toContain('kaboom');
      expect(res.html).not.toContain('secret internals');
      expect(res.html).not.toMatch(/\n\s+at /);
    } finally {
      failure = undefined;
    }
    expect((await browser.get('/account/sessions')).status).toBe(200);
  });

  it('a database outage: 503 "Temporarily unavailable", no error text', async () => {
    const { browser } = await signedIn({}, broken);
    const outages = [
      Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' }),
      new Error('Failed query: select … params: someone@example.com', {
        cause: Object.assign(new Error('terminating connection due to administrator command'), {
          code: '57P01',
        }),
      }),
      new Error('PGlite is closed'),
    ];
    try {
      for (const outage of outages) {
        failure = outage;
        const res = await browser.get('/account/sessions');
        expect(res.status, outage.message).toBe(503);
        expect(res.headers.get('content-type')).toMatch(/^text\/html/);
        expect(res.text).toContain('Temporarily unavailable');
        expect(res.text).toContain('The service cannot reach its database. Try again in a moment.');
        expect(res.html).not.toContain('ECONNREFUSED');
        expect(res.html).not.toContain('57P01');
        expect(res.html).not.toContain('someone@example.com');
        expect(res.html).not.toContain('PGlite');
      }
    } finally {
      failure = undefined;
    }
  });
});
