import { type SQL, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { createCleanup } from '../../src/services/cleanup.js';
import { CEREMONY_TIMEOUT_MS, PASSKEYS_PER_USER } from '../../src/services/passkeys.js';
import { call, login, refresh, registerUser, type TokenPair } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import {
  addPasskey,
  assertion,
  claimsOf,
  finishRegistration,
  finishSignIn,
  type PasskeyJson,
  registerPasskey,
  registrationOptions,
  secondFactorOptions,
  secondFactorWithPasskey,
  signInOptions,
  signInWithPasskey,
  softAuthenticator,
  stepUpOptions,
  stepUpWithPasskey,
} from '../support/passkeys.js';
import {
  base64url,
  CeremonyError,
  SOFT_AUTHENTICATOR_AAGUID,
  type SoftAuthenticator,
} from '../support/soft-authenticator.js';
import { totpCode } from '../support/totp.js';

/**
 * Passkeys over the HTTP API (issue #20, W3C WebAuthn Level 3), with real ES256 responses
 * from the software authenticator: registering (fresh authentication, RFC 9470), listing,
 * renaming and removing them, the discoverable sign-in at aal2, the second step of a password
 * login, step-up, the security events, and what goes with the account (admin MFA reset,
 * deletion, cleanup). The hostile cases are in passkeys-hostile.test.ts, the parallel ones in
 * test/races/passkeys.race.test.ts.
 */
const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

const SECOND = 1000;
const MINUTE = 60 * SECOND;

const count = async (query: SQL) =>
  Number(rowsOf<{ n: number }>(await database.current.db.execute(query))[0]!.n);
const passkeysOf = (userId: string) =>
  count(sql`SELECT count(*)::int AS n FROM passkeys WHERE user_id = ${userId}`);
const challengesOf = (userId: string) =>
  count(sql`SELECT count(*)::int AS n FROM webauthn_challenges WHERE user_id = ${userId}`);
const sessionsOf = (userId: string) =>
  count(
    sql`SELECT count(DISTINCT session_id)::int AS n FROM refresh_tokens WHERE user_id = ${userId} AND revoked_at IS NULL`,
  );
const nowSeconds = () => Math.floor(lk.clock.now().getTime() / 1000);
const utf8 = (text: string) => new TextEncoder().encode(text);

/** A new user and a fresh aal1 session of theirs. */
async function freshUser() {
  const user = await registerUser(lk.app);
  const pair = await login(lk.app, user.email);
  return { user, pair, token: pair.access_token };
}

/** A new user with one passkey on `authenticator` (a device-bound one by default). */
async function userWithPasskey(authenticator: SoftAuthenticator = softAuthenticator()) {
  const account = await freshUser();
  const passkey = await registerPasskey(lk.app, account.token, authenticator);
  return { ...account, authenticator, passkey };
}

/** A TOTP code one 30-second step later (each step is accepted once per factor). */
function nextCode(secret: string): string {
  lk.clock.advance(30 * SECOND);
  return totpCode(secret, nowSeconds());
}

/** A user with TOTP active; `pair` is the (aal1) session that activated it. */
async function userWithTotp() {
  const { user, pair } = await freshUser();
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
  expect(enrolled.status).toBe(200);
  const secret: string = enrolled.json.secret;
  const activated = await call(lk.app, '/v1/mfa/totp/activate', {
    body: { code: totpCode(secret, nowSeconds()) },
    token: pair.access_token,
  });
  expect(activated.status).toBe(200);
  return { user, pair, secret };
}

/** The first step of a login of a user with MFA. */
async function passwordStep(email: string) {
  const res = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
  expect(res.status).toBe(200);
  expect(res.json.mfa_required).toBe(true);
  return res.json as { mfa_required: true; mfa_token: string; methods: string[] };
}

/** A full MFA login with a TOTP code: an aal2 session. */
async function loginWithCode(email: string, secret: string): Promise<TokenPair> {
  const { mfa_token } = await passwordStep(email);
  const res = await call(lk.app, '/v1/auth/login/mfa', { body: { mfa_token, code: nextCode(secret) } });
  expect(res.status).toBe(200);
  return res.json;
}

/** The user's security events as GET /v1/users/me/events shows them, oldest first. */
async function eventsSeenBy(token: string): Promise<{ type: string; details: Record<string, unknown> }[]> {
  const res = await call(lk.app, '/v1/users/me/events?limit=100', { token });
  expect(res.status).toBe(200);
  return [...res.json.events].reverse();
}

const PASSKEY_FIELDS = [
  'aaguid',
  'backed_up',
  'created_at',
  'device_type',
  'id',
  'last_used_at',
  'name',
  'transports',
];

function expectFreshAuthChallenge(res: { status: number; json: { error: string }; headers: Headers }) {
  expect(res.status).toBe(401);
  expect(res.json.error).toBe('insufficient_user_authentication');
  const challenge = res.headers.get('www-authenticate')!;
  expect(challenge).toMatch(/^Bearer error="insufficient_user_authentication"/);
  return challenge;
}

// ---------------------------------------------------------------------------------------------

describe('registration', () => {
  it('options: a challenge for a discoverable credential of this RP and user, no attestation', async () => {
    const { user, pair, token } = await freshUser();
    const res = await registrationOptions(lk.app, token);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const options = res.json;
    expect(options.rp).toEqual({ id: 'localhost', name: expect.any(String) });
    // The user handle is the user's id (W3C WebAuthn §5.4.3: no personal data in it).
    expect(options.user).toEqual({ id: base64url(utf8(user.id)), name: user.email, displayName: user.email });
    expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes
    expect(options.attestation).toBe('none');
    expect(options.timeout).toBe(CEREMONY_TIMEOUT_MS);
    expect(options.authenticatorSelection).toMatchObject({
      residentKey: 'required',
      userVerification: 'preferred',
    });
    expect(options.pubKeyCredParams.map((param: { alg: number }) => param.alg)).toEqual([-7, -8, -257]);
    expect(options.excludeCredentials).toEqual([]);
    // Stored as a hash, bound to the user and this session.
    expect(await challengesOf(user.id)).toBe(1);
    const stored = rowsOf<Record<string, unknown>>(
      await database.current.db.execute(
        sql`SELECT challenge_hash, purpose, session_id FROM webauthn_challenges WHERE user_id = ${user.id}`,
      ),
    )[0]!;
    expect(stored.purpose).toBe('registration');
    expect(stored.session_id).toBe(pair.session_id);
    expect(JSON.stringify(stored)).not.toContain(options.challenge);
  });

  it('adds a passkey: 201 with the contract’s JSON, which never has the public key', async () => {
    const { user, token } = await freshUser();
    const authenticator = softAuthenticator();
    const res = await addPasskey(lk.app, token, authenticator);
    expect(res.status).toBe(201);
    expect(Object.keys(res.json).sort()).toEqual(PASSKEY_FIELDS);
    expect(res.json).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'Passkey',
      device_type: 'singleDevice',
      backed_up: false,
      transports: ['internal'],
      aaguid: SOFT_AUTHENTICATOR_AAGUID,
      created_at: lk.clock.now().toISOString(),
      last_used_at: null,
    });
    const [held] = authenticator.credentials();
    const listed = await call(lk.app, '/v1/passkeys', { token });
    expect(listed.status).toBe(200);
    expect(listed.json).toEqual({ passkeys: [res.json] });
    for (const body of [res.json, listed.json]) {
      expect(JSON.stringify(body)).not.toContain(held!.publicKey);
      expect(JSON.stringify(body)).not.toContain(held!.id); // nor the credential ID
    }
    expect(await passkeysOf(user.id)).toBe(1);
    // The challenge was single use: taken by the finish.
    expect(await challengesOf(user.id)).toBe(0);
  });

  it('names: a synced passkey, a security key, or the name given (trimmed)', async () => {
    const { token } = await freshUser();
    const synced = await registerPasskey(lk.app, token, softAuthenticator({ backupEligible: true }));
    expect(synced).toMatchObject({ name: 'Synced passkey', device_type: 'multiDevice', backed_up: true });
    const key = await registerPasskey(
      lk.app,
      token,
      softAuthenticator({ transports: ['usb', 'nfc'], attachment: 'cross-platform' }),
    );
    expect(key).toMatchObject({
      name: 'Security key',
      device_type: 'singleDevice',
      transports: ['usb', 'nfc'],
    });
    const named = await registerPasskey(lk.app, token, softAuthenticator(), { name: '  Work laptop  ' });
    expect(named.name).toBe('Work laptop');
  });

  it('needs a fresh authentication: a 301-second-old session gets the RFC 9470 max_age challenge, no challenge row', async () => {
    const { user, token } = await freshUser();
    lk.clock.advance(301 * SECOND);
    const challenge = expectFreshAuthChallenge(await registrationOptions(lk.app, token));
    expect(challenge).toContain('max_age=300');
    expect(challenge).not.toContain('acr_values');
    expect(await challengesOf(user.id)).toBe(0);
  });

  it('with TOTP on, needs aal2: the aal1 session that activated TOTP is asked for acr_values="aal2"', async () => {
    const { user, pair, secret } = await userWithTotp();
    const challenge = expectFreshAuthChallenge(await registrationOptions(lk.app, pair.access_token));
    expect(challenge).toContain('acr_values="aal2"');
    expect(await challengesOf(user.id)).toBe(0);
    const aal2 = await loginWithCode(user.email, secret);
    expect((await addPasskey(lk.app, aal2.access_token, softAuthenticator())).status).toBe(201);
  });

  it('a slow ceremony finishes: the options were asked while fresh, the finish comes 2 minutes later', async () => {
    const { user, token } = await freshUser();
    lk.clock.advance(4 * MINUTE);
    const options = await registrationOptions(lk.app, token);
    expect(options.status).toBe(200);
    lk.clock.advance(2 * MINUTE); // the login is now 6 minutes old, the challenge 2
    const response = await softAuthenticator().register(options.json);
    expect((await finishRegistration(lk.app, token, response)).status).toBe(201);
    expect(await passkeysOf(user.id)).toBe(1);
  });

  it('excludeCredentials lists the user’s passkeys, so one authenticator is not registered twice', async () => {
    const { token } = await freshUser();
    const phone = softAuthenticator();
    const key = softAuthenticator({ transports: ['usb'] });
    await registerPasskey(lk.app, token, phone);
    lk.clock.advance(SECOND); // listed oldest first
    await registerPasskey(lk.app, token, key);
    const options = await registrationOptions(lk.app, token);
    expect(options.json.excludeCredentials).toEqual([
      { id: phone.credentials()[0]!.id, type: 'public-key', transports: ['internal'] },
      { id: key.credentials()[0]!.id, type: 'public-key', transports: ['usb'] },
    ]);
    await expect(phone.register(options.json)).rejects.toBeInstanceOf(CeremonyError);
    // Another user's passkeys are not listed.
    const other = await freshUser();
    expect((await registrationOptions(lk.app, other.token)).json.excludeCredentials).toEqual([]);
  });

  it('a credential ID registered already, to this user or another, is 409 passkey_exists', async () => {
    const owner = await userWithPasskey();
    const credentialId = owner.authenticator.credentials()[0]!.id;
    const other = await freshUser();
    const res = await addPasskey(lk.app, other.token, softAuthenticator(), { overrides: { credentialId } });
    expect(res.status).toBe(409);
    expect(res.json.error).toBe('passkey_exists');
    const again = await addPasskey(lk.app, owner.token, softAuthenticator(), { overrides: { credentialId } });
    expect(again.json.error).toBe('passkey_exists');
    expect(await passkeysOf(other.user.id)).toBe(0);
    expect(await passkeysOf(owner.user.id)).toBe(1);
    // The owner's passkey is untouched and still signs in.
    expect((await signInWithPasskey(lk.app, owner.authenticator)).status).toBe(200);
  });

  it(`an account holds at most ${PASSKEYS_PER_USER} passkeys: options and finishes past it are 409 passkey_limit_reached`, async () => {
    const { user, token } = await freshUser();
    // One authenticator each: excludeCredentials stops an authenticator registered already.
    for (let i = 0; i < PASSKEYS_PER_USER - 1; i++) await registerPasskey(lk.app, token, softAuthenticator());
    // Options asked at 24 passkeys, finished after the 25th was added: the store counts again.
    const early = await registrationOptions(lk.app, token);
    expect(early.status).toBe(200);
    await registerPasskey(lk.app, token, softAuthenticator());
    expect(await passkeysOf(user.id)).toBe(PASSKEYS_PER_USER);
    const late = await finishRegistration(lk.app, token, await softAuthenticator().register(early.json));
    expect(late.status).toBe(409);
    expect(late.json.error).toBe('passkey_limit_reached');
    const options = await registrationOptions(lk.app, token);
    expect(options.status).toBe(409);
    expect(options.json.error).toBe('passkey_limit_reached');
    expect(await passkeysOf(user.id)).toBe(PASSKEYS_PER_USER);
    expect(await challengesOf(user.id)).toBe(0);
    // Removing one makes room again.
    const listed = (await call(lk.app, '/v1/passkeys', { token })).json.passkeys as PasskeyJson[];
    expect(listed).toHaveLength(PASSKEYS_PER_USER);
    expect((await call(lk.app, `/v1/passkeys/${listed[0]!.id}`, { method: 'DELETE', token })).status).toBe(
      204,
    );
    expect((await addPasskey(lk.app, token, softAuthenticator())).status).toBe(201);
  });
});

