import { beforeAll, describe, expect, it } from 'vitest';
import { PASSKEY_SCRIPT } from '../../src/http/pages/views/passkey-script.js';
import { call, decodeJwtPart, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import { SoftAuthenticator } from '../support/soft-authenticator.js';
import { totpCode } from '../support/totp.js';
import { ACCESS, Browser, CSRF, MFA, type Page, REFRESH, setCookieOf } from './account-pages-browser.js';

/**
 * Passkeys on the account pages (issue #20), over HTTP with a software authenticator
 * (test/support/soft-authenticator.ts) standing in for the browser's ceremony: the forms
 * PASSKEY_SCRIPT drives (their markup contract), the JSON options endpoints, and the form
 * posts that carry a ceremony's result in `response`: sign-in (autofill and button), the
 * second step of a password sign-in, step-up (security page, admin page), and the security
 * page's list, add, rename and remove with the fresh sign-in they ask. Chromium runs the same
 * flows with a virtual authenticator in test/browser/passkeys.test.ts.
 */

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

const MINUTE = 60_000;
/** The ceremony's origin: ISSUER's (testConfig), the one WEBAUTHN_ORIGINS defaults to. */
const ORIGIN = 'http://localhost:3000';

const nowSeconds = () => Math.floor(lk.clock.now().getTime() / 1000);
const codeNow = (secret: string) => totpCode(secret, nowSeconds());

async function signIn(browser: Browser, email: string): Promise<Page> {
  if (!browser.cookie(CSRF)) expect((await browser.get('/account/sign-in')).status).toBe(200);
  return browser.post('/account/sign-in', { email, password: PASSWORD });
}

/** A new user signed in through the pages (a fresh sign-in, no MFA). */
async function signedIn() {
  const user = await registerUser(lk.app);
  const browser = new Browser(lk);
  expect((await signIn(browser, user.email)).location).toBe('/account/sessions');
  return { user, browser };
}

/** A user with TOTP on (through the API), signed in on the pages with a code. */
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
  lk.clock.advance(MINUTE); // the activation's code is spent (RFC 6238 §5.2)
  const browser = new Browser(lk);
  await signIn(browser, user.email);
  expect((await browser.post('/account/sign-in/mfa', { code: codeNow(secret) })).status).toBe(303);
  return { user, browser, secret };
}

/** The options endpoint's answer, as PASSKEY_SCRIPT fetches it (a form post of the CSRF field). */
async function options(browser: Browser, path: string) {
  const page = await browser.post(path);
  expect(page.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: page.status, json: JSON.parse(page.html) };
}

/** Registers a passkey through the security page, as the register form would. */
async function addPasskey(browser: Browser, authenticator: SoftAuthenticator, name = '') {
  const { status, json } = await options(browser, '/account/passkeys/options');
  expect(status).toBe(200);
  const response = await authenticator.register(json.options);
  return browser.post('/account/passkeys', { response: JSON.stringify(response), name });
}

/** The form of a page whose `action` is `action` and `data-passkey` is `kind`. */
function passkeyForm(page: Page, kind: string, action: string): string | undefined {
  return [...page.html.matchAll(/<form\b[^>]*>[\s\S]*?<\/form>/g)]
    .map((m) => m[0])
    .find((form) => form.includes(`data-passkey="${kind}"`) && form.includes(`action="${action}"`));
}

const passkeyIds = (page: Page) => [...page.html.matchAll(/data-passkey-id="([^"]+)"/g)].map((m) => m[1]!);
/** The id of the listed passkey whose heading starts with `name`. */
const passkeyNamed = (page: Page, name: string) =>
  new RegExp(`data-passkey-id="([^"]+)"><h3 id="[^"]+">${name}<`).exec(page.html)?.[1];
const sidOf = (browser: Browser) => decodeJwtPart(browser.cookie(ACCESS)!, 1);

