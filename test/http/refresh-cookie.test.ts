import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { call, decodeJwtPart, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, testConfig, useDatabase } from '../support/harness.js';

/**
 * The refresh cookie of cookie delivery against planted cookies. Its path is the auth routes
 * (API.md), which rules out `__Host-`; its name is `__Secure-`, so no http:// response (a
 * network attacker's) can set it (RFC 6265bis §4.1.3.1). A sibling subdomain still can, for
 * Domain=example.com with a longer Path, which browsers send first (RFC 6265bis §8.6): when
 * a request carries the name twice, neither value is used.
 */

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current); // ALLOWED_ORIGINS=https://app.example.com
});

const APP_ORIGIN = 'https://app.example.com';

/** Set-Cookie of `name`, split into value and attributes (names in lower case). */
function setCookie(res: { headers: Headers }, name: string) {
  const raw = res.headers.getSetCookie().find((line) => line.startsWith(`${name}=`));
  if (!raw) return undefined;
  const [pair, ...rest] = raw.split(';').map((part) => part.trim());
  const attributes = new Map<string, string | true>(
    rest.map((part): [string, string | true] => {
      const equals = part.indexOf('=');
      return equals < 0
        ? [part.toLowerCase(), true]
        : [part.slice(0, equals).toLowerCase(), part.slice(equals + 1)];
    }),
  );
  return { value: pair!.slice(name.length + 1), attributes };
}

async function cookieLogin(app = lk) {
  const { email, id } = await registerUser(app.app);
  const res = await call(app.app, '/v1/auth/login', {
    body: { email, password: PASSWORD, delivery: 'cookie' },
  });
  expect(res.status).toBe(200);
  const cookie = setCookie(res, app.config.refreshCookieName);
  expect(cookie).toBeDefined();
  return { email, userId: id, accessToken: res.json.access_token as string, refreshToken: cookie!.value };
}

/** Secure (which `__Secure-` requires, or browsers drop it), on the auth routes, host-only. */
function expectRefreshCookie(cookie: ReturnType<typeof setCookie>) {
  expect(cookie).toBeDefined();
  expect(cookie!.attributes.get('path')).toBe('/v1/auth');
  expect(cookie!.attributes.get('secure')).toBe(true);
  expect(cookie!.attributes.has('domain')).toBe(false);
  expect(cookie!.attributes.get('httponly')).toBe(true);
  expect(cookie!.attributes.get('samesite')).toBe('Strict');
}

describe('the refresh cookie is __Secure-', () => {
  it('login, rotation and logout set and clear __Secure-latchkey_refresh: Secure, Path=/v1/auth, no Domain', async () => {
    expect(lk.config.refreshCookieName).toBe('__Secure-latchkey_refresh');
    const { email } = await registerUser(lk.app);
    const login = await call(lk.app, '/v1/auth/login', {
      body: { email, password: PASSWORD, delivery: 'cookie' },
    });
    const issued = setCookie(login, '__Secure-latchkey_refresh');
    expectRefreshCookie(issued);

    const rotated = await call(lk.app, '/v1/auth/refresh', {
      method: 'POST',
      headers: { cookie: `__Secure-latchkey_refresh=${issued!.value}`, origin: APP_ORIGIN },
    });
    expect(rotated.status).toBe(200);
    const next = setCookie(rotated, '__Secure-latchkey_refresh');
    expectRefreshCookie(next);

    const logout = await call(lk.app, '/v1/auth/logout', {
      method: 'POST',
      headers: { cookie: `__Secure-latchkey_refresh=${next!.value}`, origin: APP_ORIGIN },
    });
    expect(logout.status).toBe(204);
    const cleared = setCookie(logout, '__Secure-latchkey_refresh');
    expectRefreshCookie(cleared);
    expect(cleared!.attributes.get('max-age')).toBe('0');
  });

  it('REFRESH_COOKIE_NAME without the __Secure- prefix is refused at start-up, with the reason', () => {
    // __Host-rt too: it cannot have Path=/v1/auth (before, every cookie login was then a 500).
    for (const name of ['latchkey_refresh', '__Host-rt', '__secure-rt', '__Secure-']) {
      let error: unknown;
      try {
        testConfig({ REFRESH_COOKIE_NAME: name });
      } catch (caught) {
        error = caught;
      }
      expect(error, name).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message, name).toMatch(/REFRESH_COOKIE_NAME: must be __Secure-/);
    }
  });

  it('a configured __Secure- name works for cookie delivery', async () => {
    const custom = await buildLatchkey(database.current, { env: { REFRESH_COOKIE_NAME: '__Secure-rt' } });
    const { refreshToken } = await cookieLogin(custom);
    const res = await call(custom.app, '/v1/auth/refresh', {
      method: 'POST',
      headers: { cookie: `__Secure-rt=${refreshToken}`, origin: APP_ORIGIN },
    });
    expect(res.status).toBe(200);
    expectRefreshCookie(setCookie(res, '__Secure-rt'));
  });
});

describe('a refresh cookie planted by a sibling subdomain', () => {
  // The attacker logs in to their own account and plants that refresh token in the victim's
  // browser; the browser sends it first. Session fixation: the victim's SPA would then work
  // in the attacker's account (and whatever it saves, the attacker reads).
  it("is never used instead of the victim's: no tokens for the attacker's session, nothing rotated", async () => {
    const name = lk.config.refreshCookieName;
    const victim = await cookieLogin();
    const attacker = await cookieLogin();
    const res = await call(lk.app, '/v1/auth/refresh', {
      method: 'POST',
      headers: {
        cookie: `${name}=${attacker.refreshToken}; ${name}=${victim.refreshToken}`,
        origin: APP_ORIGIN,
      },
    });
    if (res.status === 200) {
      // What the victim's SPA would now hold: tokens of the attacker's account.
      expect(decodeJwtPart(res.json.access_token, 1).sub).not.toBe(attacker.userId);
    }
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_request');
    expect(res.json.error_description).toMatch(/sent twice/);
    // Neither cookie is cleared (ours gone, the planted one would be used next) nor spent.
    expect(res.headers.getSetCookie()).toEqual([]);
    for (const owner of [victim, attacker]) {
      const alone = await call(lk.app, '/v1/auth/refresh', {
        method: 'POST',
        headers: { cookie: `${name}=${owner.refreshToken}`, origin: APP_ORIGIN },
      });
      expect(alone.status).toBe(200);
      expect(decodeJwtPart(alone.json.access_token, 1).sub).toBe(owner.userId);
    }
  });

  it("cannot turn the victim's logout into the attacker's: nothing is revoked", async () => {
    const name = lk.config.refreshCookieName;
    const victim = await cookieLogin();
    const attacker = await cookieLogin();
    const res = await call(lk.app, '/v1/auth/logout', {
      method: 'POST',
      headers: {
        cookie: `${name}=${attacker.refreshToken}; ${name}=${victim.refreshToken}`,
        origin: APP_ORIGIN,
      },
    });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_request');
    for (const owner of [victim, attacker]) {
      const me = await call(lk.app, '/v1/users/me', { token: owner.accessToken });
      expect(me.status).toBe(200);
    }
  });

  it('a Bearer logout still works, and still clears a single cookie of ours', async () => {
    const name = lk.config.refreshCookieName;
    const victim = await cookieLogin();
    const res = await call(lk.app, '/v1/auth/logout', {
      method: 'POST',
      token: victim.accessToken,
      headers: { cookie: `${name}=${victim.refreshToken}` },
    });
    expect(res.status).toBe(204);
    expect(setCookie(res, name)?.attributes.get('max-age')).toBe('0');
  });
});
