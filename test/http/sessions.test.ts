import { beforeAll, describe, expect, it } from 'vitest';
import type { LatchkeyApp } from '../../src/http/app.js';
import { call, login, refresh, registerUser, type TokenPair } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, uniqueEmail, useDatabase } from '../support/harness.js';

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

const SESSION_FIELDS = [
  'acr',
  'created_at',
  'current',
  'device_name',
  'expires_at',
  'id',
  'ip_address',
  'key_bound',
  'last_active_at',
  'location',
  'remembered',
  'user_agent',
];

const APP_ORIGIN = 'https://app.example.com';
const COOKIE_NAME = '__Secure-latchkey_refresh';

/** Builds another app over the same database and clock, with its own configuration. */
const variant = (env: Record<string, string>, clientIp?: string) =>
  buildLatchkey(database.current, { clock: lk.clock, env, ...(clientIp ? { clientIp } : {}) });

// biome-ignore lint/suspicious/noExplicitAny: session bodies are asserted field by field
type SessionJson = any;

async function sessionsOf(app: LatchkeyApp, accessToken: string): Promise<SessionJson[]> {
  const res = await call(app, '/v1/sessions', { token: accessToken });
  expect(res.status).toBe(200);
  return res.json.sessions;
}

async function expectRefreshRefused(app: LatchkeyApp, refreshToken: string) {
  const res = await refresh(app, refreshToken);
  expect(res.status).toBe(401);
  expect(res.json.error).toBe('invalid_grant');
}

async function expectAccessRefused(app: LatchkeyApp, accessToken: string) {
  const res = await call(app, '/v1/users/me', { token: accessToken });
  expect(res.status).toBe(401);
  expect(res.json.error).toBe('invalid_token');
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
}

async function expectAccessWorks(app: LatchkeyApp, accessToken: string) {
  const res = await call(app, '/v1/users/me', { token: accessToken });
  expect(res.status).toBe(200);
}

/** The refresh cookie of a response's Set-Cookie headers, split into value and attributes. */
function refreshCookie(res: { headers: Headers }) {
  const raw = res.headers.getSetCookie().find((line) => line.startsWith(`${COOKIE_NAME}=`));
  if (!raw) return undefined;
  const [pair, ...attributes] = raw.split(';').map((part) => part.trim());
  return { raw, value: pair!.slice(COOKIE_NAME.length + 1), attributes };
}

const cookieRefresh = (app: LatchkeyApp, cookieValue: string, headers: Record<string, string> = {}) =>
  call(app, '/v1/auth/refresh', {
    method: 'POST',
    headers: { cookie: `${COOKIE_NAME}=${cookieValue}`, ...headers },
  });

