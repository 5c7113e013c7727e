import { beforeAll, describe, expect, it } from 'vitest';
import { call, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, uniqueEmail, useDatabase } from '../support/harness.js';
import { totpCode } from '../support/totp.js';
import {
  ACCESS,
  Browser,
  CSRF,
  expectCleared,
  type Page,
  REFRESH,
  setCookieOf,
} from './account-pages-browser.js';
import { NEW_PASSWORD, resetTools } from './password-reset-harness.js';

/**
 * Forgot password on the account pages (issue #17, flow 5), without JavaScript: the link on
 * the sign-in page, the same answer for every address, the link's token moved out of the URL
 * into a cookie, the new password, the code step of an account with TOTP, and every bad link
 * on one clear page. The service's own rules (the token's life, the limits) are pinned in
 * password-reset*.test.ts; here, that the pages show them and keep the secrets out of HTML.
 */

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current, { env: { PASSWORD_RESETS_PER_IP: '100000' } });
});

const MINUTE = 60_000;
const RESET = '__Host-latchkey_account_reset';
const { mailsOf, latestToken, passwordHashOf, eventTypes } = resetTools(
  () => database.current,
  () => lk.app,
);

const nowSeconds = () => Math.floor(lk.clock.now().getTime() / 1000);
const codeNow = (secret: string) => totpCode(secret, nowSeconds());
/** A code valid in none of the steps the server accepts now (−1, 0, +1). */
function wrongCode(secret: string): string {
  const valid = new Set([-1, 0, 1].map((steps) => totpCode(secret, nowSeconds() + steps * 30)));
  return ['000000', '111111', '222222', '333333'].find((code) => !valid.has(code))!;
}

/** Asks for a link through the forgot form; the page is the same whatever the address. */
async function askForLink(browser: Browser, email: string): Promise<Page> {
  if (!browser.cookie(CSRF)) expect((await browser.get('/account/password/forgot')).status).toBe(200);
  return browser.post('/account/password/forgot', { email });
}

/** Opens a reset link as a mail client would hand it over: 303 to the page without the token. */
async function openLink(browser: Browser, token: string): Promise<Page> {
  const landed = await browser.get(`/account/password/reset?token=${encodeURIComponent(token)}`);
  expect(landed.status).toBe(303);
  expect(landed.location).toBe('/account/password/reset');
  const form = await browser.follow(landed);
  expect(form.status).toBe(200);
  return form;
}

/** A user who asked for a link through the pages, with its token read from the mail. */
async function userWithLink(user?: { email: string; id: string }) {
  const owner = user ?? (await registerUser(lk.app));
  const browser = new Browser(lk);
  // Mails are read newest first by creation time: a second link for one user must come later.
  lk.clock.advance(1000);
  expect((await askForLink(browser, owner.email)).status).toBe(200);
  return { user: owner, browser, token: await latestToken(owner.id) };
}

/** A registered user with TOTP active, through the JSON API. */
async function userWithMfa() {
  const user = await registerUser(lk.app);
  const pair = await login(lk.app, user.email);
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
  const secret: string = enrolled.json.secret;
  const activated = await call(lk.app, '/v1/mfa/totp/activate', {
    body: { code: codeNow(secret) },
    token: pair.access_token,
  });
  expect(activated.status).toBe(200);
  // The activation's code may not be used twice (RFC 6238 §5.2): later codes come a step on.
  lk.clock.advance(30_000);
  return { ...user, secret, recoveryCodes: activated.json.recovery_codes as string[] };
}

const apiLogin = (email: string, password: string) =>
  call(lk.app, '/v1/auth/login', { body: { email, password } });

/** The invalid-link page: 400, a way to ask for a new link, no form that uses the token. */
function expectInvalidLink(page: Page) {
  expect(page.status).toBe(400);
  expect(page.text).toContain('This link cannot be used');
  expect(page.html).toContain('href="/account/password/forgot"');
  expect(page.html).not.toContain('action="/account/password/reset"');
}