describe('list, rename, remove', () => {
  it('lists the user’s own passkeys, oldest first', async () => {
    const { token } = await freshUser();
    const first = await registerPasskey(lk.app, token, softAuthenticator(), { name: 'first' });
    lk.clock.advance(SECOND);
    const second = await registerPasskey(lk.app, token, softAuthenticator(), { name: 'second' });
    await userWithPasskey(); // someone else's
    const res = await call(lk.app, '/v1/passkeys', { token });
    expect(res.json.passkeys.map((passkey: PasskeyJson) => passkey.id)).toEqual([first.id, second.id]);
    expect((await call(lk.app, '/v1/passkeys')).status).toBe(401);
  });

  it('renames (no fresh authentication needed); bad names are 400, another user’s passkey 404', async () => {
    const { token, passkey } = await userWithPasskey();
    lk.clock.advance(10 * MINUTE);
    const rename = (id: string, name: unknown, as = token) =>
      call(lk.app, `/v1/passkeys/${id}`, { method: 'PATCH', body: { name }, token: as });
    const res = await rename(passkey.id, '  iPhone 15  ');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ ...passkey, name: 'iPhone 15' });
    expect((await call(lk.app, '/v1/passkeys', { token })).json.passkeys[0].name).toBe('iPhone 15');
    for (const bad of ['', '   ', 'x'.repeat(65), 42, null])
      expect((await rename(passkey.id, bad)).json.error).toBe('invalid_request');
    const stranger = await freshUser();
    const foreign = await rename(passkey.id, 'mine now', stranger.token);
    expect(foreign.status).toBe(404);
    expect(foreign.json.error).toBe('not_found');
    expect((await rename('not-a-uuid', 'x')).status).toBe(404);
    expect((await rename(crypto.randomUUID(), 'x')).status).toBe(404);
    expect((await call(lk.app, '/v1/passkeys', { token })).json.passkeys[0].name).toBe('iPhone 15');
  });

  it('removing needs a fresh authentication; then 204, and the passkey no longer signs in', async () => {
    const { user, token, passkey, authenticator } = await userWithPasskey();
    const remove = (id: string, as = token) =>
      call(lk.app, `/v1/passkeys/${id}`, { method: 'DELETE', token: as });
    lk.clock.advance(301 * SECOND);
    expect(expectFreshAuthChallenge(await remove(passkey.id))).toContain('max_age=300');
    expect(await passkeysOf(user.id)).toBe(1);
    const fresh = (await login(lk.app, user.email)).access_token;
    const stranger = await freshUser();
    expect((await remove(passkey.id, stranger.token)).status).toBe(404);
    expect(await passkeysOf(user.id)).toBe(1);
    expect((await remove(passkey.id, fresh)).status).toBe(204);
    expect(await passkeysOf(user.id)).toBe(0);
    expect((await remove(passkey.id, fresh)).json.error).toBe('not_found');
    const signIn = await signInWithPasskey(lk.app, authenticator);
    expect(signIn.status).toBe(401);
    expect(signIn.json.error).toBe('invalid_passkey');
  });

  it('with TOTP on, removing needs aal2: the aal1 session that activated TOTP is refused', async () => {
    const { user, pair, secret } = await userWithTotp();
    const aal2 = await loginWithCode(user.email, secret);
    const passkey = await registerPasskey(lk.app, aal2.access_token, softAuthenticator());
    const remove = (token: string) => call(lk.app, `/v1/passkeys/${passkey.id}`, { method: 'DELETE', token });
    expect(expectFreshAuthChallenge(await remove(pair.access_token))).toContain('acr_values="aal2"');
    expect(await passkeysOf(user.id)).toBe(1);
    expect((await remove(aal2.access_token)).status).toBe(204);
  });
});

