import { beforeAll, describe, expect, it } from 'vitest';
import { createLatchkeyClient, LatchkeyError } from '../src/client/index.js';
import { appFetch, registerUser } from './support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from './support/harness.js';

/** `latchkey/client`: refresh on 401, single flight, both deliveries. */
const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

/** The app as a browser on https://app.example.com would reach it: Origin set, cookies kept. */
function browserFetch(app: Latchkey['app']) {
  const jar = new Map<string, string>();
  const paths: string[] = [];
  const fetch = async (input: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('origin', 'https://app.example.com');
    if (jar.size > 0) headers.set('cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
    paths.push(new URL(input).pathname);
    const response = await appFetch(app)(input, { ...init, headers });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const [name, value] = pair!.split('=');
      if (value) jar.set(name!, value);
      else jar.delete(name!);
    }
    return response;
  };
  return { fetch, jar, paths };
}

describe('latchkey/client', () => {
  it('body delivery: logs in, and parallel calls after expiry share one refresh', async () => {
    const { email, id } = await registerUser(lk.app);
    const browser = browserFetch(lk.app);
    const client = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: browser.fetch,
    });
    const pair = await client.login(email, PASSWORD);
    expect('access_token' in pair).toBe(true);
    expect((await client.me()).id).toBe(id);

    lk.clock.advance(16 * 60 * 1000); // the access token has expired
    browser.paths.length = 0;
    const users = await Promise.all(Array.from({ length: 5 }, () => client.me()));
    expect(users.map((user) => user.id)).toEqual(Array(5).fill(id));
    expect(browser.paths.filter((path) => path === '/v1/auth/refresh')).toHaveLength(1);
    expect(browser.paths.filter((path) => path === '/v1/users/me')).toHaveLength(10);
  });

  it('cookie delivery: JS never holds the refresh token; the cookie refreshes', async () => {
    const { email, id } = await registerUser(lk.app);
    const browser = browserFetch(lk.app);
    const client = createLatchkeyClient({ baseUrl: lk.config.issuer, fetch: browser.fetch });
    const pair = await client.login(email, PASSWORD);
    expect('refresh_token' in pair && pair.refresh_token).toBeFalsy();
    expect([...browser.jar.keys()]).toEqual([lk.config.refreshCookieName]);
    lk.clock.advance(16 * 60 * 1000);
    expect((await client.me()).id).toBe(id);
    expect((await client.sessions()).length).toBe(1);
    await client.logout();
    expect(browser.jar.size).toBe(0);
  });

  it('a refused refresh ends the session: onSessionEnded, and a typed error', async () => {
    const { email } = await registerUser(lk.app);
    let ended = 0;
    const client = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: browserFetch(lk.app).fetch,
      onSessionEnded: () => ended++,
    });
    await client.login(email, PASSWORD);
    const sessions = await client.sessions();
    await client.revokeSession(sessions[0]!.id);
    const error = await client.me().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LatchkeyError);
    expect((error as LatchkeyError).code).toBe('invalid_grant');
    expect(ended).toBe(1);
  });

  it('passes a step-up challenge through, and reports a wrong password as a typed error', async () => {
    const { email } = await registerUser(lk.app);
    const client = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: browserFetch(lk.app).fetch,
    });
    await client.login(email, PASSWORD);
    lk.clock.advance(301_000); // enrolling needs a fresh login: the server asks for a step-up
    const enroll = await client.fetch('/v1/mfa/totp/enroll', { method: 'POST' });
    expect(enroll.status).toBe(401);
    expect(enroll.headers.get('www-authenticate')).toContain('max_age=300');
    const wrong = await client.login(email, 'not the password').catch((caught: unknown) => caught);
    expect((wrong as LatchkeyError).code).toBe('invalid_credentials');
  });
});
