import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import type { LatchkeyApp } from '../../src/http/app.js';
import { call, decodeJwtPart, login, refresh, registerUser, type TokenPair } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, TestClock, useDatabase } from '../support/harness.js';
import { base32Decode, totp } from '../support/totp.js';

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

const SECOND = 1000;
const STEP = 30 * SECOND;

// Our own RFC 6238 (test/support/totp.ts), independent of the server's otplib.

/** The 6-digit code of `secret` at the test clock's time, `steps` time steps away. */
const codeAt = (secret: string, steps = 0): string =>
  totp(base32Decode(secret), Math.floor(lk.clock.now().getTime() / 1000) + steps * 30);

/** A code that is valid in none of the steps the server accepts now (−1, 0, +1). */
function wrongCode(secret: string): string {
  const valid = new Set([-1, 0, 1].map((steps) => codeAt(secret, steps)));
  return ['000000', '111111', '222222', '333333'].find((code) => !valid.has(code))!;
}

/** Each code is accepted at most once per factor: move to the next time step first. */
function nextCode(secret: string): string {
  lk.clock.advance(STEP);
  return codeAt(secret);
}

describe('our RFC 6238 implementation', () => {
  const rfcKey = Buffer.from('12345678901234567890', 'ascii');

  it.each([
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ])('matches the RFC 6238 Appendix B SHA-1 vector at T=%i', (time, expected) => {
    expect(totp(rfcKey, time, 8)).toBe(expected);
  });

  it('decodes base32 as RFC 4648 does', () => {
    expect(base32Decode('MZXW6YTBOI======').toString('ascii')).toBe('foobar');
    expect(base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ')).toEqual(rfcKey);
    // 6 digits are the last 6 of the 8-digit value (RFC 4226 dynamic truncation).
    expect(totp(base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'), 59)).toBe('287082');
  });
});

// ---------------------------------------------------------------------------------------------
// Helpers over the HTTP API.
// ---------------------------------------------------------------------------------------------

const claimsOf = (accessToken: string) => decodeJwtPart(accessToken, 1);
const nowSeconds = () => Math.floor(lk.clock.now().getTime() / 1000);

async function eventsOf(userId: string, type: string) {
  const result = await database.current.db.execute(
    sql`SELECT details FROM security_events WHERE user_id = ${userId} AND type = ${type} ORDER BY created_at`,
  );
  return rowsOf<{ details: Record<string, unknown> | null }>(result);
}

const enroll = (token: string, app: LatchkeyApp = lk.app) =>
  call(app, '/v1/mfa/totp/enroll', { method: 'POST', token });

const activate = (token: string, code: string, app: LatchkeyApp = lk.app) =>
  call(app, '/v1/mfa/totp/activate', { body: { code }, token });

const loginMfa = (body: Record<string, unknown>, app: LatchkeyApp = lk.app) =>
  call(app, '/v1/auth/login/mfa', { body });

const stepUp = (token: string, body: Record<string, unknown>, app: LatchkeyApp = lk.app) =>
  call(app, '/v1/auth/step-up', { body, token });

/** A registered user with TOTP active; `pair` is the session that activated it. */
async function userWithMfa(app: LatchkeyApp = lk.app) {
  const user = await registerUser(app);
  const pair = await login(app, user.email);
  const enrolled = await enroll(pair.access_token, app);
  expect(enrolled.status).toBe(200);
  const secret: string = enrolled.json.secret;
  const activated = await activate(pair.access_token, codeAt(secret), app);
  expect(activated.status).toBe(200);
  return { user, pair, secret, recoveryCodes: activated.json.recovery_codes as string[] };
}

/** The first step of a login of a user with MFA: the `mfa_token`. */
async function mfaToken(email: string, app: LatchkeyApp = lk.app): Promise<string> {
  const res = await call(app, '/v1/auth/login', { body: { email, password: PASSWORD } });
  expect(res.status).toBe(200);
  expect(res.json.mfa_required).toBe(true);
  return res.json.mfa_token;
}

/** A full login with a fresh TOTP code: an `aal2` session. */
async function loginWithCode(email: string, secret: string, app: LatchkeyApp = lk.app): Promise<TokenPair> {
  const token = await mfaToken(email, app);
  const res = await loginMfa({ mfa_token: token, code: nextCode(secret) }, app);
  expect(res.status).toBe(200);
  return res.json;
}

const CROCKFORD = '[0-9ABCDEFGHJKMNPQRSTVWXYZ]';
const RECOVERY_CODE = new RegExp(`^${CROCKFORD}{4}-${CROCKFORD}{4}-${CROCKFORD}{4}$`);

// ---------------------------------------------------------------------------------------------

describe('enrollment', () => {
  it('gives a 160-bit base32 secret, its otpauth URI and a QR code', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    const res = await enroll(pair.access_token);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(base32Decode(res.json.secret)).toHaveLength(20);
    expect(res.json.otpauth_uri).toBe(
      `otpauth://totp/Account:${encodeURIComponent(user.email)}?secret=${res.json.secret}&issuer=Account`,
    );
    const uri = new URL(res.json.otpauth_uri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    // TOTP_ISSUER defaults to BRAND_NAME ("Account"): apps never show "Latchkey" unless configured.
    expect(decodeURIComponent(uri.pathname)).toBe(`/Account:${user.email}`);
    expect(uri.searchParams.get('secret')).toBe(res.json.secret);
    expect(uri.searchParams.get('issuer')).toBe('Account');
    expect(typeof res.json.qr_svg).toBe('string');
    expect(res.json.qr_svg).toContain('<svg');
  });

  it('two enrollments give two different secrets', async () => {
    const a = await registerUser(lk.app);
    const b = await registerUser(lk.app);
    const first = await enroll((await login(lk.app, a.email)).access_token);
    const second = await enroll((await login(lk.app, b.email)).access_token);
    expect(first.json.secret).not.toBe(second.json.secret);
  });

  it('a pending factor changes nothing: password login still opens a session, mfa_enabled stays false', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    expect((await enroll(pair.access_token)).status).toBe(200);
    const again = await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
    expect(again.status).toBe(200);
    expect(again.json.mfa_required).toBeUndefined();
    expect(typeof again.json.access_token).toBe('string');
    expect(claimsOf(again.json.access_token)).toMatchObject({ acr: 'aal1', amr: ['pwd'] });
    const me = await call(lk.app, '/v1/users/me', { token: again.json.access_token });
    expect(me.json.user.mfa_enabled).toBe(false);
    const [row] = rowsOf<{ status: string }>(
      await database.current.db.execute(sql`SELECT status FROM mfa_factors WHERE user_id = ${user.id}`),
    );
    expect(row?.status).toBe('pending');
  });

  it('enrolling again while pending replaces the secret: the first one no longer activates', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    const first = await enroll(pair.access_token);
    const second = await enroll(pair.access_token);
    expect(second.status).toBe(200);
    expect(second.json.secret).not.toBe(first.json.secret);
    const stale = await activate(pair.access_token, codeAt(first.json.secret));
    expect(stale.status).toBe(403);
    expect(stale.json.error).toBe('wrong_code');
    expect((await activate(pair.access_token, codeAt(second.json.secret))).status).toBe(200);
  });

  it('needs a fresh authentication: a 301-second-old login gets an RFC 9470 max_age challenge', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    lk.clock.advance(301 * SECOND);
    const res = await enroll(pair.access_token);
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('insufficient_user_authentication');
    const challenge = res.headers.get('www-authenticate');
    expect(challenge).toMatch(/^Bearer error="insufficient_user_authentication"/);
    expect(challenge).toContain('max_age=300');
    expect(challenge).not.toContain('acr_values');
  });

  it('needs a Bearer token at all', async () => {
    const res = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  });
});