describe('the markup PASSKEY_SCRIPT drives', () => {
  it('every page carries the script under its nonce; the sign-in page has the autofill form', async () => {
    const browser = new Browser(lk);
    const page = await browser.get('/account/sign-in');
    expect(page.html).toContain(PASSKEY_SCRIPT.slice(0, 200));
    const nonce = /'nonce-([^']+)'/.exec(page.headers.get('content-security-policy')!)![1];
    expect(page.html).toContain(`<script nonce="${nonce}">${PASSKEY_SCRIPT.slice(0, 40)}`);
    // The email field offers passkeys in its autofill (conditional mediation).
    expect(page.html).toMatch(
      /<input id="sign-in-email" name="email" type="email" autocomplete="username webauthn"/,
    );
    const form = passkeyForm(page, 'autofill', '/account/sign-in/passkey');
    expect(form).toBeDefined();
    expect(form).toContain('data-options-url="/account/sign-in/passkey/options"');
    // Hidden until the script finds WebAuthn; the contract's fields and error box.
    expect(form).toContain('data-passkey-only="" hidden=""');
    expect(form).toContain(`<input type="hidden" name="csrf" value="${browser.csrf}"`);
    expect(form).toContain('<input type="hidden" name="response" value=""');
    expect(form).toContain('<p class="error" data-passkey-error="" role="alert"></p>');
    expect(form).toContain('>Sign in with a passkey</button>');
    // The password form's choices, copied in by ACCOUNT_SCRIPT.
    expect(form).toContain('data-mirror="sign-in-remember"');
    expect(page.html).toContain('id="sign-in-remember"');
    expect(page.text).toContain('Signing in with a passkey needs JavaScript.');
    expect(page.html).toMatch(
      /<noscript><p class="muted">Signing in with a passkey needs JavaScript\.<\/p><\/noscript>/,
    );
  });
});

describe('signing in with a passkey', () => {
  it('options without a session; the assertion signs in remembered, at aal2, as the password would', async () => {
    const { user, browser } = await signedIn();
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    expect((await addPasskey(browser, authenticator)).location).toBe(
      '/account/security?notice=passkey_added',
    );

    const device = new Browser(lk);
    await device.get('/account/sign-in');
    const { status, json } = await options(device, '/account/sign-in/passkey/options');
    expect(status).toBe(200);
    expect(json.options.rpId).toBe('localhost');
    expect(json.options.allowCredentials).toEqual([]); // discoverable: no email asked
    expect(json.options.userVerification).toBe('required');
    const response = await authenticator.authenticate(json.options);
    const done = await device.post('/account/sign-in/passkey', {
      response: JSON.stringify(response),
      remember: 'yes',
      device_name: 'Phone',
    });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/account/sessions');
    expect(setCookieOf(done, REFRESH)!.attributes.get('max-age')).toBeTruthy(); // remembered
    const claims = sidOf(device);
    expect(claims.acr).toBe('aal2');
    expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
    const sessions = await device.get('/account/sessions');
    expect(sessions.text).toContain('Phone');
    // The Devices page tells a passkey sign-in from a second factor (the session's amr).
    expect(sessions.text).toContain('with a passkey');
    expect(sessions.text).not.toContain('with two-step verification');
    const stored = await lk.store.findUserByEmail(user.email);
    expect(claims.sub).toBe(stored!.id);
  });

  it('a refused, malformed, oversized or missing response is the sign-in page with the refusal, never a 500', async () => {
    const { browser } = await signedIn();
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await addPasskey(browser, authenticator);
    const device = new Browser(lk);
    await device.get('/account/sign-in');

    const signedWith = async (response: string) => {
      const page = await device.post('/account/sign-in/passkey', { response });
      expect(device.cookie(ACCESS)).toBeUndefined();
      const form = passkeyForm(page, 'autofill', '/account/sign-in/passkey');
      expect(form).toContain('The passkey was not accepted. Try again, or sign in with your password.');
      return page.status;
    };
    const tampered = await authenticator.authenticate(
      (await options(device, '/account/sign-in/passkey/options')).json.options,
      { tamperSignature: true },
    );
    expect(await signedWith(JSON.stringify(tampered))).toBe(401);
    // Another site's origin (a phishing page relaying the ceremony).
    const phished = await authenticator.authenticate(
      (await options(device, '/account/sign-in/passkey/options')).json.options,
      { origin: 'https://login.example.net' },
    );
    expect(await signedWith(JSON.stringify(phished))).toBe(401);
    // The same assertion twice: its challenge was taken by the first use.
    const good = await authenticator.authenticate(
      (await options(device, '/account/sign-in/passkey/options')).json.options,
    );
    const fresh = new Browser(lk);
    await fresh.get('/account/sign-in');
    expect((await fresh.post('/account/sign-in/passkey', { response: JSON.stringify(good) })).status).toBe(
      303,
    );
    expect(await signedWith(JSON.stringify(good))).toBe(401);
    expect(await signedWith('{"id":')).toBe(400);
    expect(await signedWith(JSON.stringify({ ...good, type: 'password' }))).toBe(400);
    expect(await signedWith(`{"pad":"${'a'.repeat(41_000)}"}`)).toBe(400);
    expect(await signedWith('')).toBe(400);
  });

  it('the options endpoint passes the CSRF gate like every form (403 page without it)', async () => {
    const device = new Browser(lk);
    await device.get('/account/sign-in');
    const forged = await device.post('/account/sign-in/passkey/options', {}, { csrf: null });
    expect(forged.status).toBe(403);
    expect(forged.headers.get('content-type')).toMatch(/^text\/html/);
    const crossSite = await device.post('/account/sign-in/passkey/options', {}, { site: 'cross-site' });
    expect(crossSite.status).toBe(403);
  });

  it('a disabled account: the passkey is not enough, and the page says why', async () => {
    const { user, browser } = await signedIn();
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await addPasskey(browser, authenticator);
    const stored = await lk.store.findUserByEmail(user.email);
    await lk.store.disableUser({ userId: stored!.id, now: lk.clock.now() });
    const device = new Browser(lk);
    await device.get('/account/sign-in');
    const response = await authenticator.authenticate(
      (await options(device, '/account/sign-in/passkey/options')).json.options,
    );
    const page = await device.post('/account/sign-in/passkey', { response: JSON.stringify(response) });
    expect(page.status).toBe(403);
    expect(page.text).toContain('This account is disabled.');
    expect(device.cookie(ACCESS)).toBeUndefined();
  });
});