describe('listing sessions', () => {
  it('shows each device with the contract fields, newest activity first, and marks only the caller', async () => {
    const { email } = await registerUser(lk.app);
    const laptop = await login(
      lk.app,
      email,
      { device_name: 'Work laptop', remember: true },
      { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0' },
    );
    const laptopLoginAt = lk.clock.now();
    lk.clock.advance(60 * SECOND);
    const phone = await login(lk.app, email, { device_name: 'Phone' }, { 'user-agent': 'Latchkey-iOS/2.1' });
    const phoneLoginAt = lk.clock.now();

    const res = await call(lk.app, '/v1/sessions', { token: phone.access_token });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const list: SessionJson[] = res.json.sessions;
    expect(list.map((session) => session.id)).toEqual([phone.session_id, laptop.session_id]);
    for (const session of list) expect(Object.keys(session).sort()).toEqual(SESSION_FIELDS);

    const [first, second] = list;
    expect(first).toMatchObject({
      device_name: 'Phone',
      user_agent: 'Latchkey-iOS/2.1',
      ip_address: '203.0.113.7',
      location: null,
      current: true,
      remembered: false,
      acr: 'aal1',
      created_at: phoneLoginAt.toISOString(),
      last_active_at: phoneLoginAt.toISOString(),
    });
    // A session that is not remembered ends 24 h after the login.
    expect(first.expires_at).toBe(new Date(phoneLoginAt.getTime() + DAY).toISOString());
    expect(second).toMatchObject({
      device_name: 'Work laptop',
      user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0',
      ip_address: '203.0.113.7',
      location: null,
      current: false,
      remembered: true,
      acr: 'aal1',
      created_at: laptopLoginAt.toISOString(),
      last_active_at: laptopLoginAt.toISOString(),
    });
    expect(new Date(second.expires_at).getTime()).toBeGreaterThan(laptopLoginAt.getTime() + DAY);
  });

  it('a refresh marks the session as active now and moves it to the top', async () => {
    const { email } = await registerUser(lk.app);
    const older = await login(lk.app, email, { device_name: 'Tablet' });
    const olderCreatedAt = lk.clock.now();
    lk.clock.advance(60 * SECOND);
    const newer = await login(lk.app, email, { device_name: 'Desktop' });
    expect((await sessionsOf(lk.app, newer.access_token)).map((session) => session.id)).toEqual([
      newer.session_id,
      older.session_id,
    ]);

    lk.clock.advance(5 * 60 * SECOND);
    const refreshed = await refresh(lk.app, older.refresh_token);
    expect(refreshed.status).toBe(200);

    const list = await sessionsOf(lk.app, newer.access_token);
    expect(list.map((session) => session.id)).toEqual([older.session_id, newer.session_id]);
    expect(list[0]).toMatchObject({
      device_name: 'Tablet',
      created_at: olderCreatedAt.toISOString(),
      last_active_at: lk.clock.now().toISOString(),
      current: false,
    });
    // From the refreshed session's own access token, it is the current one.
    const own = await sessionsOf(lk.app, refreshed.json.access_token);
    expect(own.filter((session) => session.current).map((session) => session.id)).toEqual([older.session_id]);
  });

  it('takes the IP address from the connection the runtime reports', async () => {
    const behindNat = await variant({}, '198.51.100.23');
    const { email } = await registerUser(behindNat.app);
    const pair = await login(behindNat.app, email);
    const [session] = await sessionsOf(behindNat.app, pair.access_token);
    expect(session.ip_address).toBe('198.51.100.23');
  });

  it('takes the location from the configured edge headers only', async () => {
    const edge = await variant({ LOCATION_HEADERS: 'cf-ipcity,cf-ipcountry' });
    const { email } = await registerUser(edge.app);
    const edgeHeaders = { 'cf-ipcity': 'S%C3%A3o%20Paulo', 'cf-ipcountry': 'BR' };

    const viaEdge = await login(edge.app, email, {}, edgeHeaders);
    const [located] = await sessionsOf(edge.app, viaEdge.access_token);
    expect(located.location).toBe('São Paulo, BR');

    // Without the configuration, a client could set these headers itself: they are ignored.
    const direct = await login(lk.app, email, {}, edgeHeaders);
    const mine = (await sessionsOf(lk.app, direct.access_token)).find((s: SessionJson) => s.current);
    expect(mine.location).toBeNull();
  });

  it('with a trusted X-Forwarded-For, uses the right-most entry so a client cannot spoof its IP', async () => {
    const proxied = await variant({ TRUSTED_IP_HEADER: 'x-forwarded-for' });
    const { email } = await registerUser(proxied.app);
    const pair = await login(proxied.app, email, {}, { 'x-forwarded-for': '10.6.6.6, 198.51.100.9' });
    const [session] = await sessionsOf(proxied.app, pair.access_token);
    expect(session.ip_address).toBe('198.51.100.9');
  });

  it('a junk forwarded IP is stored as null, never a 500', async () => {
    const proxied = await variant({ TRUSTED_IP_HEADER: 'x-forwarded-for' });
    const { email } = await registerUser(proxied.app);
    for (const junk of ['not-an-ip', "1.2.3.4'; DROP TABLE users; --", '999.1.1.1', ' , ']) {
      const res = await call(proxied.app, '/v1/auth/login', {
        body: { email, password: PASSWORD },
        headers: { 'x-forwarded-for': junk },
      });
      expect(res.status).toBe(200);
      const mine = (await sessionsOf(proxied.app, res.json.access_token)).find((s: SessionJson) => s.current);
      expect(mine.ip_address).toBeNull();
    }
  });

  it('without a trusted proxy header, a client-sent X-Forwarded-For is ignored', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email, {}, { 'x-forwarded-for': '10.6.6.6' });
    const [session] = await sessionsOf(lk.app, pair.access_token);
    expect(session.ip_address).toBe('203.0.113.7');
  });
});