describe('discoverable sign-in', () => {
  it('options: a challenge, user verification required, no credentials listed (the browser offers its own)', async () => {
    const res = await signInOptions(lk.app);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json).toMatchObject({
      rpId: 'localhost',
      userVerification: 'required',
      timeout: CEREMONY_TIMEOUT_MS,
      allowCredentials: [],
    });
    expect(res.json.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('a device-bound passkey signs in: a token pair at aal2, amr hwk+user+mfa, the counter and last use recorded', async () => {
    const { user, authenticator, passkey } = await userWithPasskey();
    lk.clock.advance(MINUTE);
    const res = await signInWithPasskey(lk.app, authenticator, { body: { device_name: 'Phone' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(Object.keys(res.json).sort()).toEqual([
      'access_token',
      'expires_in',
      'refresh_token',
      'refresh_token_expires_in',
      'session_id',
      'token_type',
    ]);
    const claims = claimsOf(res.json.access_token);
    expect(claims).toMatchObject({
      sub: user.id,
      sid: res.json.session_id,
      acr: 'aal2',
      amr: ['hwk', 'user', 'mfa'],
      auth_time: nowSeconds(),
    });
    const sessions = await call(lk.app, '/v1/sessions', { token: res.json.access_token });
    const current = sessions.json.sessions.find((session: { current: boolean }) => session.current);
    expect(current).toMatchObject({ device_name: 'Phone', acr: 'aal2' });
    const listed = (await call(lk.app, '/v1/passkeys', { token: res.json.access_token })).json.passkeys;
    expect(listed).toEqual([{ ...passkey, last_used_at: lk.clock.now().toISOString() }]);
    expect(await count(sql`SELECT sign_count::int AS n FROM passkeys WHERE id = ${passkey.id}`)).toBe(
      authenticator.credentials()[0]!.signCount,
    );
    // The refresh token works and keeps the level.
    const refreshed = await refresh(lk.app, res.json.refresh_token);
    expect(refreshed.status).toBe(200);
    expect(claimsOf(refreshed.json.access_token)).toMatchObject({ acr: 'aal2', amr: ['hwk', 'user', 'mfa'] });
    // The user was named by the passkey alone: no email, no password.
    expect(JSON.stringify(res.response)).not.toContain(user.email);
  });

  it('a synced passkey is swk (its key is copied between devices), and may report counter 0 every time', async () => {
    const authenticator = softAuthenticator({ backupEligible: true, signCount: 'zero' });
    await userWithPasskey(authenticator);
    for (let i = 0; i < 2; i++) {
      const res = await signInWithPasskey(lk.app, authenticator);
      expect(res.status).toBe(200);
      expect(claimsOf(res.json.access_token)).toMatchObject({ acr: 'aal2', amr: ['swk', 'user', 'mfa'] });
    }
  });

  it('the user picks which of their passkeys signs in', async () => {
    const authenticator = softAuthenticator();
    const { token } = await freshUser();
    await registerPasskey(lk.app, token, authenticator, { name: 'old' });
    const other = await freshUser();
    await registerPasskey(lk.app, other.token, authenticator, { name: 'other user' });
    const [first, second] = authenticator.credentials();
    const asFirst = await signInWithPasskey(lk.app, authenticator, { overrides: { select: first!.id } });
    const asSecond = await signInWithPasskey(lk.app, authenticator, { overrides: { select: second!.id } });
    expect(claimsOf(asFirst.json.access_token).sub).not.toBe(claimsOf(asSecond.json.access_token).sub);
    expect(claimsOf(asSecond.json.access_token).sub).toBe(other.user.id);
  });

  it('cookie delivery works as for a password login: the refresh token only in the cookie', async () => {
    const { authenticator } = await userWithPasskey();
    const res = await signInWithPasskey(lk.app, authenticator, {
      body: { delivery: 'cookie', remember: true },
    });
    expect(res.status).toBe(200);
    expect(res.json.refresh_token).toBeUndefined();
    const setCookie = res.headers.get('set-cookie')!;
    const name = lk.config.refreshCookieName;
    expect(setCookie).toMatch(new RegExp(`^${name}=[^;]+;`));
    expect(setCookie).toContain('Path=/v1/auth');
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('Secure');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).toContain(`Max-Age=${res.json.refresh_token_expires_in}`);
    const cookie = setCookie.split(';')[0]!;
    const refreshed = await call(lk.app, '/v1/auth/refresh', {
      method: 'POST',
      headers: { cookie, origin: 'https://app.example.com' },
    });
    expect(refreshed.status).toBe(200);
    expect(claimsOf(refreshed.json.access_token).acr).toBe('aal2');
  });

  it('a disabled account is 403 account_disabled, and no session is opened', async () => {
    const { user, authenticator } = await userWithPasskey();
    expect(await lk.store.disableUser({ userId: user.id, now: lk.clock.now() })).toMatchObject({
      revoked: 1,
    });
    const res = await signInWithPasskey(lk.app, authenticator);
    expect(res.status).toBe(403);
    expect(res.json.error).toBe('account_disabled');
    expect(await sessionsOf(user.id)).toBe(0);
  });

  it('REQUIRE_EMAIL_VERIFICATION: an unverified address is 403 email_not_verified, as for a password', async () => {
    const { user, authenticator } = await userWithPasskey(); // registered while verification was not required
    const strict = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { REQUIRE_EMAIL_VERIFICATION: 'true' },
    });
    const before = await sessionsOf(user.id);
    const res = await signInWithPasskey(strict.app, authenticator);
    expect(res.status).toBe(403);
    expect(res.json.error).toBe('email_not_verified');
    expect(await sessionsOf(user.id)).toBe(before);
    const password = await call(strict.app, '/v1/auth/login', {
      body: { email: user.email, password: PASSWORD },
    });
    expect(password.json.error).toBe('email_not_verified');
  });

  it('at the session limit (SESSION_LIMIT_POLICY=reject) the sign-in is held; finishing it keeps the passkey’s aal2', async () => {
    const strict = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { SESSION_LIMIT_POLICY: 'reject', MAX_SESSIONS_PER_USER: '1' },
    });
    const { user, pair, authenticator } = await userWithPasskey();
    const held = await signInWithPasskey(strict.app, authenticator);
    expect(held.status).toBe(409);
    expect(held.json.error).toBe('session_limit_reached');
    expect(await sessionsOf(user.id)).toBe(1);
    const done = await call(strict.app, '/v1/auth/login/session-limit', {
      body: { limit_token: held.json.limit_token, revoke_session_id: pair.session_id },
    });
    expect(done.status).toBe(200);
    expect(claimsOf(done.json.access_token)).toMatchObject({ acr: 'aal2', amr: ['hwk', 'user', 'mfa'] });
  });

  it('a user with TOTP signs in with a passkey alone: it is a second factor in itself (aal2)', async () => {
    const { user, secret } = await userWithTotp();
    const aal2 = await loginWithCode(user.email, secret);
    const authenticator = softAuthenticator();
    await registerPasskey(lk.app, aal2.access_token, authenticator);
    const res = await signInWithPasskey(lk.app, authenticator);
    expect(res.status).toBe(200);
    expect(claimsOf(res.json.access_token)).toMatchObject({ sub: user.id, acr: 'aal2' });
  });
});