describe('activation', () => {
  it('returns 10 Crockford recovery codes and raises the activating session to aal2 at its next refresh', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    const { json } = await enroll(pair.access_token);
    lk.clock.advance(10 * SECOND);
    const activatedAt = nowSeconds();
    const res = await activate(pair.access_token, codeAt(json.secret));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const codes: string[] = res.json.recovery_codes;
    expect(codes).toHaveLength(10);
    for (const code of codes) expect(code).toMatch(RECOVERY_CODE);
    expect(new Set(codes).size).toBe(10);

    // The access token in hand was minted before: still aal1.
    expect(claimsOf(pair.access_token).acr).toBe('aal1');
    lk.clock.advance(5 * SECOND);
    const next = await refresh(lk.app, pair.refresh_token);
    expect(next.status).toBe(200);
    expect(claimsOf(next.json.access_token)).toMatchObject({
      acr: 'aal2',
      amr: ['pwd', 'otp'],
      auth_time: activatedAt,
    });
    const me = await call(lk.app, '/v1/users/me', { token: next.json.access_token });
    expect(me.json.user.mfa_enabled).toBe(true);
    expect((await eventsOf(user.id, 'mfa_enabled')).length).toBe(1);
  });

  it('a wrong code is 403 wrong_code and leaves MFA off', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    const { json } = await enroll(pair.access_token);
    const res = await activate(pair.access_token, wrongCode(json.secret));
    expect(res.status).toBe(403);
    expect(res.json.error).toBe('wrong_code');
    const me = await call(lk.app, '/v1/users/me', { token: pair.access_token });
    expect(me.json.user.mfa_enabled).toBe(false);
    expect((await refresh(lk.app, pair.refresh_token)).json.access_token).toBeDefined();
    expect((await eventsOf(user.id, 'mfa_failed')).length).toBe(1);
  });

  it('activating without enrolling first is 409 mfa_not_enabled', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    const res = await activate(pair.access_token, '123456');
    expect(res.status).toBe(409);
    expect(res.json.error).toBe('mfa_not_enabled');
  });

  it('once active, enrolling or activating again is 409 mfa_already_enabled', async () => {
    const { pair, secret } = await userWithMfa();
    const again = await enroll(pair.access_token);
    expect(again.status).toBe(409);
    expect(again.json.error).toBe('mfa_already_enabled');
    const reactivate = await activate(pair.access_token, nextCode(secret));
    expect(reactivate.status).toBe(409);
    expect(reactivate.json.error).toBe('mfa_already_enabled');
  });
});