describe('revoking one session', () => {
  it('signs the device out at once: its refresh token and its access token stop working', async () => {
    const { email } = await registerUser(lk.app);
    const lost = await login(lk.app, email, { device_name: 'Lost phone' });
    const mine = await login(lk.app, email, { device_name: 'Laptop' });

    const res = await call(lk.app, `/v1/sessions/${lost.session_id}`, {
      method: 'DELETE',
      token: mine.access_token,
    });
    expect(res.status).toBe(204);

    await expectRefreshRefused(lk.app, lost.refresh_token);
    await expectAccessRefused(lk.app, lost.access_token); // liveness, not just expiry
    expect((await sessionsOf(lk.app, mine.access_token)).map((session) => session.id)).toEqual([
      mine.session_id,
    ]);
    await expectAccessWorks(lk.app, mine.access_token);
  });

  it("answers 404 for another user's session, and that session survives", async () => {
    const victim = await registerUser(lk.app);
    const victimPair = await login(lk.app, victim.email);
    const attacker = await registerUser(lk.app);
    const attackerPair = await login(lk.app, attacker.email);

    const res = await call(lk.app, `/v1/sessions/${victimPair.session_id}`, {
      method: 'DELETE',
      token: attackerPair.access_token,
    });
    expect(res.status).toBe(404);
    expect(res.json.error).toBe('not_found');
    await expectAccessWorks(lk.app, victimPair.access_token);
    expect((await refresh(lk.app, victimPair.refresh_token)).status).toBe(200);
  });

  it.each([
    ['an unknown id', () => crypto.randomUUID()],
    ['a malformed id', () => 'abc'],
    ['an injection attempt', () => encodeURIComponent("' OR 1=1 --")],
  ])('answers 404 not_found for %s', async (_label, id) => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const res = await call(lk.app, `/v1/sessions/${id()}`, { method: 'DELETE', token: pair.access_token });
    expect(res.status).toBe(404);
    expect(res.json.error).toBe('not_found');
  });

  it('answers 404 for a session that is already revoked', async () => {
    const { email } = await registerUser(lk.app);
    const old = await login(lk.app, email);
    lk.clock.advance(SECOND);
    await refresh(lk.app, old.refresh_token); // a rotated token in its history too
    const mine = await login(lk.app, email);
    const path = `/v1/sessions/${old.session_id}`;
    expect((await call(lk.app, path, { method: 'DELETE', token: mine.access_token })).status).toBe(204);
    const again = await call(lk.app, path, { method: 'DELETE', token: mine.access_token });
    expect(again.status).toBe(404);
    expect(again.json.error).toBe('not_found');
  });
});

describe('revoking every session', () => {
  it("signs every other device out and keeps the caller's, even with no body", async () => {
    const { email } = await registerUser(lk.app);
    const a = await login(lk.app, email);
    const b = await login(lk.app, email);
    const mine = await login(lk.app, email);

    // No body and no content type at all.
    const res = await call(lk.app, '/v1/sessions/revoke-all', { method: 'POST', token: mine.access_token });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ revoked: 2 });

    for (const other of [a, b]) {
      await expectRefreshRefused(lk.app, other.refresh_token);
      await expectAccessRefused(lk.app, other.access_token);
    }
    await expectAccessWorks(lk.app, mine.access_token);
    expect((await sessionsOf(lk.app, mine.access_token)).map((session) => session.id)).toEqual([
      mine.session_id,
    ]);
    expect((await refresh(lk.app, mine.refresh_token)).status).toBe(200);
  });

  it("with include_current the caller's own session ends too", async () => {
    const { email } = await registerUser(lk.app);
    const other = await login(lk.app, email);
    const mine = await login(lk.app, email);

    const res = await call(lk.app, '/v1/sessions/revoke-all', {
      body: { include_current: true },
      token: mine.access_token,
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ revoked: 2 });
    await expectAccessRefused(lk.app, mine.access_token);
    await expectRefreshRefused(lk.app, mine.refresh_token);
    await expectRefreshRefused(lk.app, other.refresh_token);
  });
});