describe('the way in', () => {
  it('the sign-in page links to "Forgot password?"; its page is a form for the address', async () => {
    const browser = new Browser(lk);
    const signIn = await browser.get('/account/sign-in');
    expect(signIn.html).toMatch(/<a href="\/account\/password\/forgot">Forgot password\?<\/a>/);
    const forgot = await browser.get('/account/password/forgot');
    expect(forgot.status).toBe(200);
    expect(forgot.html).toContain('action="/account/password/forgot"');
    expect(forgot.html).toMatch(/<input id="forgot-email" name="email" type="email"/);
    expect(forgot.html).toContain('href="/account/sign-in"');
  });
});

describe('asking for a link', () => {
  it('a known and an unknown address get the same page; only the known one gets a mail', async () => {
    const user = await registerUser(lk.app);
    const stranger = uniqueEmail('nobody');
    const browser = new Browser(lk);
    const known = await askForLink(browser, user.email);
    const unknown = await askForLink(browser, stranger);
    expect(known.status).toBe(200);
    expect(unknown.status).toBe(200);
    expect(known.text).toContain('Check your email');
    expect(known.text).toContain(`If there is an account for ${user.email}`);
    expect(known.text).toContain('for 30 minutes');
    // The same page but for the address it repeats, and no cookie that differs.
    expect(unknown.text.replace(stranger, 'X')).toBe(known.text.replace(user.email, 'X'));
    expect(known.cookies.map((cookie) => cookie.name)).toEqual(unknown.cookies.map((cookie) => cookie.name));
    expect(await mailsOf(user.id, 'password_reset')).toHaveLength(1);
  });

  it('an address with markup is shown escaped', async () => {
    const browser = new Browser(lk);
    const page = await askForLink(browser, '"><b>x</b>@example.com');
    expect(page.status).toBe(200);
    expect(page.html).not.toContain('<b>x</b>');
    expect(page.html).toContain('&quot;&gt;&lt;b&gt;x&lt;/b&gt;@example.com');
  });

  it('an empty or malformed address: 400 with the field error, the input kept, no mail', async () => {
    const user = await registerUser(lk.app);
    const browser = new Browser(lk);
    const empty = await askForLink(browser, '   ');
    expect(empty.status).toBe(400);
    expect(empty.text).toContain('Enter your email address.');
    const malformed = await askForLink(browser, `${user.email}x@`);
    expect(malformed.status).toBe(400);
    expect(malformed.text).toContain('Enter an email address');
    expect(malformed.html).toContain(`value="${user.email}x@"`);
    expect(malformed.html).toMatch(/id="forgot-email"[^>]*aria-invalid="true"/);
    const tooLong = await askForLink(browser, `${'a'.repeat(250)}@example.com`);
    expect(tooLong.status).toBe(400);
    expect(await mailsOf(user.id, 'password_reset')).toHaveLength(0);
  });

  it('past the per-network limit: 429 with Retry-After and "Too many attempts", no mail', async () => {
    const limited = await buildLatchkey(database.current, {
      clock: lk.clock,
      clientIp: '198.51.100.77',
      env: { PASSWORD_RESETS_PER_IP: '2' },
    });
    const user = await registerUser(limited.app);
    const browser = new Browser(limited);
    expect((await askForLink(browser, uniqueEmail('a'))).status).toBe(200);
    expect((await askForLink(browser, uniqueEmail('b'))).status).toBe(200);
    const throttled = await askForLink(browser, user.email);
    expect(throttled.status).toBe(429);
    expect(throttled.text).toMatch(/Too many attempts\. Try again in \d+ minutes\./);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(throttled.html).toContain('action="/account/password/forgot"');
    expect(await mailsOf(user.id, 'password_reset')).toHaveLength(0);
  });
});