describe('login with MFA', () => {
  it('the password alone gives an mfa_token and no token of any other kind', async () => {
    const { user } = await userWithMfa();
    const res = await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(Object.keys(res.json).sort()).toEqual(['methods', 'mfa_required', 'mfa_token']);
    expect(res.json).toMatchObject({ mfa_required: true, methods: ['totp', 'recovery_code'] });
    expect(res.json.mfa_token).toMatch(/^lkm_[A-Za-z0-9_-]{43}$/);
    expect(res.json.access_token).toBeUndefined();
    expect(res.json.refresh_token).toBeUndefined();
  });

  it('a TOTP code opens an aal2 session with amr pwd+otp', async () => {
    const { user, secret } = await userWithMfa();
    const token = await mfaToken(user.email);
    const res = await loginMfa({ mfa_token: token, code: nextCode(secret) });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    expect(res.json.refresh_token).toMatch(/^lkr_/);
    expect(claimsOf(res.json.access_token)).toMatchObject({
      sub: user.id,
      sid: res.json.session_id,
      acr: 'aal2',
      amr: ['pwd', 'otp'],
      auth_time: nowSeconds(),
    });
    const me = await call(lk.app, '/v1/users/me', { token: res.json.access_token });
    expect(me.json.user.mfa_enabled).toBe(true);
    // The session keeps its level on refresh.
    lk.clock.advance(60 * SECOND);
    const next = await refresh(lk.app, res.json.refresh_token);
    expect(claimsOf(next.json.access_token)).toMatchObject({ acr: 'aal2', amr: ['pwd', 'otp'] });
  });

  it('the code may carry spaces, as apps display it', async () => {
    const { user, secret } = await userWithMfa();
    const code = nextCode(secret);
    const res = await loginMfa({
      mfa_token: await mfaToken(user.email),
      code: `${code.slice(0, 3)} ${code.slice(3)}`,
    });
    expect(res.status).toBe(200);
  });

  it('a wrong code is 401 invalid_code and is recorded', async () => {
    const { user, secret } = await userWithMfa();
    const res = await loginMfa({ mfa_token: await mfaToken(user.email), code: wrongCode(secret) });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_code');
    expect(res.json.access_token).toBeUndefined();
    const failures = await eventsOf(user.id, 'mfa_failed');
    expect(failures).toHaveLength(1);
    expect(failures[0]!.details).toMatchObject({ during: 'login', attempts: 1 });
  });

  it('guessing: the mfa_token dies after 5 wrong codes, even for the right code afterwards', async () => {
    const { user, secret } = await userWithMfa();
    const token = await mfaToken(user.email);
    for (let attempt = 1; attempt <= 5; attempt++) {
      const res = await loginMfa({ mfa_token: token, code: wrongCode(secret) });
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('invalid_code');
      expect(res.json.attempts_left).toBe(5 - attempt);
    }
    const right = await loginMfa({ mfa_token: token, code: nextCode(secret) });
    expect(right.status).toBe(401);
    expect(right.json.error).toBe('invalid_mfa_token');
    // A new login starts a new challenge.
    const fresh = await loginMfa({ mfa_token: await mfaToken(user.email), code: codeAt(secret) });
    expect(fresh.status).toBe(200);
  });

  it('an mfa_token is single use', async () => {
    const { user, secret, recoveryCodes } = await userWithMfa();
    const token = await mfaToken(user.email);
    expect((await loginMfa({ mfa_token: token, code: nextCode(secret) })).status).toBe(200);
    const again = await loginMfa({ mfa_token: token, code: nextCode(secret) });
    expect(again.status).toBe(401);
    expect(again.json.error).toBe('invalid_mfa_token');
    const withRecovery = await loginMfa({ mfa_token: token, recovery_code: recoveryCodes[0] });
    expect(withRecovery.status).toBe(401);
    expect(withRecovery.json.error).toBe('invalid_mfa_token');
  });

  it('an mfa_token expires after 5 minutes', async () => {
    const { user, secret } = await userWithMfa();
    const kept = await mfaToken(user.email);
    const late = await mfaToken(user.email);
    lk.clock.advance(4 * 60 * SECOND + 59 * SECOND);
    expect((await loginMfa({ mfa_token: kept, code: codeAt(secret) })).status).toBe(200);
    lk.clock.advance(2 * SECOND); // 5 min + 1 s after the login
    const res = await loginMfa({ mfa_token: late, code: nextCode(secret) });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_mfa_token');
  });

  it('token confusion: an mfa_token is not a Bearer token', async () => {
    const { user } = await userWithMfa();
    const token = await mfaToken(user.email);
    const res = await call(lk.app, '/v1/users/me', { token });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_token');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    const asRefresh = await refresh(lk.app, token);
    expect(asRefresh.status).toBe(401);
    expect(asRefresh.json.error).toBe('invalid_grant');
  });

  it('token confusion: a refresh token is not an mfa_token', async () => {
    const { user, secret, pair } = await userWithMfa();
    const res = await loginMfa({ mfa_token: pair.refresh_token, code: nextCode(secret) });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_mfa_token');
    // An mfa_token of the right shape that was never issued.
    const forged = await loginMfa({ mfa_token: `lkm_${'A'.repeat(43)}`, code: codeAt(secret) });
    expect(forged.status).toBe(401);
    expect(forged.json.error).toBe('invalid_mfa_token');
    // The code was not spent by the refused requests: it still logs in.
    expect((await loginMfa({ mfa_token: await mfaToken(user.email), code: codeAt(secret) })).status).toBe(
      200,
    );
  });

  it('token confusion: an access token is not an mfa_token', async () => {
    const { user, secret } = await userWithMfa();
    const pair = await loginWithCode(user.email, secret);
    const res = await loginMfa({ mfa_token: pair.access_token, code: nextCode(secret) });
    expect(res.json.access_token).toBeUndefined();
    // An access token is longer than any mfa_token: it must still reach the service's check.
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_mfa_token');
  });

  it('a password change after the first step voids the mfa_token', async () => {
    const { user, secret, pair } = await userWithMfa();
    const token = await mfaToken(user.email);
    lk.clock.advance(SECOND);
    const changed = await call(lk.app, '/v1/users/me/password', {
      body: { current_password: PASSWORD, new_password: 'another long passphrase 42' },
      token: pair.access_token,
    });
    expect(changed.status).toBe(204);
    const res = await loginMfa({ mfa_token: token, code: nextCode(secret) });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_mfa_token');
  });

  it('malformed second steps are 400 or 401, never 500', async () => {
    const { user } = await userWithMfa();
    const token = await mfaToken(user.email);
    const missing = await loginMfa({ mfa_token: token });
    expect(missing.status).toBe(400);
    expect(missing.json.error).toBe('invalid_request');
    for (const code of ['', '12345', '1234567', 'abcdef', "1' OR '1'='1"]) {
      const res = await loginMfa({ mfa_token: token, code });
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('invalid_code');
    }
  });
});