describe('session limit', () => {
  it('a login over the limit evicts the least recently active session, not the oldest', async () => {
    const limited = await variant({ MAX_SESSIONS_PER_USER: '3' });
    const { email } = await registerUser(limited.app);
    const first = await login(limited.app, email, { device_name: 'first' });
    lk.clock.advance(60 * SECOND);
    const second = await login(limited.app, email, { device_name: 'second' });
    lk.clock.advance(60 * SECOND);
    const third = await login(limited.app, email, { device_name: 'third' });
    lk.clock.advance(60 * SECOND);

    // The oldest login is in daily use; the second one sits idle.
    const kept = await refresh(limited.app, first.refresh_token);
    expect(kept.status).toBe(200);
    lk.clock.advance(60 * SECOND);

    const fourth = await login(limited.app, email, { device_name: 'fourth' });

    await expectRefreshRefused(limited.app, second.refresh_token);
    await expectAccessRefused(limited.app, second.access_token);
    const live = await sessionsOf(limited.app, fourth.access_token);
    expect(live.map((session) => session.device_name)).toEqual(['fourth', 'first', 'third']);
    expect((await refresh(limited.app, kept.json.refresh_token)).status).toBe(200);
    expect((await refresh(limited.app, third.refresh_token)).status).toBe(200);
  });

  it('parallel logins of one user cannot push it over the limit', async () => {
    const limited = await variant({ MAX_SESSIONS_PER_USER: '3' });
    const { email } = await registerUser(limited.app);
    const pairs = await Promise.all(
      Array.from({ length: 8 }, (_, index) => login(limited.app, email, { device_name: `burst ${index}` })),
    );
    // The last login to commit is live; ask with every token until one is accepted.
    let list: SessionJson[] | undefined;
    for (const pair of pairs) {
      const res = await call(limited.app, '/v1/sessions', { token: pair.access_token });
      if (res.status === 200) {
        list = res.json.sessions;
        break;
      }
    }
    expect(list).toBeDefined();
    expect(list).toHaveLength(3);
    // Exactly three of the eight refresh tokens still refresh.
    let refreshable = 0;
    for (const pair of pairs) {
      if ((await refresh(limited.app, pair.refresh_token)).status === 200) refreshable++;
    }
    expect(refreshable).toBe(3);
  });

  it('is 15 by default: a 16th login leaves 15 live sessions', async () => {
    const { email } = await registerUser(lk.app);
    const pairs: TokenPair[] = [];
    for (let i = 0; i < 16; i++) {
      pairs.push(await login(lk.app, email, { device_name: `device ${i}` }));
      lk.clock.advance(SECOND);
    }
    const list = await sessionsOf(lk.app, pairs.at(-1)!.access_token);
    expect(list).toHaveLength(15);
    expect(list.map((session) => session.device_name)).not.toContain('device 0');
    await expectRefreshRefused(lk.app, pairs[0]!.refresh_token);
  });
});

describe('changing the password', () => {
  const NEW_PASSWORD = 'a completely different passphrase';

  it('refuses a wrong current password', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const res = await call(lk.app, '/v1/users/me/password', {
      body: { current_password: 'not my password', new_password: NEW_PASSWORD },
      token: pair.access_token,
    });
    // 403, not 401: the access token is fine, and a client must not take this for a dead session.
    expect(res.status).toBe(403);
    expect(res.json.error).toBe('wrong_password');
    // Nothing changed: the old password still logs in, the session still works.
    await login(lk.app, email);
    await expectAccessWorks(lk.app, pair.access_token);
  });

  it('refuses a new password that is too short', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const res = await call(lk.app, '/v1/users/me/password', {
      body: { current_password: PASSWORD, new_password: 'short' },
      token: pair.access_token,
    });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_password');
    await login(lk.app, email);
  });

  it('signs every other device out, keeps this one, and swaps the password', async () => {
    const { email } = await registerUser(lk.app);
    const stolen = await login(lk.app, email, { device_name: 'attacker' });
    const other = await login(lk.app, email, { device_name: 'tablet' });
    const mine = await login(lk.app, email, { device_name: 'laptop' });

    const res = await call(lk.app, '/v1/users/me/password', {
      body: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      token: mine.access_token,
    });
    expect(res.status).toBe(204);

    for (const pair of [stolen, other]) {
      await expectRefreshRefused(lk.app, pair.refresh_token);
      await expectAccessRefused(lk.app, pair.access_token);
    }
    await expectAccessWorks(lk.app, mine.access_token);
    const renewed = await refresh(lk.app, mine.refresh_token);
    expect(renewed.status).toBe(200);
    expect(renewed.json.session_id).toBe(mine.session_id);

    const oldPassword = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
    expect(oldPassword.status).toBe(401);
    expect(oldPassword.json.error).toBe('invalid_credentials');
    const newPassword = await call(lk.app, '/v1/auth/login', { body: { email, password: NEW_PASSWORD } });
    expect(newPassword.status).toBe(200);
  });
});

