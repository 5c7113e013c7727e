import { and, eq, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { outbox, users } from '../../src/adapters/db/schema.js';
import { unsealMailMessage } from '../../src/services/mail-sealing.js';
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
import { KEYS } from './password-reset-harness.js';

/**
 * The address pages (issue #17, flow 5), without JavaScript: the links of the verification,
 * change and "this wasn't me" mails, each moved out of the URL into a cookie and used only by
 * the button's POST (a mail scanner's GET uses nothing up), and on the Security page the
 * address, its confirmation link again and the change of address with its fresh sign-in. The
 * service's own rules are pinned in email-address.test.ts; here, that the pages show them.
 */

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current, { env: { PASSWORD_RESETS_PER_IP: '100000' } });
});

const MINUTE = 60_000;
const VERIFY_COOKIE = '__Host-latchkey_account_verify';
const CHANGE_COOKIE = '__Host-latchkey_account_change';
const REVERT_COOKIE = '__Host-latchkey_account_revert';
const HOSTILE = '"><script>alert(1)</script>@evil.example';

/** The token in the link of the user's newest mail of `kind`, read as the recipient would. */
async function tokenOf(userId: string, kind: string): Promise<string> {
  const row = (await mailRows(userId, kind)).at(-1);
  if (!row) throw new Error(`no ${kind} mail for ${userId}`);
  const mail = await unsealMailMessage(await KEYS, row.id, row.payload!);
  return new URL(mail.text.match(/http:\/\/localhost:3000\/account\/\S+/)![0]).searchParams.get('token')!;
}

const mailRows = (userId: string, kind: string) =>
  database.current.db
    .select()
    .from(outbox)
    .where(and(eq(outbox.userId, userId), eq(outbox.kind, kind)))
    .orderBy(outbox.createdAt, outbox.id);

async function mailsOf(userId: string, kind: string) {
  const keys = await KEYS;
  return Promise.all(
    (await mailRows(userId, kind)).map((row) => unsealMailMessage(keys, row.id, row.payload!)),
  );
}

const userRow = async (id: string) =>
  (await database.current.db.select().from(users).where(eq(users.id, id)))[0]!;

async function eventTypes(userId: string): Promise<string[]> {
  const result = await database.current.db.execute(
    sql`SELECT type FROM security_events WHERE user_id = ${userId} ORDER BY created_at, type`,
  );
  return rowsOf<{ type: string }>(result).map((row) => row.type);
}

const nowSeconds = () => Math.floor(lk.clock.now().getTime() / 1000);
const codeNow = (secret: string) => totpCode(secret, nowSeconds());
function wrongCode(secret: string): string {
  const valid = new Set([-1, 0, 1].map((steps) => totpCode(secret, nowSeconds() + steps * 30)));
  return ['000000', '111111', '222222', '333333'].find((code) => !valid.has(code))!;
}

/** Opens a link as a mail client hands it over: 303 to the same page without the token, then its button page. */
async function openLink(browser: Browser, path: string, token: string): Promise<Page> {
  const landed = await browser.get(`${path}?token=${encodeURIComponent(token)}`);
  expect(landed.status).toBe(303);
  expect(landed.location).toBe(path);
  const page = await browser.follow(landed);
  expect(page.status).toBe(200);
  expect(page.html).toContain(`action="${path}"`);
  expect(page.html).not.toContain(token);
  return page;
}

/** Signs a browser in through the pages (with the code step for an account with TOTP). */
async function signIn(browser: Browser, email: string, secret?: string): Promise<void> {
  if (!browser.cookie(CSRF)) expect((await browser.get('/account/sign-in')).status).toBe(200);
  const first = await browser.post('/account/sign-in', { email, password: PASSWORD });
  expect(first.status).toBe(303);
  if (secret) {
    expect(first.location).toBe('/account/sign-in/mfa');
    const second = await browser.post('/account/sign-in/mfa', { code: codeNow(secret) });
    expect(second.status).toBe(303);
  }
  expect(browser.cookie(REFRESH)).toBeDefined();
}