describe('opening the link', () => {
  it('moves the token out of the URL into a __Host- HttpOnly cookie; the page never shows it', async () => {
    const { browser, token } = await userWithLink();
    const landed = await browser.get(`/account/password/reset?token=${token}`);
    expect(landed.status).toBe(303);
    expect(landed.location).toBe('/account/password/reset');
    const cookie = setCookieOf(landed, RESET)!;
    expect(cookie.value).toBe(token);
    expect(cookie.attributes.get('httponly')).toBe(true);
    expect(cookie.attributes.get('secure')).toBe(true);
    expect(cookie.attributes.get('samesite')).toBe('Lax');
    expect(cookie.attributes.get('path')).toBe('/');
    expect(cookie.attributes.get('domain')).toBeUndefined();
    expect(cookie.attributes.get('max-age')).toBe('1800');
    // Even a reader of this very response gets no Referer out of the pages.
    expect(landed.headers.get('referrer-policy')).toBe('no-referrer');
    const form = await browser.follow(landed);
    expect(form.status).toBe(200);
    expect(form.html).toContain('action="/account/password/reset"');
    expect(form.html).toMatch(
      /<input id="reset-password" name="password" type="password" autocomplete="new-password"/,
    );
    expect(form.html).not.toContain(token);
    expect(form.html).not.toContain('name="code"');
  });

  it('a truncated or mangled link: the invalid-link page at once, no cookie set', async () => {
    const { browser, token } = await userWithLink();
    for (const bad of [
      token.slice(0, -1),
      `${token}A`,
      token.replace('lkp_', 'lkq_'),
      '',
      'x'.repeat(5000),
    ]) {
      const page = await browser.get(`/account/password/reset?token=${encodeURIComponent(bad)}`);
      expectInvalidLink(page);
      expect(browser.cookie(RESET)).toBeUndefined();
    }
  });

  it('without a link (no cookie): the invalid-link page, and a POST changes nothing', async () => {
    const user = await registerUser(lk.app);
    const browser = new Browser(lk);
    expectInvalidLink(await browser.get('/account/password/reset'));
    const before = await passwordHashOf(user.id);
    expectInvalidLink(await browser.post('/account/password/reset', { password: NEW_PASSWORD }));
    expect(await passwordHashOf(user.id)).toBe(before);
  });
});