describe('logout', () => {
  it('with the refresh token revokes the session', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const res = await call(lk.app, '/v1/auth/logout', { body: { refresh_token: pair.refresh_token } });
    expect(res.status).toBe(204);
    await expectRefreshRefused(lk.app, pair.refresh_token);
    await expectAccessRefused(lk.app, pair.access_token);
  });

  it('with only a Bearer access token revokes the session', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const res = await call(lk.app, '/v1/auth/logout', { method: 'POST', token: pair.access_token });
    expect(res.status).toBe(204);
    await expectRefreshRefused(lk.app, pair.refresh_token);
    await expectAccessRefused(lk.app, pair.access_token);
  });

  it('with nothing to identify the session is a 400', async () => {
    const res = await call(lk.app, '/v1/auth/logout', { method: 'POST' });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_request');
  });

  it('with an unknown well-formed token still answers 204 and touches nothing', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const res = await call(lk.app, '/v1/auth/logout', { body: { refresh_token: `lkr_${'a'.repeat(43)}` } });
    expect(res.status).toBe(204);
    expect((await refresh(lk.app, pair.refresh_token)).status).toBe(200);
  });
});

describe('cookie delivery', () => {
  async function cookieLogin(remember: boolean) {
    const { email } = await registerUser(lk.app);
    const res = await call(lk.app, '/v1/auth/login', {
      body: { email, password: PASSWORD, delivery: 'cookie', remember },
    });
    expect(res.status).toBe(200);
    const cookie = refreshCookie(res);
    expect(cookie).toBeDefined();
    return { res, cookie: cookie! };
  }

  it('puts the refresh token only in an HttpOnly, Secure, SameSite=Strict cookie on the auth path', async () => {
    const { res, cookie } = await cookieLogin(false);
    expect(res.json.refresh_token).toBeUndefined();
    expect(res.json.access_token).toEqual(expect.any(String));
    expect(cookie.value).toMatch(/^lkr_[A-Za-z0-9_-]{43}$/);
    expect(cookie.attributes).toEqual(
      expect.arrayContaining(['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/v1/auth']),
    );
    // Not remembered: a browser-session cookie.
    expect(cookie.attributes.some((attribute) => /^max-age=/i.test(attribute))).toBe(false);
    expect(cookie.attributes.some((attribute) => /^expires=/i.test(attribute))).toBe(false);
  });

  it('a remembered session gets a cookie with Max-Age', async () => {
    const { res, cookie } = await cookieLogin(true);
    expect(cookie.attributes).toContain(`Max-Age=${res.json.refresh_token_expires_in}`);
    expect(res.json.refresh_token_expires_in).toBe(30 * 24 * 3600);
  });

  it('refreshes from the cookie alone when the request comes from the allowed origin', async () => {
    const { cookie } = await cookieLogin(false);
    const res = await cookieRefresh(lk.app, cookie.value, { origin: APP_ORIGIN });
    expect(res.status).toBe(200);
    expect(res.json.refresh_token).toBeUndefined();
    const next = refreshCookie(res);
    expect(next).toBeDefined();
    expect(next!.value).not.toBe(cookie.value);
    expect(next!.attributes).toEqual(
      expect.arrayContaining(['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/v1/auth']),
    );
    // The rotated cookie works in turn.
    lk.clock.advance(SECOND);
    expect((await cookieRefresh(lk.app, next!.value, { origin: APP_ORIGIN })).status).toBe(200);
  });

  it.each([
    ['no Origin', {}],
    ['a foreign Origin', { origin: 'https://evil.example' }],
    ['an Origin that only looks alike', { origin: 'https://app.example.com.evil.example' }],
    ['Sec-Fetch-Site: none', { origin: APP_ORIGIN, 'sec-fetch-site': 'none' }],
  ])('a cookie refresh with %s is refused with 403 invalid_origin (CSRF)', async (_label, headers) => {
    const { cookie } = await cookieLogin(false);
    const res = await cookieRefresh(lk.app, cookie.value, headers);
    expect(res.status).toBe(403);
    expect(res.json.error).toBe('invalid_origin');
    // The cookie was not rotated by the forged request: the real app can still use it.
    expect((await cookieRefresh(lk.app, cookie.value, { origin: APP_ORIGIN })).status).toBe(200);
  });

  it('a cookie refresh with a JSON content type and an empty object from a foreign origin is refused', async () => {
    // A JSON content type is no CSRF defence by itself (Hono's csrf() only checks form types).
    const { cookie } = await cookieLogin(false);
    const res = await call(lk.app, '/v1/auth/refresh', {
      body: {},
      headers: { cookie: `${COOKIE_NAME}=${cookie.value}`, origin: 'https://evil.example' },
    });
    expect(res.status).toBe(403);
    expect(res.json.error).toBe('invalid_origin');
  });

  it('logout with the cookie from the allowed origin ends the session and clears the cookie', async () => {
    const { res: loginRes, cookie } = await cookieLogin(true);
    const res = await call(lk.app, '/v1/auth/logout', {
      method: 'POST',
      headers: { cookie: `${COOKIE_NAME}=${cookie.value}`, origin: APP_ORIGIN },
    });
    expect(res.status).toBe(204);
    const cleared = refreshCookie(res);
    expect(cleared).toBeDefined();
    expect(cleared!.value).toBe('');
    expect(cleared!.attributes).toEqual(expect.arrayContaining(['Max-Age=0', 'Path=/v1/auth']));
    await expectAccessRefused(lk.app, loginRes.json.access_token);
    const after = await cookieRefresh(lk.app, cookie.value, { origin: APP_ORIGIN });
    expect(after.status).toBe(401);
    expect(after.json.error).toBe('invalid_grant');
  });

  it('logout with the cookie from a foreign origin is refused and the session lives on', async () => {
    const { res: loginRes, cookie } = await cookieLogin(false);
    const res = await call(lk.app, '/v1/auth/logout', {
      method: 'POST',
      headers: { cookie: `${COOKIE_NAME}=${cookie.value}`, origin: 'https://evil.example' },
    });
    expect(res.status).toBe(403);
    expect(res.json.error).toBe('invalid_origin');
    await expectAccessWorks(lk.app, loginRes.json.access_token);
  });
});