describe('TOTP rules', () => {
  it('clock skew: ±1 time step is accepted, ±2 is refused', async () => {
    const { user, secret } = await userWithMfa();
    lk.clock.advance(5 * STEP);
    const token = await mfaToken(user.email);
    for (const steps of [2, -2]) {
      const res = await loginMfa({ mfa_token: token, code: codeAt(secret, steps) });
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('invalid_code');
    }
    expect((await loginMfa({ mfa_token: token, code: codeAt(secret, -1) })).status).toBe(200);
    // A later step is still new for this factor.
    const ahead = await loginMfa({ mfa_token: await mfaToken(user.email), code: codeAt(secret, 1) });
    expect(ahead.status).toBe(200);
  });

  it('replay: a code that logged in once is refused in the next login, now and a step later', async () => {
    const { user, secret } = await userWithMfa();
    const code = nextCode(secret);
    expect((await loginMfa({ mfa_token: await mfaToken(user.email), code })).status).toBe(200);
    const replay = await loginMfa({ mfa_token: await mfaToken(user.email), code });
    expect(replay.status).toBe(401);
    expect(replay.json.error).toBe('invalid_code');
    lk.clock.advance(STEP); // the old code is now one step behind, inside the skew window
    const late = await loginMfa({ mfa_token: await mfaToken(user.email), code });
    expect(late.status).toBe(401);
    expect(late.json.error).toBe('invalid_code');
    expect((await loginMfa({ mfa_token: await mfaToken(user.email), code: codeAt(secret) })).status).toBe(
      200,
    );
  });

  it('replay: the code used to activate cannot log in', async () => {
    const { user, secret } = await userWithMfa();
    const res = await loginMfa({ mfa_token: await mfaToken(user.email), code: codeAt(secret) });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_code');
  });

  it('replay: a code that logged in cannot also step up', async () => {
    const { user, secret } = await userWithMfa();
    const code = nextCode(secret);
    const pair = (await loginMfa({ mfa_token: await mfaToken(user.email), code })).json as TokenPair;
    const res = await stepUp(pair.access_token, { code });
    expect(res.status).toBe(403);
    expect(res.json.error).toBe('wrong_code');
  });

  it('race: two parallel logins with the same code, exactly one wins', async () => {
    const { user, secret } = await userWithMfa();
    const [first, second] = [await mfaToken(user.email), await mfaToken(user.email)];
    const code = nextCode(secret);
    const results = await Promise.all([
      loginMfa({ mfa_token: first, code }),
      loginMfa({ mfa_token: second, code }),
    ]);
    expect(results.map((res) => res.status).sort()).toEqual([200, 401]);
    expect(results.find((res) => res.status === 401)!.json.error).toBe('invalid_code');
  });

  it('race: the same mfa_token sent twice in parallel opens one session at most', async () => {
    const { user, secret } = await userWithMfa();
    const token = await mfaToken(user.email);
    const code = nextCode(secret);
    const results = await Promise.all([
      loginMfa({ mfa_token: token, code }),
      loginMfa({ mfa_token: token, code }),
    ]);
    expect(results.filter((res) => res.status === 200)).toHaveLength(1);
  });
});