describe('the second step of a password sign-in', () => {
  it('offers the passkey beside the code; a wrong one spends an attempt, the right one signs in', async () => {
    const { user, browser } = await signedInWithMfa();
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    expect((await addPasskey(browser, authenticator)).status).toBe(303);

    const device = new Browser(lk);
    const first = await signIn(device, user.email);
    expect(first.location).toBe('/account/sign-in/mfa?passkey=1');
    const page = await device.follow(first);
    const form = passkeyForm(page, 'authenticate', '/account/sign-in/mfa?passkey=1');
    expect(form).toContain('data-options-url="/account/sign-in/mfa/passkey-options"');
    expect(form).toContain('>Use a passkey</button>');
    // The code form comes back to the same address, so the passkey stays offered after a wrong code.
    expect(page.html).toContain(
      '<form method="post" action="/account/sign-in/mfa?passkey=1" class="card" novalidate',
    );

    const { json } = await options(device, '/account/sign-in/mfa/passkey-options');
    expect(json.options.allowCredentials).toHaveLength(1); // this account's passkey
    const wrong = await authenticator.authenticate(json.options, { tamperSignature: true });
    const refused = await device.post('/account/sign-in/mfa?passkey=1', { response: JSON.stringify(wrong) });
    expect(refused.status).toBe(401);
    expect(passkeyForm(refused, 'authenticate', '/account/sign-in/mfa?passkey=1')).toContain(
      'The passkey was not accepted (4 attempts left)',
    );
    const again = await options(device, '/account/sign-in/mfa/passkey-options');
    const right = await authenticator.authenticate(again.json.options);
    const done = await device.post('/account/sign-in/mfa?passkey=1', { response: JSON.stringify(right) });
    expect(done.location).toBe('/account/sessions');
    expect(setCookieOf(done, MFA)?.attributes.get('max-age')).toBe('0');
    expect(sidOf(device).amr).toEqual(['pwd', 'hwk', 'user', 'mfa']);
  });

  it('an account without a passkey gets the page as before; its options are a JSON refusal', async () => {
    const { user } = await signedInWithMfa();
    const device = new Browser(lk);
    const first = await signIn(device, user.email);
    expect(first.location).toBe('/account/sign-in/mfa');
    const page = await device.follow(first);
    expect(page.html).not.toContain('data-options-url=');
    const refused = await options(device, '/account/sign-in/mfa/passkey-options');
    expect(refused.status).toBe(404);
    expect(refused.json.message).toContain('This account has no passkey');
    // No login under way: to the sign-in page, which the script follows.
    const stranger = new Browser(lk);
    await stranger.get('/account/sign-in');
    const gone = await stranger.post('/account/sign-in/mfa/passkey-options');
    expect(gone.location).toBe('/account/sign-in?notice=mfa_restart');
  });
});