describe('caching', () => {
  it('every /v1 response, success or error, carries Cache-Control: no-store', async () => {
    const email = uniqueEmail();
    const responses: [string, { status: number; headers: Headers }][] = [];
    const record = async (label: string, promise: ReturnType<typeof call>) => {
      const res = await promise;
      responses.push([`${label} (${res.status})`, res]);
      return res;
    };

    await record('register', call(lk.app, '/v1/auth/register', { body: { email, password: PASSWORD } }));
    const loginRes = await record(
      'login',
      call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } }),
    );
    const pair: TokenPair = loginRes.json;
    const other = await login(lk.app, email);
    await record(
      'bad login',
      call(lk.app, '/v1/auth/login', { body: { email, password: 'wrong password' } }),
    );
    await record('malformed login', call(lk.app, '/v1/auth/login', { body: [1] }));
    await record(
      'refresh',
      call(lk.app, '/v1/auth/refresh', { body: { refresh_token: other.refresh_token } }),
    );
    await record('bad refresh', refresh(lk.app, `lkr_${'b'.repeat(43)}`));
    await record('me', call(lk.app, '/v1/users/me', { token: pair.access_token }));
    await record('me without a token', call(lk.app, '/v1/users/me'));
    await record('sessions', call(lk.app, '/v1/sessions', { token: pair.access_token }));
    await record(
      'delete unknown session',
      call(lk.app, `/v1/sessions/${crypto.randomUUID()}`, { method: 'DELETE', token: pair.access_token }),
    );
    await record(
      'delete session',
      call(lk.app, `/v1/sessions/${other.session_id}`, { method: 'DELETE', token: pair.access_token }),
    );
    await record(
      'revoke-all',
      call(lk.app, '/v1/sessions/revoke-all', { method: 'POST', token: pair.access_token }),
    );
    await record('unknown route', call(lk.app, '/v1/nope'));
    await record('logout', call(lk.app, '/v1/auth/logout', { method: 'POST', token: pair.access_token }));

    for (const [label, res] of responses) {
      expect(res.headers.get('cache-control'), label).toBe('no-store');
    }
    expect(responses.map(([label]) => label)).toContain('logout (204)');
  });
});