describe('recovery codes', () => {
  it('each code logs in once, at aal2 with amr pwd+rc', async () => {
    const { user, recoveryCodes } = await userWithMfa();
    const res = await loginMfa({ mfa_token: await mfaToken(user.email), recovery_code: recoveryCodes[0] });
    expect(res.status).toBe(200);
    expect(claimsOf(res.json.access_token)).toMatchObject({ acr: 'aal2', amr: ['pwd', 'rc'] });
    const used = await eventsOf(user.id, 'recovery_code_used');
    expect(used).toHaveLength(1);
    expect(used[0]!.details).toMatchObject({ remaining: 9 });

    const again = await loginMfa({ mfa_token: await mfaToken(user.email), recovery_code: recoveryCodes[0] });
    expect(again.status).toBe(401);
    expect(again.json.error).toBe('invalid_code');
    const other = await loginMfa({ mfa_token: await mfaToken(user.email), recovery_code: recoveryCodes[1] });
    expect(other.status).toBe(200);
  });

  it('case, spaces and dashes do not matter', async () => {
    const { user, recoveryCodes } = await userWithMfa();
    const [a, b] = recoveryCodes as [string, string];
    const sloppy = a.toLowerCase().replace(/-/g, ' ');
    expect((await loginMfa({ mfa_token: await mfaToken(user.email), recovery_code: sloppy })).status).toBe(
      200,
    );
    const glued = ` ${b.replace(/-/g, '').toLowerCase()} `;
    expect((await loginMfa({ mfa_token: await mfaToken(user.email), recovery_code: glued })).status).toBe(
      200,
    );
    // The same code written differently is still the same, used, code.
    const res = await loginMfa({ mfa_token: await mfaToken(user.email), recovery_code: a });
    expect(res.json.error).toBe('invalid_code');
  });

  it('a made-up or another user’s recovery code is refused', async () => {
    const { user } = await userWithMfa();
    const other = await userWithMfa();
    for (const code of ['AAAA-AAAA-AAAA', other.recoveryCodes[0]!, 'not a code', '']) {
      const res = await loginMfa({ mfa_token: await mfaToken(user.email), recovery_code: code });
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('invalid_code');
    }
  });

  it('race: one recovery code sent in two parallel logins is used once', async () => {
    const { user, recoveryCodes } = await userWithMfa();
    const [first, second] = [await mfaToken(user.email), await mfaToken(user.email)];
    const results = await Promise.all([
      loginMfa({ mfa_token: first, recovery_code: recoveryCodes[3] }),
      loginMfa({ mfa_token: second, recovery_code: recoveryCodes[3] }),
    ]);
    expect(results.map((res) => res.status).sort()).toEqual([200, 401]);
  });

  it('regenerating gives 10 new codes and the old ones stop working', async () => {
    const { user, secret, recoveryCodes } = await userWithMfa();
    const pair = await loginWithCode(user.email, secret);
    const res = await call(lk.app, '/v1/mfa/recovery-codes', { method: 'POST', token: pair.access_token });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const fresh: string[] = res.json.recovery_codes;
    expect(fresh).toHaveLength(10);
    for (const code of fresh) expect(code).toMatch(RECOVERY_CODE);
    expect(fresh.filter((code) => recoveryCodes.includes(code))).toEqual([]);

    const old = await loginMfa({ mfa_token: await mfaToken(user.email), recovery_code: recoveryCodes[0] });
    expect(old.status).toBe(401);
    expect(old.json.error).toBe('invalid_code');
    const renewed = await loginMfa({ mfa_token: await mfaToken(user.email), recovery_code: fresh[0] });
    expect(renewed.status).toBe(200);
    expect(claimsOf(renewed.json.access_token).amr).toEqual(['pwd', 'rc']);
  });
});