async function signedIn() {
  const user = await registerUser(lk.app);
  const browser = new Browser(lk);
  await signIn(browser, user.email);
  return { user, browser };
}

/** A user with TOTP active (through the JSON API), signed in through the pages with a code. */
async function signedInWithMfa() {
  const user = await registerUser(lk.app);
  const pair = await login(lk.app, user.email);
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
  const secret: string = enrolled.json.secret;
  const activated = await call(lk.app, '/v1/mfa/totp/activate', {
    body: { code: codeNow(secret) },
    token: pair.access_token,
  });
  expect(activated.status).toBe(200);
  // A code may not be used twice (RFC 6238 §5.2): the sign-in's code comes a step on.
  lk.clock.advance(30_000);
  const browser = new Browser(lk);
  await signIn(browser, user.email, secret);
  lk.clock.advance(30_000);
  return { user, browser, secret };
}

/** An email change asked for through the JSON API; its two tokens read from the mails. */
async function changeRequested(user: { id: string; email: string }, to = uniqueEmail('moved')) {
  const pair = await login(lk.app, user.email);
  const asked = await call(lk.app, '/v1/users/me/email', {
    token: pair.access_token,
    body: { email: to, password: PASSWORD },
  });
  expect(asked.status, JSON.stringify(asked.json)).toBe(202);
  return {
    to: to.toLowerCase(),
    pair,
    confirm: await tokenOf(user.id, 'confirm_email_change'),
    revert: await tokenOf(user.id, 'email_change_notice'),
  };
}

function expectLinkCookie(page: Page, name: string, token: string) {
  const cookie = setCookieOf(page, name)!;
  expect(cookie.value).toBe(token);
  expect(cookie.attributes.get('httponly')).toBe(true);
  expect(cookie.attributes.get('secure')).toBe(true);
  expect(cookie.attributes.get('samesite')).toBe('Lax');
  expect(cookie.attributes.get('path')).toBe('/');
  expect(cookie.attributes.get('domain')).toBeUndefined();
  // The time to read one page, not the token's whole life (days for these links).
  expect(cookie.attributes.get('max-age')).toBe('1800');
}

// ---------------------------------------------------------------------------------------------