describe('second factor of a password login', () => {
  it('login names passkey among the methods only when the user has one', async () => {
    const { user, secret } = await userWithTotp();
    expect((await passwordStep(user.email)).methods).toEqual(['totp', 'recovery_code']);
    const aal2 = await loginWithCode(user.email, secret);
    await registerPasskey(lk.app, aal2.access_token, softAuthenticator());
    expect((await passwordStep(user.email)).methods).toEqual(['totp', 'recovery_code', 'passkey']);
  });

  it('options list the user’s passkeys (UV preferred), bound to the mfa_token; 404 without a passkey', async () => {
    const { user, secret } = await userWithTotp();
    const none = await secondFactorOptions(lk.app, (await passwordStep(user.email)).mfa_token);
    expect(none.status).toBe(404);
    expect(none.json.error).toBe('not_found');
    const aal2 = await loginWithCode(user.email, secret);
    const authenticator = softAuthenticator();
    await registerPasskey(lk.app, aal2.access_token, authenticator);
    const res = await secondFactorOptions(lk.app, (await passwordStep(user.email)).mfa_token);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      rpId: 'localhost',
      userVerification: 'preferred',
      allowCredentials: [
        { id: authenticator.credentials()[0]!.id, type: 'public-key', transports: ['internal'] },
      ],
    });
    const badToken = await secondFactorOptions(lk.app, 'lkm_not-a-real-token');
    expect(badToken.status).toBe(401);
    expect(badToken.json.error).toBe('invalid_mfa_token');
  });

  it('a passkey finishes the login: aal2, amr pwd + the passkey’s methods, the mfa_token spent', async () => {
    const { user, secret } = await userWithTotp();
    const aal2 = await loginWithCode(user.email, secret);
    const authenticator = softAuthenticator();
    await registerPasskey(lk.app, aal2.access_token, authenticator);
    const { mfa_token } = await passwordStep(user.email);
    const res = await secondFactorWithPasskey(lk.app, mfa_token, authenticator);
    expect(res.status).toBe(200);
    expect(claimsOf(res.json.access_token)).toMatchObject({
      sub: user.id,
      acr: 'aal2',
      amr: ['pwd', 'hwk', 'user', 'mfa'],
      auth_time: nowSeconds(),
    });
    // Single use: the token opened its session.
    const again = await secondFactorOptions(lk.app, mfa_token);
    expect(again.json.error).toBe('invalid_mfa_token');
  });

  it('a passkey without user verification is accepted as the second factor, but refused for a sign-in alone', async () => {
    const { user, secret } = await userWithTotp();
    const aal2 = await loginWithCode(user.email, secret);
    const securityKey = softAuthenticator({
      userVerification: false,
      transports: ['usb'],
      attachment: 'cross-platform',
    });
    await registerPasskey(lk.app, aal2.access_token, securityKey);
    const { mfa_token } = await passwordStep(user.email);
    const res = await secondFactorWithPasskey(lk.app, mfa_token, securityKey);
    expect(res.status).toBe(200);
    expect(claimsOf(res.json.access_token)).toMatchObject({ acr: 'aal2', amr: ['pwd', 'hwk', 'user'] });
    // Alone it is possession only: the browser refuses (UV required) …
    await expect(securityKey.authenticate((await signInOptions(lk.app)).json)).rejects.toMatchObject({
      name: 'NotAllowedError',
    });
    // … and a client that sends it anyway is refused by the server.
    const before = await sessionsOf(user.id);
    const alone = await signInWithPasskey(lk.app, securityKey, { overrides: { userVerified: false } });
    expect(alone.status).toBe(401);
    expect(alone.json.error).toBe('invalid_passkey');
    expect(await sessionsOf(user.id)).toBe(before);
  });

  it('a refused passkey spends one of the mfa_token’s attempts, as a wrong code does', async () => {
    const { user, secret } = await userWithTotp();
    const aal2 = await loginWithCode(user.email, secret);
    const authenticator = softAuthenticator();
    await registerPasskey(lk.app, aal2.access_token, authenticator);
    const { mfa_token } = await passwordStep(user.email);
    const wrong = await secondFactorWithPasskey(lk.app, mfa_token, authenticator, { tamperSignature: true });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toMatchObject({ error: 'invalid_passkey', attempts_left: 4 });
    // The token lives on: a new ceremony with the same token succeeds.
    const res = await secondFactorWithPasskey(lk.app, mfa_token, authenticator);
    expect(res.status).toBe(200);
  });
});