describe('step-up', () => {
  it('a TOTP code gives aal2 with auth_time now, which later refreshes keep', async () => {
    const { user, secret } = await userWithMfa();
    const pair = await loginWithCode(user.email, secret);
    lk.clock.advance(400 * SECOND);
    // Stale: RFC 9470 asks for a recent authentication.
    const stale = await call(lk.app, '/v1/mfa/recovery-codes', { method: 'POST', token: pair.access_token });
    expect(stale.status).toBe(401);

    const code = nextCode(secret);
    const steppedAt = nowSeconds();
    const res = await stepUp(pair.access_token, { code });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json.session_id).toBe(pair.session_id);
    expect(res.json.refresh_token).not.toBe(pair.refresh_token);
    expect(claimsOf(res.json.access_token)).toMatchObject({
      acr: 'aal2',
      amr: ['pwd', 'otp'],
      auth_time: steppedAt,
      sid: pair.session_id,
    });
    const guarded = await call(lk.app, '/v1/mfa/recovery-codes', {
      method: 'POST',
      token: res.json.access_token,
    });
    expect(guarded.status).toBe(200);

    lk.clock.advance(120 * SECOND);
    const later = await refresh(lk.app, res.json.refresh_token);
    expect(later.status).toBe(200);
    expect(claimsOf(later.json.access_token)).toMatchObject({
      acr: 'aal2',
      amr: ['pwd', 'otp'],
      auth_time: steppedAt,
    });
    const events = await eventsOf(user.id, 'step_up');
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ acr: 'aal2', amr: ['pwd', 'otp'] });
  });

  it('an aal1 session of an MFA user (just activated) reaches aal2 by step-up', async () => {
    const { pair, secret } = await userWithMfa();
    const refused = await call(lk.app, '/v1/mfa/recovery-codes', {
      method: 'POST',
      token: pair.access_token,
    });
    expect(refused.status).toBe(401);
    const res = await stepUp(pair.access_token, { code: nextCode(secret) });
    expect(res.status).toBe(200);
    expect(claimsOf(res.json.access_token).acr).toBe('aal2');
  });

  it('the password renews auth_time at aal1', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    lk.clock.advance(400 * SECOND);
    expect((await enroll(pair.access_token)).status).toBe(401);
    const res = await stepUp(pair.access_token, { password: PASSWORD });
    expect(res.status).toBe(200);
    expect(claimsOf(res.json.access_token)).toMatchObject({
      acr: 'aal1',
      amr: ['pwd'],
      auth_time: nowSeconds(),
    });
    expect((await enroll(res.json.access_token)).status).toBe(200);
    expect((await eventsOf(user.id, 'step_up'))[0]!.details).toMatchObject({ acr: 'aal1' });
  });

  it('a wrong code is 403 wrong_code; a wrong password is 403 wrong_password', async () => {
    const { user, secret } = await userWithMfa();
    const pair = await loginWithCode(user.email, secret);
    const badCode = await stepUp(pair.access_token, { code: wrongCode(secret) });
    expect(badCode.status).toBe(403);
    expect(badCode.json.error).toBe('wrong_code');
    const badPassword = await stepUp(pair.access_token, { password: 'not the password at all' });
    expect(badPassword.status).toBe(403);
    expect(badPassword.json.error).toBe('wrong_password');
    expect(await eventsOf(user.id, 'mfa_failed')).toHaveLength(2);
    // The session is untouched by the failures.
    expect((await refresh(lk.app, pair.refresh_token)).status).toBe(200);
  });

  it('a TOTP code without MFA enabled is refused', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    const res = await stepUp(pair.access_token, { code: '123456' });
    expect(res.status).toBe(403);
    expect(res.json.error).toBe('wrong_code');
  });

  it('the refresh token from before the step-up is dead, but the session is not revoked', async () => {
    const { user, secret } = await userWithMfa();
    const pair = await loginWithCode(user.email, secret);
    const res = await stepUp(pair.access_token, { code: nextCode(secret) });
    expect(res.status).toBe(200);
    lk.clock.advance(20 * SECOND); // past the reuse grace window
    const old = await refresh(lk.app, pair.refresh_token);
    expect(old.status).toBe(401);
    expect(old.json.error).toBe('invalid_grant');
    const next = await refresh(lk.app, res.json.refresh_token);
    expect(next.status).toBe(200);
    expect(next.json.session_id).toBe(pair.session_id);
    expect((await call(lk.app, '/v1/users/me', { token: res.json.access_token })).status).toBe(200);
    expect(await eventsOf(user.id, 'refresh_token_reused')).toHaveLength(0);
  });

  it('needs a Bearer token', async () => {
    const res = await call(lk.app, '/v1/auth/step-up', { body: { password: PASSWORD } });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_token');
  });
});

describe('RFC 9470 guard on disabling MFA and regenerating recovery codes', () => {
  const guarded = [
    ['DELETE', '/v1/mfa/totp'],
    ['POST', '/v1/mfa/recovery-codes'],
  ] as const;

  it.each(guarded)('%s %s with an aal1 token asks for acr_values="aal2"', async (method, path) => {
    const { pair } = await userWithMfa(); // the activating session's token is still aal1
    const res = await call(lk.app, path, { method, token: pair.access_token });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('insufficient_user_authentication');
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toMatch(
      /^Bearer error="insufficient_user_authentication", error_description="[^"]+", acr_values="aal2"$/,
    );
    expect(challenge).not.toContain('max_age');
  });

  it.each(guarded)('%s %s with an aal2 token older than 300 s asks for max_age=300', async (method, path) => {
    const { user, secret } = await userWithMfa();
    const pair = await loginWithCode(user.email, secret);
    lk.clock.advance(301 * SECOND);
    const res = await call(lk.app, path, { method, token: pair.access_token });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('insufficient_user_authentication');
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toMatch(/^Bearer error="insufficient_user_authentication", error_description="[^"]+"/);
    expect(challenge).toContain('max_age=300');
    expect(challenge).not.toContain('acr_values');
  });

  it('an aal1 token that is also stale gets both parameters', async () => {
    const { pair } = await userWithMfa();
    lk.clock.advance(301 * SECOND);
    const res = await call(lk.app, '/v1/mfa/totp', { method: 'DELETE', token: pair.access_token });
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toContain('acr_values="aal2"');
    expect(challenge).toContain('max_age=300');
  });

  it('a user without MFA cannot disable it (aal1 only)', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    const res = await call(lk.app, '/v1/mfa/totp', { method: 'DELETE', token: pair.access_token });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('acr_values="aal2"');
  });
});