describe('setting the new password', () => {
  it('without MFA: 303 to "Password changed" with a sign-in link; every session is over; the new password works, the old does not', async () => {
    const { user, browser, token } = await userWithLink();
    // Signed in elsewhere through the API, and in this very browser through the pages.
    const elsewhere = await login(lk.app, user.email);
    expect((await browser.get('/account/sign-in')).status).toBe(200);
    expect((await browser.post('/account/sign-in', { email: user.email, password: PASSWORD })).status).toBe(
      303,
    );
    expect(browser.cookie(REFRESH)).toBeDefined();

    await openLink(browser, token);
    const done = await browser.post('/account/password/reset', { password: NEW_PASSWORD });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/account/password/changed');
    expectCleared(done, RESET);
    expectCleared(done, REFRESH);
    expectCleared(done, ACCESS);
    const changed = await browser.follow(done);
    expect(changed.status).toBe(200);
    expect(changed.text).toContain('Password changed');
    expect(changed.html).toMatch(/<a class="button" href="\/account\/sign-in">\s*Sign in\s*<\/a>/);

    expect((await refresh(lk.app, elsewhere.refresh_token)).status).toBe(401);
    expect((await call(lk.app, '/v1/users/me', { token: elsewhere.access_token })).status).toBe(401);
    expect((await apiLogin(user.email, PASSWORD)).status).toBe(401);
    const fresh = new Browser(lk);
    expect((await fresh.get('/account/sign-in')).status).toBe(200);
    const signedIn = await fresh.post('/account/sign-in', { email: user.email, password: NEW_PASSWORD });
    expect(signedIn.status).toBe(303);
    expect(signedIn.location).toBe('/account/sessions');
    expect(await eventTypes(user.id)).toContain('password_reset');
  });

  it('the link works once: opened again after the reset, the invalid-link page', async () => {
    const { browser, token } = await userWithLink();
    await openLink(browser, token);
    expect((await browser.post('/account/password/reset', { password: NEW_PASSWORD })).status).toBe(303);
    await openLink(browser, token);
    const again = await browser.post('/account/password/reset', { password: `${NEW_PASSWORD} again` });
    expectInvalidLink(again);
    expectCleared(again, RESET);
  });

  it('an empty or weak password: 400 with the message next to the field; the link still works', async () => {
    const { user, browser, token } = await userWithLink();
    await openLink(browser, token);
    const before = await passwordHashOf(user.id);
    const empty = await browser.post('/account/password/reset', { password: '' });
    expect(empty.status).toBe(400);
    expect(empty.text).toContain('Enter a new password.');
    const weak = await browser.post('/account/password/reset', { password: 'short' });
    expect(weak.status).toBe(400);
    expect(weak.html).toMatch(/id="reset-password"[^>]*aria-invalid="true"/);
    expect(weak.html).not.toContain('value="short"');
    expect(await passwordHashOf(user.id)).toBe(before);
    expect((await browser.post('/account/password/reset', { password: NEW_PASSWORD })).status).toBe(303);
  });

  it('an unknown well-formed token, an expired one, or one replaced by a newer link: the invalid-link page, cookie cleared', async () => {
    const forged = `lkp_${'A'.repeat(43)}`;
    const browser = new Browser(lk);
    await openLink(browser, forged);
    const refused = await browser.post('/account/password/reset', { password: NEW_PASSWORD });
    expectInvalidLink(refused);
    expectCleared(refused, RESET);

    const expired = await userWithLink();
    await openLink(expired.browser, expired.token);
    lk.clock.advance(31 * MINUTE);
    expectInvalidLink(await expired.browser.post('/account/password/reset', { password: NEW_PASSWORD }));

    const replaced = await userWithLink();
    await askForLink(replaced.browser, replaced.user.email);
    await openLink(replaced.browser, replaced.token);
    const before = await passwordHashOf(replaced.user.id);
    expectInvalidLink(await replaced.browser.post('/account/password/reset', { password: NEW_PASSWORD }));
    expect(await passwordHashOf(replaced.user.id)).toBe(before);
  });
});