describe('step-up with a passkey', () => {
  it('options list the user’s passkeys, bound to this session; 404 without a passkey', async () => {
    const { token } = await freshUser();
    expect((await stepUpOptions(lk.app, token)).json.error).toBe('not_found');
    const authenticator = softAuthenticator();
    await registerPasskey(lk.app, token, authenticator);
    const res = await stepUpOptions(lk.app, token);
    expect(res.status).toBe(200);
    expect(res.json.allowCredentials.map((credential: { id: string }) => credential.id)).toEqual([
      authenticator.credentials()[0]!.id,
    ]);
    expect(res.json.userVerification).toBe('preferred');
    expect((await call(lk.app, '/v1/auth/step-up/passkey-options', { method: 'POST' })).status).toBe(401);
  });

  it('renews auth_time at aal2 (amr hwk+user+mfa): a stale session may then remove a passkey', async () => {
    const { user, token, authenticator, passkey } = await userWithPasskey();
    lk.clock.advance(10 * MINUTE); // stale, and the access token (15 minutes) still live
    expect((await call(lk.app, `/v1/passkeys/${passkey.id}`, { method: 'DELETE', token })).status).toBe(401);
    const res = await stepUpWithPasskey(lk.app, token, authenticator);
    expect(res.status).toBe(200);
    const claims = claimsOf(res.json.access_token);
    expect(claims).toMatchObject({
      sub: user.id,
      sid: claimsOf(token).sid,
      acr: 'aal2',
      amr: ['hwk', 'user', 'mfa'],
      auth_time: nowSeconds(),
    });
    expect(res.json.session_id).toBe(claimsOf(token).sid);
    const removed = await call(lk.app, `/v1/passkeys/${passkey.id}`, {
      method: 'DELETE',
      token: res.json.access_token,
    });
    expect(removed.status).toBe(204);
  });

  it('a passkey without user verification counts beside the session’s password: amr pwd+hwk+user', async () => {
    const { user, secret } = await userWithTotp();
    const aal2 = await loginWithCode(user.email, secret);
    const securityKey = softAuthenticator({ userVerification: false, transports: ['usb'] });
    await registerPasskey(lk.app, aal2.access_token, securityKey);
    lk.clock.advance(10 * MINUTE);
    const res = await stepUpWithPasskey(lk.app, aal2.access_token, securityKey);
    expect(res.status).toBe(200);
    expect(claimsOf(res.json.access_token)).toMatchObject({
      acr: 'aal2',
      amr: ['pwd', 'hwk', 'user'],
      auth_time: nowSeconds(),
    });
  });

  it('a passkey-only session stepped up with a non-UV passkey (or a code) claims no pwd: amr names what was used', async () => {
    // RFC 8176: the methods actually used. A session opened by a UV passkey has no password in
    // it; a security key without PIN adds possession to it (aal2 stays: its first
    // authentication verified the user, NIST SP 800-63B §7.2 reauthentication).
    const { user, token, secret } = await userWithTotp().then(async (withTotp) => ({
      ...withTotp,
      token: (await loginWithCode(withTotp.user.email, withTotp.secret)).access_token,
    }));
    const phone = softAuthenticator();
    const securityKey = softAuthenticator({ userVerification: false, transports: ['usb'] });
    await registerPasskey(lk.app, token, phone);
    await registerPasskey(lk.app, token, securityKey);
    const signedIn = await signInWithPasskey(lk.app, phone);
    expect(claimsOf(signedIn.json.access_token).amr).toEqual(['hwk', 'user', 'mfa']);
    lk.clock.advance(10 * MINUTE);
    const stepped = await stepUpWithPasskey(lk.app, signedIn.json.access_token, securityKey);
    expect(stepped.status).toBe(200);
    expect(claimsOf(stepped.json.access_token)).toMatchObject({ sub: user.id, acr: 'aal2' });
    expect(claimsOf(stepped.json.access_token).amr).toEqual(['hwk', 'user', 'mfa']);
    expect(claimsOf(stepped.json.access_token).amr).not.toContain('pwd');
    lk.clock.advance(30 * SECOND); // the code of a step not used yet (RFC 6238 §5.2)
    const withCode = await call(lk.app, '/v1/auth/step-up', {
      body: { code: totpCode(secret, nowSeconds()) },
      token: stepped.json.access_token,
    });
    expect(withCode.status).toBe(200);
    expect(claimsOf(withCode.json.access_token).amr).toEqual(['hwk', 'user', 'mfa', 'otp']);
  });

  it('an aal1 session of a TOTP user reaches aal2 by a passkey step-up', async () => {
    const { user, pair, secret } = await userWithTotp();
    const aal2 = await loginWithCode(user.email, secret);
    const authenticator = softAuthenticator();
    await registerPasskey(lk.app, aal2.access_token, authenticator);
    expect(claimsOf(pair.access_token).acr).toBe('aal1');
    const res = await stepUpWithPasskey(lk.app, pair.access_token, authenticator);
    expect(res.status).toBe(200);
    expect(claimsOf(res.json.access_token).acr).toBe('aal2');
  });
});