describe('disabling MFA', () => {
  it('answers 204, revokes the other sessions, keeps the current one, and login is password-only again', async () => {
    const { user, secret, pair: activating } = await userWithMfa();
    const other = await loginWithCode(user.email, secret);
    const current = await loginWithCode(user.email, secret);
    const res = await call(lk.app, '/v1/mfa/totp', { method: 'DELETE', token: current.access_token });
    expect(res.status).toBe(204);

    for (const revoked of [activating, other]) {
      const refused = await refresh(lk.app, revoked.refresh_token);
      expect(refused.status).toBe(401);
      expect(refused.json.error).toBe('invalid_grant');
    }
    expect((await call(lk.app, '/v1/users/me', { token: other.access_token })).status).toBe(401);
    const kept = await refresh(lk.app, current.refresh_token);
    expect(kept.status).toBe(200);
    const me = await call(lk.app, '/v1/users/me', { token: kept.json.access_token });
    expect(me.status).toBe(200);
    expect(me.json.user.mfa_enabled).toBe(false);

    const direct = await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
    expect(direct.status).toBe(200);
    expect(direct.json.mfa_required).toBeUndefined();
    expect(claimsOf(direct.json.access_token)).toMatchObject({ acr: 'aal1', amr: ['pwd'] });

    const events = await eventsOf(user.id, 'mfa_disabled');
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ revoked_sessions: 2 });
  });

  it('removes the factor and its recovery codes; MFA can be enrolled again with a new secret', async () => {
    const { user, secret, recoveryCodes } = await userWithMfa();
    const pair = await loginWithCode(user.email, secret);
    expect((await call(lk.app, '/v1/mfa/totp', { method: 'DELETE', token: pair.access_token })).status).toBe(
      204,
    );
    const counts = rowsOf<{ factors: number; codes: number }>(
      await database.current.db.execute(sql`
        SELECT (SELECT count(*)::int FROM mfa_factors WHERE user_id = ${user.id}) AS factors,
               (SELECT count(*)::int FROM recovery_codes WHERE user_id = ${user.id}) AS codes`),
    )[0]!;
    expect(Number(counts.factors)).toBe(0);
    expect(Number(counts.codes)).toBe(0);

    const again = await enroll(pair.access_token);
    expect(again.status).toBe(200);
    expect(again.json.secret).not.toBe(secret);
    const reactivated = await activate(pair.access_token, nextCode(again.json.secret));
    expect(reactivated.status).toBe(200);
    expect(reactivated.json.recovery_codes.filter((code: string) => recoveryCodes.includes(code))).toEqual(
      [],
    );
    // The old secret is worthless now.
    const old = await loginMfa({ mfa_token: await mfaToken(user.email), code: nextCode(secret) });
    expect(old.status).toBe(401);
    expect(old.json.error).toBe('invalid_code');
  });
});

describe('throttling wrong codes per user', () => {
  it('after MFA_FAILURES_PER_USER wrong codes even a fresh mfa_token with the right code gets 429 until the window passes', async () => {
    const strict = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { MFA_FAILURES_PER_USER: '3' },
    });
    const { user, secret } = await userWithMfa(strict.app);
    // Spread over several mfa_tokens: the limit is per user, not per token.
    for (let i = 0; i < 3; i++) {
      const res = await loginMfa(
        { mfa_token: await mfaToken(user.email, strict.app), code: wrongCode(secret) },
        strict.app,
      );
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('invalid_code');
    }
    const blocked = await loginMfa(
      { mfa_token: await mfaToken(user.email, strict.app), code: nextCode(secret) },
      strict.app,
    );
    expect(blocked.status).toBe(429);
    expect(blocked.json.error).toBe('rate_limited');
    expect(blocked.json.access_token).toBeUndefined();
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(900);

    lk.clock.advance(retryAfter * SECOND);
    const open = await loginMfa(
      { mfa_token: await mfaToken(user.email, strict.app), code: nextCode(secret) },
      strict.app,
    );
    expect(open.status).toBe(200);
    expect(claimsOf(open.json.access_token).acr).toBe('aal2');
  });

  it('the throttle also covers recovery codes and step-up', async () => {
    const strict = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { MFA_FAILURES_PER_USER: '3' },
    });
    const { user, secret, recoveryCodes } = await userWithMfa(strict.app);
    const pair = await loginWithCode(user.email, secret, strict.app);
    for (let i = 0; i < 3; i++) {
      const res = await stepUp(pair.access_token, { code: wrongCode(secret) }, strict.app);
      expect(res.status).toBe(403);
    }
    const stepUpBlocked = await stepUp(pair.access_token, { code: nextCode(secret) }, strict.app);
    expect(stepUpBlocked.status).toBe(429);
    expect(Number(stepUpBlocked.headers.get('retry-after'))).toBeGreaterThan(0);
    const recoveryBlocked = await loginMfa(
      { mfa_token: await mfaToken(user.email, strict.app), recovery_code: recoveryCodes[0] },
      strict.app,
    );
    expect(recoveryBlocked.status).toBe(429);
    expect(recoveryBlocked.json.error).toBe('rate_limited');
    // Being throttled did not spend the recovery code.
    lk.clock.advance(900 * SECOND);
    const later = await loginMfa(
      { mfa_token: await mfaToken(user.email, strict.app), recovery_code: recoveryCodes[0] },
      strict.app,
    );
    expect(later.status).toBe(200);
  });

  it('one user’s failures do not throttle another user', async () => {
    const strict = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { MFA_FAILURES_PER_USER: '3' },
    });
    const victim = await userWithMfa(strict.app);
    const bystander = await userWithMfa(strict.app);
    for (let i = 0; i < 4; i++) {
      await loginMfa(
        { mfa_token: await mfaToken(victim.user.email, strict.app), code: wrongCode(victim.secret) },
        strict.app,
      );
    }
    const res = await loginMfa(
      { mfa_token: await mfaToken(bystander.user.email, strict.app), code: nextCode(bystander.secret) },
      strict.app,
    );
    expect(res.status).toBe(200);
  });
});