describe('the security page', () => {
  it('lists, adds (named or not), renames and removes passkeys on a fresh session', async () => {
    const { user, browser } = await signedIn();
    let page = await browser.get('/account/security');
    expect(page.text).toContain('You have no passkeys yet.');
    const register = passkeyForm(page, 'register', '/account/passkeys');
    expect(register).toContain('data-options-url="/account/passkeys/options"');
    expect(register).toContain('>Add a passkey</button>');
    expect(page.text).toContain('Adding a passkey or confirming with one needs JavaScript.');

    const { json } = await options(browser, '/account/passkeys/options');
    expect(json.options.rp).toEqual({ name: 'Account', id: 'localhost' });
    expect(json.options.user.name).toBe(user.email);
    const laptop = new SoftAuthenticator({ origin: ORIGIN });
    const created = await laptop.register(json.options);
    const added = await browser.post('/account/passkeys', {
      response: JSON.stringify(created),
      name: ' Work laptop ',
    });
    expect(added.location).toBe('/account/security?notice=passkey_added');
    const phone = new SoftAuthenticator({ origin: ORIGIN, backupEligible: true });
    expect((await addPasskey(browser, phone)).status).toBe(303);

    page = await browser.get('/account/security?notice=passkey_added');
    expect(page.text).toContain('Passkey added. You can sign in with it from now on.');
    expect(page.text).toContain('Work laptop Device-bound');
    expect(page.text).toContain('Kept on one device or security key. Added just now ; not used yet.');
    expect(page.text).toContain('Synced passkey Synced'); // the service's default name
    expect(page.text).toContain('Kept in sync by your password manager or keychain.');
    const laptopId = passkeyNamed(page, 'Work laptop')!;
    const phoneId = passkeyNamed(page, 'Synced passkey')!;
    expect(passkeyIds(page).sort()).toEqual([laptopId, phoneId].sort());
    expect(page.html).toContain(`action="/account/passkeys/${laptopId}/remove"`);

    // Rename: the name is checked, and kept on the form when it comes back.
    const empty = await browser.post(`/account/passkeys/${laptopId}/rename`, { name: '   ' });
    expect(empty.status).toBe(400);
    expect(empty.text).toContain('Enter a name.');
    expect(empty.html).toMatch(/<details open="?"?>/);
    const long = await browser.post(`/account/passkeys/${laptopId}/rename`, { name: 'x'.repeat(65) });
    expect(long.status).toBe(400);
    expect(long.text).toContain('Use at most 64 characters.');
    expect(long.html).toContain(`value="${'x'.repeat(65)}"`);
    const renamed = await browser.post(`/account/passkeys/${laptopId}/rename`, { name: 'Old laptop' });
    expect(renamed.location).toBe('/account/security?notice=passkey_renamed');
    expect((await browser.follow(renamed)).text).toContain('Old laptop Device-bound');

    const removed = await browser.post(`/account/passkeys/${phoneId}/remove`);
    expect(removed.location).toBe('/account/security?notice=passkey_removed');
    page = await browser.follow(removed);
    expect(page.text).toContain('Passkey removed: it no longer signs in.');
    expect(passkeyIds(page)).toEqual([laptopId]);
    // The device keeps its copy; it signs in no more.
    const device = new Browser(lk);
    await device.get('/account/sign-in');
    const assertion = await phone.authenticate(
      (await options(device, '/account/sign-in/passkey/options')).json.options,
    );
    expect(
      (await device.post('/account/sign-in/passkey', { response: JSON.stringify(assertion) })).status,
    ).toBe(401);
    // Gone already, or not a passkey id at all: said so, nothing else happens.
    expect((await browser.post(`/account/passkeys/${phoneId}/remove`)).location).toBe(
      '/account/security?notice=passkey_gone',
    );
    expect((await browser.post('/account/passkeys/not-a-uuid/rename', { name: 'x' })).location).toBe(
      '/account/security?notice=passkey_gone',
    );

    // The Activity page has them (its labels are views/format.ts's).
    const stored = await lk.store.findUserByEmail(user.email);
    const events = await lk.store.listSecurityEvents(stored!.id, { limit: 20 });
    const types = events.map((event) => event.type);
    expect(types.filter((type) => type === 'passkey_added')).toHaveLength(2);
    expect(types).toContain('passkey_removed');
  });

  it("another user's passkey can be neither renamed nor removed", async () => {
    const owner = await signedIn();
    await addPasskey(owner.browser, new SoftAuthenticator({ origin: ORIGIN }), 'Mine');
    const [id] = passkeyIds(await owner.browser.get('/account/security'));
    const other = await signedIn();
    expect((await other.browser.post(`/account/passkeys/${id}/rename`, { name: 'Theirs' })).location).toBe(
      '/account/security?notice=passkey_gone',
    );
    expect((await other.browser.post(`/account/passkeys/${id}/remove`)).location).toBe(
      '/account/security?notice=passkey_gone',
    );
    expect((await owner.browser.get('/account/security')).text).toContain('Mine');
  });

  it('a stale session confirms first (password, or a passkey); then adding and removing work', async () => {
    const { browser } = await signedIn();
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await addPasskey(browser, authenticator, 'Laptop');
    lk.clock.advance(10 * MINUTE);

    let page = await browser.get('/account/security');
    const [id] = passkeyIds(page);
    expect(page.html).not.toContain(`/account/passkeys/${id}/remove`);
    expect(passkeyForm(page, 'register', '/account/passkeys')).toBeUndefined();
    expect(page.html).toContain('<label for="confirm-password">Password to add or remove passkeys</label>');
    const byPasskey = passkeyForm(page, 'authenticate', '/account/security/confirm');
    expect(byPasskey).toContain('data-options-url="/account/step-up/passkey-options"');
    // What the script shows if the page sat too long: the JSON refusal's message.
    const stale = await options(browser, '/account/passkeys/options');
    expect(stale.status).toBe(401);
    expect(stale.json.error).toBe('insufficient_user_authentication');
    expect(stale.json.message).toMatch(/^Confirm it is you first/);
    // A remove posted anyway (a page from before): the service refuses, the page says why.
    const early = await browser.post(`/account/passkeys/${id}/remove`);
    expect(early.status).toBe(401);
    expect(early.text).toContain('Confirm it is you first');

    const wrong = await browser.post('/account/security/confirm', { for: 'passkeys', password: 'not it' });
    expect(wrong.status).toBe(403);
    expect(wrong.text).toContain('The password is incorrect');
    expect((await browser.post('/account/security/confirm', { for: 'passkeys' })).text).toContain(
      'Enter your password.',
    );
    const confirmed = await browser.post('/account/security/confirm', {
      for: 'passkeys',
      password: PASSWORD,
    });
    expect(confirmed.location).toBe('/account/security?notice=confirmed');
    page = await browser.follow(confirmed);
    expect(page.text).toContain('Confirmed. For the next 5 minutes you can add and remove passkeys.');
    expect(page.html).toContain(`/account/passkeys/${id}/remove`);

    // Later, the passkey confirms instead of the password.
    lk.clock.advance(10 * MINUTE);
    const { json } = await options(browser, '/account/step-up/passkey-options');
    const refused = await browser.post('/account/security/confirm', {
      for: 'passkeys',
      response: JSON.stringify(await authenticator.authenticate(json.options, { tamperSignature: true })),
    });
    expect(refused.status).toBe(403);
    expect(passkeyForm(refused, 'authenticate', '/account/security/confirm')).toContain(
      'The passkey was not accepted.',
    );
    const again = await options(browser, '/account/step-up/passkey-options');
    const byKey = await browser.post('/account/security/confirm', {
      for: 'passkeys',
      response: JSON.stringify(await authenticator.authenticate(again.json.options)),
    });
    expect(byKey.location).toBe('/account/security?notice=confirmed');
    expect(sidOf(browser).acr).toBe('aal2');
    expect((await browser.post(`/account/passkeys/${id}/remove`)).location).toBe(
      '/account/security?notice=passkey_removed',
    );
  });

  it('refused registrations: another session’s ceremony, a passkey twice, garbage; shown as notices', async () => {
    const { browser } = await signedIn();
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await addPasskey(browser, authenticator);
    const [existing] = authenticator.credentials();

    // The same credential id again (a browser would have refused it by excludeCredentials).
    const { json } = await options(browser, '/account/passkeys/options');
    const twice = await new SoftAuthenticator({ origin: ORIGIN }).register(json.options, {
      credentialId: existing!.id,
    });
    const duplicate = await browser.post('/account/passkeys', { response: JSON.stringify(twice) });
    expect(duplicate.status).toBe(409);
    expect(duplicate.text).toContain('This passkey is on your account already.');

    // Options fetched by one session, the result posted by another: not accepted.
    const other = await signedIn();
    const foreign = await new SoftAuthenticator({ origin: ORIGIN }).register(
      (await options(browser, '/account/passkeys/options')).json.options,
    );
    const stolen = await other.browser.post('/account/passkeys', { response: JSON.stringify(foreign) });
    expect(stolen.status).toBe(400);
    expect(stolen.text).toContain('The passkey was not accepted');

    const garbage = await browser.post('/account/passkeys', { response: 'not json' });
    expect(garbage.status).toBe(400);
    expect(garbage.text).toContain('The new passkey could not be read.');
    const named = await new SoftAuthenticator({ origin: ORIGIN }).register(
      (await options(browser, '/account/passkeys/options')).json.options,
    );
    const longName = await browser.post('/account/passkeys', {
      response: JSON.stringify(named),
      name: 'n'.repeat(65),
    });
    expect(longName.status).toBe(400);
    expect(longName.text).toContain("A passkey's name can be at most 64 characters.");
    expect(passkeyIds(await browser.get('/account/security'))).toHaveLength(1);
  });

  it('with TOTP on: the code or a passkey confirms; new recovery codes and turning it off take a passkey too', async () => {
    const { browser, secret } = await signedInWithMfa();
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await addPasskey(browser, authenticator);
    lk.clock.advance(10 * MINUTE);
    let page = await browser.get('/account/security');
    expect(page.html).toContain('<label for="confirm-code">Code to add or remove passkeys</label>');
    expect(page.html).not.toContain('id="confirm-password"');
    // Beside each code form, the passkey's.
    expect(passkeyForm(page, 'authenticate', '/account/security/recovery-codes')).toContain(
      'Generate them with a passkey instead',
    );
    expect(passkeyForm(page, 'authenticate', '/account/security/totp/disable')).toContain(
      'Turn it off with a passkey instead',
    );
    const email = passkeyForm(page, 'authenticate', '/account/security/confirm');
    expect(email).toBeDefined();

    // A password alone is aal1: with TOTP on the confirm form takes the code.
    const confirmed = await browser.post('/account/security/confirm', {
      for: 'passkeys',
      code: codeNow(secret),
    });
    expect(confirmed.location).toBe('/account/security?notice=confirmed');
    page = await browser.follow(confirmed);
    expect(passkeyForm(page, 'register', '/account/passkeys')).toBeDefined();

    const step = await options(browser, '/account/step-up/passkey-options');
    const codes = await browser.post('/account/security/recovery-codes', {
      response: JSON.stringify(await authenticator.authenticate(step.json.options)),
    });
    expect(codes.status).toBe(200);
    expect(codes.text).toContain('New recovery codes; the old ones no longer work.');

    const refusedStep = await options(browser, '/account/step-up/passkey-options');
    const refused = await browser.post('/account/security/totp/disable', {
      response: JSON.stringify(
        await authenticator.authenticate(refusedStep.json.options, { tamperSignature: true }),
      ),
    });
    expect(refused.status).toBe(403);
    expect(passkeyForm(refused, 'authenticate', '/account/security/totp/disable')).toContain(
      'The passkey was not accepted.',
    );
    const malformed = await browser.post('/account/security/totp/disable', { response: '[]' });
    expect(malformed.status).toBe(400);
    const off = await options(browser, '/account/step-up/passkey-options');
    const disabled = await browser.post('/account/security/totp/disable', {
      response: JSON.stringify(await authenticator.authenticate(off.json.options)),
    });
    expect(disabled.location).toMatch(/^\/account\/security\?notice=mfa_off/);
  });

  it('with TOTP on and a stale session, the change of address is confirmed by a passkey instead of a code', async () => {
    const { browser } = await signedInWithMfa();
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await addPasskey(browser, authenticator);
    lk.clock.advance(10 * MINUTE);
    let page = await browser.get('/account/security');
    expect(page.html).toContain('Code to change your email address');
    const { json } = await options(browser, '/account/step-up/passkey-options');
    const confirmed = await browser.post('/account/security/confirm', {
      for: 'email',
      response: JSON.stringify(await authenticator.authenticate(json.options)),
    });
    expect(confirmed.location).toBe('/account/security?notice=confirmed_email');
    page = await browser.follow(confirmed);
    expect(page.text).toContain('you can change your email address without a code');
    expect(page.html).not.toContain('Code to change your email address');
  });

  it('step-up options for an account without passkeys: a JSON refusal the script shows', async () => {
    const { browser } = await signedIn();
    const refused = await options(browser, '/account/step-up/passkey-options');
    expect(refused.status).toBe(404);
    expect(refused.json).toEqual({
      error: 'not_found',
      message: 'This account has no passkey. Use your password or a code.',
    });
    // Signed out: the options endpoints send the browser to sign in (the script follows).
    const stranger = new Browser(lk);
    await stranger.get('/account/sign-in');
    expect((await stranger.post('/account/passkeys/options')).location).toBe('/account/sign-in');
  });
});