describe('security events', () => {
  it('passkey_added, login_succeeded and passkey_removed are in GET /v1/users/me/events', async () => {
    // One event a second: a clear order.
    const { token } = await freshUser();
    lk.clock.advance(SECOND);
    const authenticator = softAuthenticator();
    const passkey = await registerPasskey(lk.app, token, authenticator);
    lk.clock.advance(SECOND);
    const signIn = await signInWithPasskey(lk.app, authenticator, { body: { device_name: 'Tablet' } });
    expect(signIn.status).toBe(200);
    lk.clock.advance(SECOND);
    const removed = await call(lk.app, `/v1/passkeys/${passkey.id}`, {
      method: 'DELETE',
      token: signIn.json.access_token,
    });
    expect(removed.status).toBe(204);
    // user_registered has the first login's second: left out of the order.
    const events = (await eventsSeenBy(token)).filter((event) => event.type !== 'user_registered');
    expect(events.map((event) => event.type)).toEqual([
      'login_succeeded', // the password login
      'passkey_added',
      'login_succeeded', // the passkey
      'passkey_removed',
    ]);
    expect(events[1]).toMatchObject({
      session_id: claimsOf(token).sid,
      details: { passkey_id: passkey.id, name: 'Passkey', device_type: 'singleDevice' },
    });
    expect(events[0]).toMatchObject({ details: { amr: ['pwd'] } });
    expect(events[2]).toMatchObject({
      session_id: signIn.json.session_id,
      details: { device_name: 'Tablet', amr: ['hwk', 'user', 'mfa'] },
    });
    expect(events[3]).toMatchObject({
      session_id: signIn.json.session_id,
      details: { passkey_id: passkey.id, name: 'Passkey' },
    });
    // No public key or credential ID in any event.
    const held = authenticator.credentials()[0]!;
    expect(JSON.stringify(events)).not.toContain(held.publicKey);
    expect(JSON.stringify(events)).not.toContain(held.id);
  });
});