describe('audit trail', () => {
  it('records mfa_enabled, mfa_failed, recovery_code_used, step_up and mfa_disabled for the user', async () => {
    const { user, secret, recoveryCodes } = await userWithMfa();
    await loginMfa({ mfa_token: await mfaToken(user.email), code: wrongCode(secret) });
    const pair = (await loginMfa({ mfa_token: await mfaToken(user.email), recovery_code: recoveryCodes[0] }))
      .json as TokenPair;
    const stepped = await stepUp(pair.access_token, { code: nextCode(secret) });
    expect(stepped.status).toBe(200);
    await call(lk.app, '/v1/mfa/recovery-codes', { method: 'POST', token: stepped.json.access_token });
    expect(
      (await call(lk.app, '/v1/mfa/totp', { method: 'DELETE', token: stepped.json.access_token })).status,
    ).toBe(204);

    const types = rowsOf<{ type: string }>(
      await database.current.db.execute(
        sql`SELECT type FROM security_events WHERE user_id = ${user.id} ORDER BY created_at, type`,
      ),
    ).map((row) => row.type);
    for (const type of [
      'mfa_enabled',
      'mfa_failed',
      'recovery_code_used',
      'step_up',
      'recovery_codes_regenerated',
      'mfa_disabled',
    ]) {
      expect(types).toContain(type);
    }
    // None of them carries a code or the secret.
    const all = JSON.stringify(
      rowsOf(
        await database.current.db.execute(sql`SELECT * FROM security_events WHERE user_id = ${user.id}`),
      ),
    );
    expect(all).not.toContain(secret);
    expect(all).not.toContain(recoveryCodes[0]!);
  });
});

describe('secrets at rest', () => {
  it('the TOTP secret is sealed: it appears in no column of its mfa_factors row', async () => {
    const { user, secret } = await userWithMfa();
    const [row] = rowsOf<{ secret_sealed: string; encryption_key_id: string; whole: string }>(
      await database.current.db.execute(
        sql`SELECT secret_sealed, encryption_key_id, to_jsonb(f)::text AS whole
            FROM mfa_factors f WHERE user_id = ${user.id}`,
      ),
    );
    expect(row).toBeDefined();
    expect(row!.encryption_key_id.length).toBeGreaterThan(0);
    const raw = base32Decode(secret);
    for (const form of [
      secret,
      secret.toLowerCase(),
      raw.toString('hex'),
      raw.toString('base64'),
      raw.toString('base64url'),
    ]) {
      expect(row!.secret_sealed).not.toContain(form);
      expect(row!.whole.toLowerCase()).not.toContain(form.toLowerCase());
    }
  });

  it('recovery codes are stored as hashes that contain none of the codes', async () => {
    const { user, recoveryCodes } = await userWithMfa();
    const rows = rowsOf<{ code_hash: string }>(
      await database.current.db.execute(sql`SELECT code_hash FROM recovery_codes WHERE user_id = ${user.id}`),
    );
    expect(rows).toHaveLength(10);
    const hashes = rows.map((row) => row.code_hash);
    expect(new Set(hashes).size).toBe(10);
    for (const hash of hashes) {
      for (const code of recoveryCodes) {
        expect(hash.toUpperCase()).not.toContain(code);
        expect(hash.toUpperCase()).not.toContain(code.replace(/-/g, ''));
      }
    }
  });
});

describe('several instances', () => {
  it('clock skew between instances: a code step already used ahead of another instance’s clock is a 401, never a 500', async () => {
    const { user, secret } = await userWithMfa();
    // Put instance A one second into a time step; instance B, on the same database, runs 2 s behind,
    // so it is still in the previous step.
    const intoStep = lk.clock.now().getTime() % STEP;
    lk.clock.advance(STEP - intoStep + SECOND);
    const behind = new TestClock(new Date(lk.clock.now().getTime() - 2 * SECOND));
    const lagging = await buildLatchkey(database.current, { clock: behind });
    // A phone running a little fast: instance A accepts the code of the next step (allowed skew).
    const ahead = await loginMfa({ mfa_token: await mfaToken(user.email), code: codeAt(secret, 1) });
    expect(ahead.status).toBe(200);
    // The user logs in again through instance B with B's current code.
    const token = await mfaToken(user.email, lagging.app);
    const code = totp(base32Decode(secret), Math.floor(behind.now().getTime() / 1000));
    const res = await loginMfa({ mfa_token: token, code }, lagging.app);
    // B's newest acceptable step is behind the last used one: a wrong code, never a 500.
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_code');
  });
});