describe('the verification link', () => {
  it('moves the token into a __Host- Lax cookie; GETs use nothing up; the button confirms the address once', async () => {
    const user = await registerUser(lk.app);
    const token = await tokenOf(user.id, 'verify_email');
    const browser = new Browser(lk);
    const landed = await browser.get(`/account/email/verify?token=${token}`);
    expect(landed.status).toBe(303);
    expect(landed.location).toBe('/account/email/verify');
    expect(landed.headers.get('referrer-policy')).toBe('no-referrer');
    expectLinkCookie(landed, VERIFY_COOKIE, token);
    const page = await browser.follow(landed);
    expect(page.text).toContain('Confirm your address');
    expect(page.html).toMatch(/<button type="submit">Confirm my address<\/button>/);
    expect(page.html).not.toContain(token);

    // A mail scanner fetches the link, twice, from elsewhere; the person opens it again.
    const scanner = new Browser(lk);
    await openLink(scanner, '/account/email/verify', token);
    await openLink(scanner, '/account/email/verify', token);
    await openLink(browser, '/account/email/verify', token);
    expect((await userRow(user.id)).emailVerifiedAt).toBeNull();

    const done = await browser.post('/account/email/verify');
    expect(done.status).toBe(200);
    expect(done.text).toContain('Address confirmed');
    expect(done.text).toContain(`${user.email} is confirmed`);
    expect(done.html).toContain('href="/account/security"');
    expect(done.html).toContain('href="/account/sign-in"');
    expectCleared(done, VERIFY_COOKIE);
    expect((await userRow(user.id)).emailVerifiedAt).toEqual(lk.clock.now());
    expect(await eventTypes(user.id)).toContain('email_verified');

    // Used: the scanner's copy, and the link opened again, get the invalid-link page.
    const late = await scanner.post('/account/email/verify');
    expect(late.status).toBe(400);
    expect(late.text).toContain('This link cannot be used');
    expectCleared(late, VERIFY_COOKIE);
  });

  it('a malformed link, a token of another kind, no cookie, or an unknown token: one page offering a new link', async () => {
    const user = await registerUser(lk.app);
    const token = await tokenOf(user.id, 'verify_email');
    const browser = new Browser(lk);
    for (const bad of [
      token.slice(0, -1),
      `${token}A`,
      `lkc_${token.slice(4)}`,
      `lkr_${token.slice(4)}`,
      '',
      'x'.repeat(5000),
    ]) {
      const page = await browser.get(`/account/email/verify?token=${encodeURIComponent(bad)}`);
      expect(page.status).toBe(400);
      expect(page.text).toContain('This link cannot be used');
      expect(page.html).toContain('action="/account/email/verify/resend"');
      expect(page.html).not.toContain('action="/account/email/verify"');
      expect(browser.cookie(VERIFY_COOKIE)).toBeUndefined();
    }
    expect((await browser.get('/account/email/verify')).status).toBe(400);
    expect((await browser.post('/account/email/verify')).status).toBe(400);

    await openLink(browser, '/account/email/verify', `lkv_${'A'.repeat(43)}`);
    const forged = await browser.post('/account/email/verify');
    expect(forged.status).toBe(400);
    expectCleared(forged, VERIFY_COOKIE);
    expect((await userRow(user.id)).emailVerifiedAt).toBeNull();
  });

  it('the button posted cross-site or without the CSRF field: 403, the address unconfirmed, the link still works', async () => {
    const user = await registerUser(lk.app);
    const browser = new Browser(lk);
    await openLink(browser, '/account/email/verify', await tokenOf(user.id, 'verify_email'));
    const crossSite = await browser.post(
      '/account/email/verify',
      {},
      { site: 'cross-site', origin: 'https://evil.example' },
    );
    expect(crossSite.status).toBe(403);
    expect((await browser.post('/account/email/verify', {}, { csrf: null })).status).toBe(403);
    expect((await browser.post('/account/email/verify', {}, { csrf: 'x'.repeat(43) })).status).toBe(403);
    expect((await userRow(user.id)).emailVerifiedAt).toBeNull();
    expect((await browser.post('/account/email/verify')).status).toBe(200);
  });

  it('a new link from the invalid-link page: the same answer for every address; only an unconfirmed account gets mail', async () => {
    const user = await registerUser(lk.app);
    const stranger = uniqueEmail('nobody');
    const browser = new Browser(lk);
    expect((await browser.get('/account/email/verify')).status).toBe(400);
    lk.clock.advance(1000);
    const known = await browser.post('/account/email/verify/resend', { email: user.email });
    const unknown = await browser.post('/account/email/verify/resend', { email: stranger });
    expect(known.status).toBe(200);
    expect(known.text).toContain('Check your email');
    expect(known.text).toContain('for 2 days');
    expect(unknown.text.replace(stranger, 'X')).toBe(known.text.replace(user.email, 'X'));
    expect(await mailsOf(user.id, 'verify_email')).toHaveLength(2);

    // The new link works, and the first one no longer does.
    await openLink(browser, '/account/email/verify', await tokenOf(user.id, 'verify_email'));
    expect((await browser.post('/account/email/verify')).status).toBe(200);

    const empty = await browser.post('/account/email/verify/resend', { email: ' ' });
    expect(empty.status).toBe(400);
    expect(empty.text).toContain('Enter your email address.');
    const malformed = await browser.post('/account/email/verify/resend', { email: 'not-an-address' });
    expect(malformed.status).toBe(400);
    expect(malformed.html).toMatch(/id="resend-email"[^>]*aria-invalid="true"/);
    expect((await browser.post('/account/email/verify/resend', { email: 'e'.repeat(5000) })).status).toBe(
      400,
    );
    const hostile = await browser.post('/account/email/verify/resend', { email: HOSTILE });
    expect(hostile.status).toBe(200);
    expect(hostile.html).not.toContain('<script>alert');
    expect(hostile.html).toContain('&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@evil.example');
  });

  it('past the per-network limit, the new-link form answers 429 with Retry-After', async () => {
    const limited = await buildLatchkey(database.current, {
      clock: lk.clock,
      clientIp: '198.51.100.78',
      env: { PASSWORD_RESETS_PER_IP: '1' },
    });
    const browser = new Browser(limited);
    await browser.get('/account/email/verify');
    expect((await browser.post('/account/email/verify/resend', { email: uniqueEmail('a') })).status).toBe(
      200,
    );
    const throttled = await browser.post('/account/email/verify/resend', { email: uniqueEmail('b') });
    expect(throttled.status).toBe(429);
    expect(throttled.text).toMatch(/Too many attempts\. Try again in \d+ minutes\./);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('the link that confirms a new address', () => {
  it('GETs use nothing up; the button makes the change, shown with the new address', async () => {
    const user = await registerUser(lk.app);
    const change = await changeRequested(user);
    const browser = new Browser(lk);
    const landed = await browser.get(`/account/email/confirm?token=${change.confirm}`);
    expectLinkCookie(landed, CHANGE_COOKIE, change.confirm);
    const page = await browser.follow(landed);
    expect(page.text).toContain('Confirm your new address');
    await openLink(new Browser(lk), '/account/email/confirm', change.confirm);
    await openLink(browser, '/account/email/confirm', change.confirm);
    expect((await userRow(user.id)).email).toBe(user.email);

    const done = await browser.post('/account/email/confirm');
    expect(done.status).toBe(200);
    expect(done.text).toContain('Address changed');
    expect(done.text).toContain(`Your address is now ${change.to}`);
    expectCleared(done, CHANGE_COOKIE);
    expect(await userRow(user.id)).toMatchObject({ email: change.to });
    expect((await userRow(user.id)).emailVerifiedAt).not.toBeNull();

    await openLink(browser, '/account/email/confirm', change.confirm);
    const again = await browser.post('/account/email/confirm');
    expect(again.status).toBe(400);
    expect(again.text).toContain('This link cannot be used');
    expect(again.html).toContain('href="/account/security"');
  });

  it('an address another account took meanwhile: a clear 409 page, nothing changed', async () => {
    const user = await registerUser(lk.app);
    const change = await changeRequested(user);
    await registerUser(lk.app, change.to);
    const browser = new Browser(lk);
    await openLink(browser, '/account/email/confirm', change.confirm);
    const taken = await browser.post('/account/email/confirm');
    expect(taken.status).toBe(409);
    expect(taken.text).toContain('This address is taken');
    expect(taken.text).toContain('your account keeps its address');
    expect((await userRow(user.id)).email).toBe(user.email);
  });

  it('malformed, forged, of another kind, or without a cookie: the invalid-link page; cross-site: 403', async () => {
    const user = await registerUser(lk.app);
    const change = await changeRequested(user);
    const browser = new Browser(lk);
    for (const bad of [change.confirm.slice(0, -1), change.revert, `lkv_${change.confirm.slice(4)}`]) {
      const page = await browser.get(`/account/email/confirm?token=${encodeURIComponent(bad)}`);
      expect(page.status).toBe(400);
      expect(page.text).toContain('This link cannot be used');
      expect(browser.cookie(CHANGE_COOKIE)).toBeUndefined();
    }
    expect((await browser.post('/account/email/confirm')).status).toBe(400);
    await openLink(browser, '/account/email/confirm', `lkc_${'B'.repeat(43)}`);
    expect((await browser.post('/account/email/confirm')).status).toBe(400);

    await openLink(browser, '/account/email/confirm', change.confirm);
    const crossSite = await browser.post(
      '/account/email/confirm',
      {},
      { site: 'cross-site', origin: 'https://evil.example' },
    );
    expect(crossSite.status).toBe(403);
    expect((await userRow(user.id)).email).toBe(user.email);
    expect((await browser.post('/account/email/confirm')).status).toBe(200);
  });
});

describe('the "this wasn\'t me" link', () => {
  it('says what will happen; GETs use nothing up; the button puts the address back, signs every device out and leads to a new password', async () => {
    const user = await registerUser(lk.app);
    const browser = new Browser(lk);
    await signIn(browser, user.email);
    const change = await changeRequested(user);
    expect(
      (await call(lk.app, '/v1/auth/email/change/confirm', { body: { token: change.confirm } })).status,
    ).toBe(200);
    expect((await userRow(user.id)).email).toBe(change.to);

    const landed = await browser.get(`/account/email/revert?token=${change.revert}`);
    expectLinkCookie(landed, REVERT_COOKIE, change.revert);
    const page = await browser.follow(landed);
    expect(page.text).toContain('Undo the change of your address');
    expect(page.text).toContain('every device signed in to your account is signed out');
    await openLink(new Browser(lk), '/account/email/revert', change.revert);
    await openLink(browser, '/account/email/revert', change.revert);
    expect((await userRow(user.id)).email).toBe(change.to);
    expect((await refresh(lk.app, change.pair.refresh_token)).status).toBe(200);

    const done = await browser.post('/account/email/revert');
    expect(done.status).toBe(200);
    expect(done.text).toContain(`Your address is ${user.email} again, and every device was signed out`);
    expect(done.html).toMatch(
      /<a class="button" href="\/account\/password\/forgot">\s*Choose a new password\s*<\/a>/,
    );
    expectCleared(done, REVERT_COOKIE);
    expectCleared(done, REFRESH);
    expectCleared(done, ACCESS);
    expect((await userRow(user.id)).email).toBe(user.email);
    expect(await eventTypes(user.id)).toContain('email_change_reverted');
    expect((await call(lk.app, '/v1/users/me', { token: change.pair.access_token })).status).toBe(401);
    expect((await browser.get('/account/security')).location).toBe('/account/sign-in');

    await openLink(browser, '/account/email/revert', change.revert);
    const again = await browser.post('/account/email/revert');
    expect(again.status).toBe(400);
    expect(again.text).toContain('This link cannot be used');
  });

  it('a bad link: the invalid-link page; cross-site or without CSRF: 403 and nothing changed', async () => {
    const user = await registerUser(lk.app);
    const change = await changeRequested(user);
    const browser = new Browser(lk);
    expect((await browser.get(`/account/email/revert?token=${change.confirm}`)).status).toBe(400);
    expect((await browser.get('/account/email/revert')).status).toBe(400);
    await openLink(browser, '/account/email/revert', change.revert);
    expect(
      (
        await browser.post(
          '/account/email/revert',
          {},
          { site: 'cross-site', origin: 'https://evil.example' },
        )
      ).status,
    ).toBe(403);
    expect((await browser.post('/account/email/revert', {}, { csrf: null })).status).toBe(403);
    expect((await refresh(lk.app, change.pair.refresh_token)).status).toBe(200);
    // The pending change is still there to confirm: the revert did not run.
    expect(
      (await call(lk.app, '/v1/auth/email/change/confirm', { body: { token: change.confirm } })).status,
    ).toBe(200);
  });
});

describe('the Security page', () => {
  it('shows the address, unconfirmed with a button for the link again; confirmed once the link is used', async () => {
    const { user, browser } = await signedIn();
    const page = await browser.get('/account/security');
    expect(page.status).toBe(200);
    expect(page.text).toContain(`Email address ${user.email} Not confirmed`);
    expect(page.html).toContain('action="/account/security/email/resend"');
    expect(page.html).toContain('Send the confirmation link again');

    lk.clock.advance(1000);
    const sent = await browser.post('/account/security/email/resend');
    expect(sent.status).toBe(200);
    expect(sent.text).toContain(`A new confirmation link is on its way to ${user.email}`);
    expect(await mailsOf(user.id, 'verify_email')).toHaveLength(2);

    await openLink(browser, '/account/email/verify', await tokenOf(user.id, 'verify_email'));
    expect((await browser.post('/account/email/verify')).status).toBe(200);
    const after = await browser.get('/account/security');
    expect(after.text).toContain(`Email address ${user.email} Confirmed`);
    expect(after.html).not.toContain('action="/account/security/email/resend"');
  });

  it('the change form with a fresh sign-in: the link goes to the new address, a notice to the old; nothing changes yet', async () => {
    const { user, browser } = await signedIn();
    const page = await browser.get('/account/security');
    expect(page.html).toContain('action="/account/security/email"');
    expect(page.html).toMatch(/<input id="email-email" name="email" type="email"/);
    expect(page.html).toMatch(/<input id="email-password" name="password" type="password"/);
    expect(page.html).not.toContain('id="email-code"');

    const moved = uniqueEmail('moved');
    const done = await browser.post('/account/security/email', { email: moved, password: PASSWORD });
    expect(done.status).toBe(200);
    expect(done.text).toContain(
      `We sent a link to ${moved.toLowerCase()}. The change happens when you use it`,
    );
    expect(done.text).toContain(`until then your address stays ${user.email}`);
    expect(done.html).toMatch(/id="email-email"[^>]*value=""/);
    const [confirm] = await mailsOf(user.id, 'confirm_email_change');
    expect(confirm!.to).toBe(moved.toLowerCase());
    const [notice] = await mailsOf(user.id, 'email_change_notice');
    expect(notice!.to).toBe(user.email);
    expect((await userRow(user.id)).email).toBe(user.email);
  });

  it('the change form past the fresh sign-in: the password steps the session up; a wrong one is shown and sends nothing', async () => {
    const { user, browser } = await signedIn();
    lk.clock.advance(10 * MINUTE);
    const moved = uniqueEmail('moved');
    const wrong = await browser.post('/account/security/email', {
      email: moved,
      password: 'not the password',
    });
    expect(wrong.status).toBe(403);
    expect(wrong.text).toContain('The password is incorrect');
    expect(wrong.html).toMatch(/id="email-password"[^>]*aria-invalid="true"/);
    expect(wrong.html).toContain(`value="${moved}"`);
    expect(wrong.html).not.toContain('not the password');
    expect(await mailsOf(user.id, 'confirm_email_change')).toHaveLength(0);

    const done = await browser.post('/account/security/email', { email: moved, password: PASSWORD });
    expect(done.status).toBe(200);
    expect(done.text).toContain(`We sent a link to ${moved.toLowerCase()}`);
    expect(await mailsOf(user.id, 'confirm_email_change')).toHaveLength(1);
    expect(await eventTypes(user.id)).toEqual(expect.arrayContaining(['step_up', 'email_change_requested']));
  });

  it('with MFA past the fresh sign-in: the form asks for a code; none or a wrong one is shown; the right one steps up and sends', async () => {
    const { user, browser, secret } = await signedInWithMfa();
    // Fresh from the sign-in's code: no code field.
    expect((await browser.get('/account/security')).html).not.toContain('id="email-code"');
    lk.clock.advance(10 * MINUTE);
    const page = await browser.get('/account/security');
    expect(page.html).toMatch(/<input id="email-code" name="code"/);

    const moved = uniqueEmail('moved');
    const noCode = await browser.post('/account/security/email', { email: moved, password: PASSWORD });
    expect(noCode.status).toBe(401);
    expect(noCode.html).toMatch(/id="email-code"[^>]*aria-invalid="true"/);
    const wrong = await browser.post('/account/security/email', {
      email: moved,
      password: PASSWORD,
      code: wrongCode(secret),
    });
    expect(wrong.status).toBe(403);
    expect(wrong.text).toContain('The code is not valid');
    expect(await mailsOf(user.id, 'confirm_email_change')).toHaveLength(0);

    const done = await browser.post('/account/security/email', {
      email: moved,
      password: PASSWORD,
      code: codeNow(secret),
    });
    expect(done.status).toBe(200);
    expect(done.text).toContain(`We sent a link to ${moved.toLowerCase()}`);
    // The session is fresh at aal2 again: the page shown next asks no code.
    expect(done.html).not.toContain('id="email-code"');
    expect(await mailsOf(user.id, 'confirm_email_change')).toHaveLength(1);
  });

  it('bad input on the form: each error at its field, never a 500, nothing sent', async () => {
    const { user, browser } = await signedIn();
    const other = await registerUser(lk.app);
    const cases: [Record<string, string>, number, RegExp][] = [
      [{ email: '', password: PASSWORD }, 400, /Enter the new address\./],
      [{ email: 'no-at-sign', password: PASSWORD }, 400, /Enter an email address/],
      [{ email: `${'e'.repeat(250)}@example.com`, password: PASSWORD }, 400, /Enter an email address/],
      [{ email: uniqueEmail(), password: '' }, 400, /Enter your current password\./],
      [{ email: uniqueEmail(), password: 'p'.repeat(2000) }, 400, /Enter your current password\./],
      [{ email: user.email.toUpperCase(), password: PASSWORD }, 400, /already the address of the account/],
      [{ email: other.email, password: PASSWORD }, 409, /Another account has this address\./],
      [{ email: `a\u0000@example.com`, password: PASSWORD }, 400, /not allowed/],
    ];
    for (const [fields, status, text] of cases) {
      const page = await browser.post('/account/security/email', fields);
      expect(page.status, JSON.stringify(fields)).toBe(status);
      expect(page.text).toMatch(text);
    }
    expect(await mailsOf(user.id, 'confirm_email_change')).toHaveLength(0);
  });

  it('the forms posted cross-site or without the CSRF field: 403, nothing sent', async () => {
    const { user, browser } = await signedIn();
    const fields = { email: uniqueEmail('moved'), password: PASSWORD };
    expect(
      (
        await browser.post('/account/security/email', fields, {
          site: 'cross-site',
          origin: 'https://evil.example',
        })
      ).status,
    ).toBe(403);
    expect((await browser.post('/account/security/email', fields, { csrf: null })).status).toBe(403);
    expect((await browser.post('/account/security/email/resend', {}, { csrf: null })).status).toBe(403);
    expect(await mailsOf(user.id, 'confirm_email_change')).toHaveLength(0);
    expect(await mailsOf(user.id, 'verify_email')).toHaveLength(1);
  });

  it('signed out, the forms send the browser to sign in', async () => {
    const browser = new Browser(lk);
    await browser.get('/account/sign-in');
    const res = await browser.post('/account/security/email', { email: uniqueEmail(), password: PASSWORD });
    expect(res.status).toBe(303);
    expect(res.location).toBe('/account/sign-in');
  });

  it('past the per-account limit of changes: 429 with the wait on top of the form', async () => {
    const limited = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { PASSWORD_RESETS_PER_ADDRESS: '1', PASSWORD_RESETS_PER_IP: '100000' },
    });
    const user = await registerUser(limited.app);
    const browser = new Browser(limited);
    await signIn(browser, user.email);
    expect(
      (await browser.post('/account/security/email', { email: uniqueEmail('a'), password: PASSWORD })).status,
    ).toBe(200);
    const throttled = await browser.post('/account/security/email', {
      email: uniqueEmail('b'),
      password: PASSWORD,
    });
    expect(throttled.status).toBe(429);
    expect(throttled.text).toMatch(/Too many attempts\. Try again in \d+ minutes\./);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('a hostile address is escaped everywhere it is shown: the notice, the confirmed page, the header', async () => {
    const { user, browser } = await signedIn();
    const done = await browser.post('/account/security/email', { email: HOSTILE, password: PASSWORD });
    expect(done.status).toBe(200);
    const escaped = '&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@evil.example';
    expect(done.html).not.toContain('<script>alert');
    expect(done.html).toContain(escaped);

    await openLink(browser, '/account/email/confirm', await tokenOf(user.id, 'confirm_email_change'));
    const changed = await browser.post('/account/email/confirm');
    expect(changed.status).toBe(200);
    expect(changed.html).not.toContain('<script>alert');
    expect(changed.html).toContain(escaped);
    const security = await browser.get('/account/security');
    expect(security.html).not.toContain('<script>alert');
    expect(security.text).toContain(`Email address ${HOSTILE} Confirmed`);
  });
});