describe('an account with two-step verification', () => {
  it('asks for a code with the password again; a wrong code is shown and the link still works; the right one finishes', async () => {
    const mfaUser = await userWithMfa();
    const { browser, token } = await userWithLink(mfaUser);
    await openLink(browser, token);
    const before = await passwordHashOf(mfaUser.id);

    const step = await browser.post('/account/password/reset', { password: NEW_PASSWORD });
    expect(step.status).toBe(200);
    expect(step.text).toContain('Your account has two-step verification');
    expect(step.html).toContain('name="code"');
    expect(step.html).toContain('name="recovery_code"');
    expect(step.html).toContain('<input type="hidden" name="second_factor" value="yes"/>');
    // The password is asked again, never carried in the page.
    expect(step.html).not.toContain(NEW_PASSWORD);
    expect(step.html).toMatch(/<input id="reset-password" name="password" type="password"/);

    const noCode = await browser.post('/account/password/reset', {
      password: NEW_PASSWORD,
      second_factor: 'yes',
    });
    expect(noCode.status).toBe(400);
    expect(noCode.text).toContain('Enter the code, or a recovery code.');

    const wrong = await browser.post('/account/password/reset', {
      password: NEW_PASSWORD,
      second_factor: 'yes',
      code: wrongCode(mfaUser.secret),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('The code is not valid');
    expect(wrong.html).toMatch(/id="reset-code"[^>]*aria-invalid="true"/);
    expect(wrong.html).not.toContain(NEW_PASSWORD);
    expect(await passwordHashOf(mfaUser.id)).toBe(before);
    expect(browser.cookie(RESET)).toBe(token);

    const done = await browser.post('/account/password/reset', {
      password: NEW_PASSWORD,
      second_factor: 'yes',
      code: codeNow(mfaUser.secret),
    });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/account/password/changed');
    expect(await passwordHashOf(mfaUser.id)).not.toBe(before);
    expect((await apiLogin(mfaUser.email, NEW_PASSWORD)).json.mfa_required).toBe(true);
  });

  it('a recovery code finishes it too, once', async () => {
    const mfaUser = await userWithMfa();
    const { browser, token } = await userWithLink(mfaUser);
    await openLink(browser, token);
    const done = await browser.post('/account/password/reset', {
      password: NEW_PASSWORD,
      second_factor: 'yes',
      recovery_code: mfaUser.recoveryCodes[0]!,
    });
    expect(done.status).toBe(303);

    const second = await userWithLink(mfaUser);
    await openLink(second.browser, second.token);
    const reused = await second.browser.post('/account/password/reset', {
      password: `${NEW_PASSWORD} two`,
      second_factor: 'yes',
      recovery_code: mfaUser.recoveryCodes[0]!,
    });
    expect(reused.status, reused.text).toBe(401);
    // The recovery part of the form starts open, as that was the factor tried.
    expect(reused.html).toMatch(/<details open/);
  });

  it('a weak password at the code step keeps the code step', async () => {
    const mfaUser = await userWithMfa();
    const { browser, token } = await userWithLink(mfaUser);
    await openLink(browser, token);
    const weak = await browser.post('/account/password/reset', {
      password: 'short',
      second_factor: 'yes',
      code: codeNow(mfaUser.secret),
    });
    expect(weak.status).toBe(400);
    expect(weak.html).toMatch(/id="reset-password"[^>]*aria-invalid="true"/);
    expect(weak.html).toContain('name="code"');
  });
});

describe('CSRF and bad input', () => {
  it('a forgot form without the token or from another site: 403, no mail', async () => {
    const user = await registerUser(lk.app);
    const browser = new Browser(lk);
    await browser.get('/account/password/forgot');
    const missing = await browser.post('/account/password/forgot', { email: user.email }, { csrf: null });
    expect(missing.status).toBe(403);
    const crossSite = await browser.post(
      '/account/password/forgot',
      { email: user.email },
      { site: 'cross-site', origin: 'https://evil.example' },
    );
    expect(crossSite.status).toBe(403);
    expect(await mailsOf(user.id, 'password_reset')).toHaveLength(0);
  });

  it('a reset form posted cross-site or with a wrong token: 403, the password unchanged, the link still works', async () => {
    const { user, browser, token } = await userWithLink();
    await openLink(browser, token);
    const before = await passwordHashOf(user.id);
    const crossSite = await browser.post(
      '/account/password/reset',
      { password: NEW_PASSWORD },
      { site: 'cross-site', origin: 'https://evil.example' },
    );
    expect(crossSite.status).toBe(403);
    const wrong = await browser.post(
      '/account/password/reset',
      { password: NEW_PASSWORD },
      { csrf: 'x'.repeat(43) },
    );
    expect(wrong.status).toBe(403);
    expect(await passwordHashOf(user.id)).toBe(before);
    expect((await browser.post('/account/password/reset', { password: NEW_PASSWORD })).status).toBe(303);
  });

  it('a NUL in a field or an over-long one: a 4xx page, never a 500', async () => {
    const { browser, token } = await userWithLink();
    await openLink(browser, token);
    expect(
      (await browser.post('/account/password/reset', { password: `a\u0000b${NEW_PASSWORD}` })).status,
    ).toBe(400);
    expect((await browser.post('/account/password/reset', { password: 'p'.repeat(2000) })).status).toBe(400);
    expect((await browser.post('/account/password/forgot', { email: `a\u0000@example.com` })).status).toBe(
      400,
    );
    expect((await browser.post('/account/password/forgot', { email: 'e'.repeat(5000) })).status).toBe(400);
  });
});