describe('passkeys go with the account', () => {
  /** An admin at aal2: signed in with a passkey. */
  async function adminToken(): Promise<string> {
    const { user, authenticator } = await userWithPasskey();
    expect(await lk.store.setUserRole(user.id, 'admin')).toBe(true);
    const res = await signInWithPasskey(lk.app, authenticator);
    expect(res.status).toBe(200);
    return res.json.access_token;
  }

  it('an admin MFA reset removes the user’s passkeys with the TOTP factor', async () => {
    const { user, secret } = await userWithTotp();
    const aal2 = await loginWithCode(user.email, secret);
    const authenticator = softAuthenticator();
    await registerPasskey(lk.app, aal2.access_token, authenticator);
    await registerPasskey(lk.app, aal2.access_token, softAuthenticator());
    const res = await call(lk.app, `/v1/admin/users/${user.id}/mfa`, {
      method: 'DELETE',
      token: await adminToken(),
    });
    expect(res.status).toBe(200);
    expect(await passkeysOf(user.id)).toBe(0);
    expect((await signInWithPasskey(lk.app, authenticator)).json.error).toBe('invalid_passkey');
    // A password login is a password login again.
    expect((await login(lk.app, user.email)).access_token).toBeDefined();
  });

  it('an admin MFA reset of a user with passkeys and no TOTP removes the passkeys', async () => {
    const { user, authenticator } = await userWithPasskey();
    const res = await call(lk.app, `/v1/admin/users/${user.id}/mfa`, {
      method: 'DELETE',
      token: await adminToken(),
    });
    expect(res.status).toBe(200);
    expect(await passkeysOf(user.id)).toBe(0);
    expect((await signInWithPasskey(lk.app, authenticator)).json.error).toBe('invalid_passkey');
  });

  it('deleting the account removes its passkeys and pending ceremonies', async () => {
    const { user, token, authenticator } = await userWithPasskey();
    await registrationOptions(lk.app, token); // a ceremony left unfinished
    await stepUpOptions(lk.app, token);
    expect(await challengesOf(user.id)).toBe(2);
    expect((await call(lk.app, '/v1/users/me', { method: 'DELETE', token })).status).toBe(204);
    expect(await passkeysOf(user.id)).toBe(0);
    expect(await challengesOf(user.id)).toBe(0);
    const res = await signInWithPasskey(lk.app, authenticator);
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_passkey');
  });

  it('cleanup deletes expired challenges (an hour past expiry), and only those', async () => {
    const cleanup = createCleanup({
      store: lk.store,
      clock: lk.clock,
      policy: {
        batchSize: 2,
        eventRetentionMs: 90 * 24 * 60 * MINUTE,
        revokedSessionRetentionMs: 7 * 24 * 60 * MINUTE,
        retiredKeyRetentionMs: lk.keyRing.retiredKeyRetentionMs,
      },
    });
    const all = () => count(sql`SELECT count(*)::int AS n FROM webauthn_challenges`);
    await cleanup.runOnce();
    lk.clock.advance(2 * 60 * MINUTE);
    await cleanup.runOnce();
    expect(await all()).toBe(0);
    for (let i = 0; i < 5; i++) expect((await signInOptions(lk.app)).status).toBe(200);
    lk.clock.advance(CEREMONY_TIMEOUT_MS + 60 * MINUTE - SECOND);
    const live = await signInOptions(lk.app);
    expect((await cleanup.runOnce()).webauthn_challenges).toBe(0); // expired, but within the margin
    lk.clock.advance(2 * SECOND);
    const counts = await cleanup.runOnce();
    expect(counts.webauthn_challenges).toBe(5);
    expect(await all()).toBe(1);
    // The one left still works until its own expiry.
    const { authenticator } = await userWithPasskey();
    const res = await finishSignIn(lk.app, await assertion(live, authenticator));
    expect(res.status).toBe(200);
  });
});