describe('the admin step-up page', () => {
  it('offers a passkey, with or without TOTP; the passkey steps the session up to aal2', async () => {
    const { user, browser } = await signedIn();
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await addPasskey(browser, authenticator);
    const stored = await lk.store.findUserByEmail(user.email);
    await lk.store.setUserRole(stored!.id, 'admin');

    const asked = await browser.get('/account/admin/analytics');
    expect(asked.status).toBe(401);
    const form = passkeyForm(asked, 'authenticate', '/account/admin/step-up');
    expect(form).toContain('<input type="hidden" name="back" value="analytics"');
    expect(form).toContain('Continue with a passkey');
    expect(asked.html).not.toContain('name="code"'); // no TOTP: no code field

    const { json } = await options(browser, '/account/step-up/passkey-options');
    const refused = await browser.post('/account/admin/step-up', {
      back: 'analytics',
      response: JSON.stringify(await authenticator.authenticate(json.options, { tamperSignature: true })),
    });
    expect(refused.status).toBe(403);
    expect(passkeyForm(refused, 'authenticate', '/account/admin/step-up')).toContain(
      'The passkey was not accepted.',
    );
    const again = await options(browser, '/account/step-up/passkey-options');
    const done = await browser.post('/account/admin/step-up', {
      back: 'webhooks',
      response: JSON.stringify(await authenticator.authenticate(again.json.options)),
    });
    expect(done.location).toBe('/account/admin/webhooks');
    expect((await browser.get('/account/admin/analytics')).status).toBe(200);
  });
});
