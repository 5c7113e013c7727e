import { eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { users } from '../../src/adapters/db/schema.js';
import { call, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, uniqueEmail, useDatabase } from '../support/harness.js';
import { ACCESS, Browser, type Page, REFRESH, setCookieOf } from './account-pages-browser.js';

/**
 * The sign-up page (issue #20), without JavaScript: the same rules as POST /v1/auth/register
 * (the API's body schema and the same service: password policy, the per-network limit, the
 * verification mail), then signed in as after the API's 201 and a login; "check your email"
 * under REQUIRE_EMAIL_VERIFICATION; the CSRF gate of every form; 404 and no link when turned off.
 */

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

const SIGN_UP = '/account/sign-up';

const userByEmail = async (email: string) =>
  (await database.current.db.select().from(users).where(eq(users.email, email)))[0];

/** Opens the form (for its CSRF cookie) and posts it. */
async function signUp(browser: Browser, fields: Record<string, string>): Promise<Page> {
  const form = await browser.get(SIGN_UP);
  expect(form.status).toBe(200);
  return browser.post(SIGN_UP, fields);
}

describe('the sign-up page', () => {
  it('is a plain form: name, email, new password, the CSRF field; linked from sign-in, and back', async () => {
    const browser = new Browser(lk);
    const signIn = await browser.get('/account/sign-in');
    expect(signIn.html).toContain('<a href="/account/sign-up">Create an account</a>');
    expect(signIn.html).toContain('<a href="/account/password/forgot">Forgot password?</a>');

    const page = await browser.get(SIGN_UP);
    expect(page.status).toBe(200);
    expect(page.html).toContain('<form method="post" action="/account/sign-up" class="card" novalidate="">');
    expect(page.html).toMatch(/<input id="sign-up-name" name="name" type="text" autocomplete="name"/);
    expect(page.html).toMatch(/<input id="sign-up-email" name="email" type="email" autocomplete="username"/);
    expect(page.html).toMatch(
      /<input id="sign-up-password" name="password" type="password" autocomplete="new-password"/,
    );
    expect(page.html).toContain('<a href="/account/sign-in">Sign in</a>');
  });

  it('creates the account and signs in: cookies set, the devices page shows the new address', async () => {
    const browser = new Browser(lk);
    const email = uniqueEmail('signup');
    const done = await signUp(browser, { name: ' Ada Lovelace ', email: `  ${email}  `, password: PASSWORD });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/account/sessions');
    expect(setCookieOf(done, REFRESH)).toBeDefined();
    expect(setCookieOf(done, ACCESS)).toBeDefined();
    const sessions = await browser.follow(done);
    expect(sessions.status).toBe(200);
    expect(sessions.text).toContain(email);

    const user = await userByEmail(email);
    expect(user).toMatchObject({ email, name: 'Ada Lovelace' });
    // The password works through the API as well: one account, one set of rules.
    const login = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
    expect(login.status).toBe(200);

    // Signed in, the form is not shown again.
    const again = await browser.get(SIGN_UP);
    expect(again.status).toBe(303);
    expect(again.location).toBe('/account/sessions');
  });

  it('a taken address: 409 with the API’s answer, the form kept, no session', async () => {
    const existing = await registerUser(lk.app);
    const browser = new Browser(lk);
    const page = await signUp(browser, { name: 'Someone', email: existing.email, password: PASSWORD });
    expect(page.status).toBe(409);
    expect(page.text).toContain('An account with this email already exists.');
    expect(page.html).toContain('aria-invalid="true"');
    expect(page.html).toContain(`value="${existing.email}"`);
    expect(page.html).toContain('value="Someone"');
    expect(setCookieOf(page, REFRESH)).toBeUndefined();
    // The API says the same for the same address.
    const api = await call(lk.app, '/v1/auth/register', {
      body: { email: existing.email, password: PASSWORD },
    });
    expect(api.status).toBe(409);
    expect(api.json.error).toBe('email_taken');
  });

  it('a weak or short password: 400 with the password policy’s own words, no account, the password not echoed', async () => {
    const browser = new Browser(lk);
    const email = uniqueEmail('weak');
    const weak = await signUp(browser, { email, password: 'password123' });
    expect(weak.status).toBe(400);
    const api = await call(lk.app, '/v1/auth/register', { body: { email, password: 'password123' } });
    expect(api.status).toBe(400);
    expect(api.json.error).toBe('invalid_password');
    expect(weak.text).toContain(api.json.error_description);
    expect(weak.html).not.toContain('password123');

    const short = await browser.post(SIGN_UP, { email, password: 'Xq7!' });
    expect(short.status).toBe(400);
    expect(short.text).toContain('Password must be at least 8 characters');
    expect(await userByEmail(email)).toBeUndefined();
  });

  it('missing or malformed fields are told field by field, before any work', async () => {
    const browser = new Browser(lk);
    const empty = await signUp(browser, { email: '', password: '' });
    expect(empty.status).toBe(400);
    expect(empty.text).toContain('Enter your email address.');
    expect(empty.text).toContain('Choose a password.');
    const malformed = await browser.post(SIGN_UP, { email: 'not-an-address', password: PASSWORD });
    expect(malformed.status).toBe(400);
    expect(malformed.text).toContain('Enter an email address, like name@example.com.');
    const longName = await browser.post(SIGN_UP, {
      name: 'n'.repeat(201),
      email: uniqueEmail('long'),
      password: PASSWORD,
    });
    expect(longName.status).toBe(400);
    expect(longName.text).toContain('Use at most 200 characters.');
  });

  it('refuses a post without the CSRF echo or from another site: 403, no account', async () => {
    const browser = new Browser(lk);
    await browser.get(SIGN_UP);
    const email = uniqueEmail('csrf');
    const fields = { email, password: PASSWORD };
    expect((await browser.post(SIGN_UP, fields, { csrf: null })).status).toBe(403);
    expect((await browser.post(SIGN_UP, fields, { csrf: 'x'.repeat(43) })).status).toBe(403);
    expect(
      (await browser.post(SIGN_UP, fields, { site: 'cross-site', origin: 'https://evil.test' })).status,
    ).toBe(403);
    expect(await userByEmail(email)).toBeUndefined();
  });
});

describe('the sign-up page under other settings', () => {
  it('shares the API’s per-network sign-up limit: 429 with Retry-After, counted before the work', async () => {
    const limited = await buildLatchkey(database.current, {
      env: { REGISTRATIONS_PER_IP: '2' },
      // A network of its own: the other tests' sign-ups share the database's counters.
      clientIp: '203.0.113.77',
    });
    const browser = new Browser(limited);
    expect((await signUp(browser, { email: uniqueEmail('a'), password: PASSWORD })).status).toBe(303);
    await registerUser(limited.app);
    const browser2 = new Browser(limited);
    const email = uniqueEmail('c');
    const refused = await signUp(browser2, { email, password: PASSWORD });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(refused.text).toMatch(/Too many attempts\. Try again in \d+ (seconds|minutes)\./);
    expect(await userByEmail(email)).toBeUndefined();
  });

  it('REQUIRE_EMAIL_VERIFICATION: the account is made, no session; the page says to check the mail', async () => {
    const verifying = await buildLatchkey(database.current, { env: { REQUIRE_EMAIL_VERIFICATION: 'true' } });
    const browser = new Browser(verifying);
    const email = uniqueEmail('verify');
    const page = await signUp(browser, { email, password: PASSWORD });
    expect(page.status).toBe(201);
    expect(page.text).toContain('Check your email');
    expect(page.text).toContain(email);
    expect(page.text).toContain('The link works once, for 2 days.');
    expect(setCookieOf(page, REFRESH)).toBeUndefined();
    expect(await userByEmail(email)).toMatchObject({ email, emailVerifiedAt: null });
    // A new link from this page, through the email pages' resend form.
    expect(page.html).toMatch(
      /<form method="post" action="\/account\/email\/verify\/resend" class="actions">/,
    );
    expect(page.html).toContain(`<input type="hidden" name="email" value="${email}"/>`);
    const resent = await browser.post('/account/email/verify/resend', { email });
    expect(resent.status).toBe(200);
    expect(resent.text).toContain('Check your email');

    // Signing in waits for the link: the sign-in page says so, with the same way to a new link.
    const signIn = await browser.post('/account/sign-in', { email, password: PASSWORD });
    expect(signIn.status).toBe(403);
    expect(signIn.text).toContain('Confirm your email address first');
    expect(signIn.html).toContain(`<input type="hidden" name="email" value="${email}"/>`);
    expect(setCookieOf(signIn, REFRESH)).toBeUndefined();
    // A wrong password is not told that the address is unconfirmed.
    const wrong = await browser.post('/account/sign-in', { email, password: 'not the password at all' });
    expect(wrong.status).toBe(401);
    expect(wrong.text).not.toContain('Confirm your email address');
  });

  it('SIGNUP_PAGE=false: 404 for the page and its form, and no link from sign-in', async () => {
    const closed = await buildLatchkey(database.current, { env: { SIGNUP_PAGE: 'false' } });
    const browser = new Browser(closed);
    const signIn = await browser.get('/account/sign-in');
    expect(signIn.html).not.toContain('/account/sign-up');
    expect(signIn.html).toContain('Forgot password?');
    expect((await browser.get(SIGN_UP)).status).toBe(404);
    const email = uniqueEmail('closed');
    expect((await browser.post(SIGN_UP, { email, password: PASSWORD })).status).toBe(404);
    expect(await userByEmail(email)).toBeUndefined();
  });
});
