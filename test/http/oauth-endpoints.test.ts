import { beforeAll, describe, expect, it } from 'vitest';
import type { LatchkeyApp } from '../../src/http/app.js';
import { call, login, refresh, registerUser, type TokenPair } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';

/**
 * The OAuth endpoints for clients and resource servers we did not write: metadata (RFC 8414),
 * the refresh grant (RFC 6749 §6, §5), revocation (RFC 7009), introspection (RFC 7662) and
 * the revoked-sessions feed. Every test opens its own users and sessions: the database is
 * shared by the whole file.
 */
const database = useDatabase();
let lk: Latchkey;

const RS_ID = 'rs1';
const RS_SECRET = 'rs1-secret-0123456789abcdefghijklmnopqrstuvwxyz';
const RS2_ID = 'rs2';
const RS2_SECRET = 'rs2-secret-ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210';

beforeAll(async () => {
  lk = await buildLatchkey(database.current, {
    env: { INTROSPECTION_CLIENTS: `${RS_ID}:${RS_SECRET},${RS2_ID}:${RS2_SECRET}` },
  });
});

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const UNKNOWN_REFRESH_TOKEN = `lkr_${'a'.repeat(43)}`;

type Params = Record<string, string> | [string, string][];

/** A form-encoded POST, as RFC 6749 §3.2, RFC 7009 §2.1 and RFC 7662 §2.1 have clients send it. */
const postForm = (app: LatchkeyApp, path: string, params: Params, headers: Record<string, string> = {}) =>
  call(app, path, {
    method: 'POST',
    rawBody: new URLSearchParams(params).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });

const tokenRequest = (app: LatchkeyApp, params: Params, headers: Record<string, string> = {}) =>
  postForm(app, '/oauth/token', params, headers);

const refreshGrant = (app: LatchkeyApp, refreshToken: string, extra: Record<string, string> = {}) =>
  tokenRequest(app, { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra });

const revoke = (app: LatchkeyApp, token: string, extra: Record<string, string> = {}) =>
  postForm(app, '/oauth/revoke', { token, ...extra });

/** RFC 6749 §2.3.1 client_secret_basic: each part form-urlencoded, then base64. */
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

const introspect = (
  app: LatchkeyApp,
  params: Record<string, string>,
  headers: Record<string, string> = { authorization: basic(RS_ID, RS_SECRET) },
) => postForm(app, '/oauth/introspect', params, headers);

const feed = (app: LatchkeyApp, headers: Record<string, string> = {}) =>
  call(app, '/oauth/revoked-sessions', { headers });

const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

/** RFC 6749 §5.2: `{error, error_description}` and nothing else. */
function expectOAuthError(
  res: Awaited<ReturnType<typeof call>>,
  status: number,
  error: string,
): { error: string; error_description: string } {
  expect(res.status).toBe(status);
  expect(Object.keys(res.json).sort()).toEqual(['error', 'error_description']);
  expect(res.json.error).toBe(error);
  expect(res.json.error_description).toEqual(expect.any(String));
  expect(res.json.error_description.length).toBeGreaterThan(0);
  return res.json;
}

async function newUser() {
  const user = await registerUser(lk.app);
  return { ...user, login: (extra: Record<string, unknown> = {}) => login(lk.app, user.email, extra) };
}

async function expectAccessWorks(accessToken: string) {
  expect((await call(lk.app, '/v1/users/me', { token: accessToken })).status).toBe(200);
}

async function expectAccessRefused(accessToken: string) {
  const res = await call(lk.app, '/v1/users/me', { token: accessToken });
  expect(res.status).toBe(401);
  expect(res.json.error).toBe('invalid_token');
}

async function expectGrantRefused(refreshToken: string, extra: Record<string, string> = {}) {
  expectOAuthError(await refreshGrant(lk.app, refreshToken, extra), 400, 'invalid_grant');
}

const revokedSids = async () =>
  ((await feed(lk.app)).json.revoked_sessions as { sid: string; revoked_at: string }[]).map(
    (entry) => entry.sid,
  );

describe('authorization server metadata (RFC 8414)', () => {
  it('names the issuer and every endpoint under it, and may be cached publicly', async () => {
    const res = await call(lk.app, '/.well-known/oauth-authorization-server');
    expect(res.status).toBe(200);
    const issuer = lk.config.issuer;
    expect(res.json.issuer).toBe(issuer);
    expect(res.json).toMatchObject({
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      token_endpoint: `${issuer}/oauth/token`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      introspection_endpoint: `${issuer}/oauth/introspect`,
      revoked_sessions_endpoint: `${issuer}/oauth/revoked-sessions`,
    });
    const endpoints = Object.entries(res.json).filter(([name]) => name.endsWith('_endpoint'));
    expect(endpoints.length).toBeGreaterThanOrEqual(4);
    for (const [name, value] of endpoints) {
      expect(value, name).toMatch(new RegExp(`^${issuer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/`));
    }
    expect(res.headers.get('cache-control')).toMatch(/^public\b/);
  });

  it('any origin may read it: Access-Control-Allow-Origin: *, no credentials', async () => {
    const res = await call(lk.app, '/.well-known/oauth-authorization-server', {
      headers: { origin: 'https://evil.example' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('the JWKS is public to any origin too', async () => {
    const res = await call(lk.app, '/.well-known/jwks.json', { headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(200);
    expect(res.json.keys.length).toBeGreaterThan(0);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('the revoked-sessions feed is public to any origin too', async () => {
    const res = await feed(lk.app, { origin: 'https://evil.example' });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });
});

describe('POST /oauth/token (refresh grant)', () => {
  it('rotates the refresh token and answers with the token pair, never cached (RFC 6749 §5.1)', async () => {
    const user = await newUser();
    const pair = await user.login();
    lk.clock.advance(SECOND);
    const res = await refreshGrant(lk.app, pair.refresh_token);
    expect(res.status).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual([
      'access_token',
      'expires_in',
      'refresh_token',
      'refresh_token_expires_in',
      'session_id',
      'token_type',
    ]);
    expect(res.json).toMatchObject({ token_type: 'Bearer', expires_in: 900, session_id: pair.session_id });
    expect(res.json.refresh_token).toMatch(/^lkr_[A-Za-z0-9_-]{43}$/);
    expect(res.json.refresh_token).not.toBe(pair.refresh_token);
    expect(res.json.access_token).not.toBe(pair.access_token);
    expect(Number.isInteger(res.json.refresh_token_expires_in)).toBe(true);
    expect(res.json.refresh_token_expires_in).toBeGreaterThan(0);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('pragma')).toBe('no-cache');
    await expectAccessWorks(res.json.access_token);
  });

  it('without grant_type is 400 invalid_request', async () => {
    const user = await newUser();
    const pair = await user.login();
    const res = await tokenRequest(lk.app, { refresh_token: pair.refresh_token });
    expectOAuthError(res, 400, 'invalid_request');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it.each(['password', 'authorization_code', 'client_credentials'])(
    'grant_type=%s is 400 unsupported_grant_type',
    async (grantType) => {
      const res = await tokenRequest(lk.app, {
        grant_type: grantType,
        username: 'someone@example.com',
        password: PASSWORD,
        code: 'abc',
      });
      expectOAuthError(res, 400, 'unsupported_grant_type');
    },
  );

  it('without refresh_token is 400 invalid_request', async () => {
    expectOAuthError(await tokenRequest(lk.app, { grant_type: 'refresh_token' }), 400, 'invalid_request');
    expectOAuthError(
      await tokenRequest(lk.app, { grant_type: 'refresh_token', refresh_token: '' }),
      400,
      'invalid_request',
    );
  });

  it.each([
    ['an unknown well-formed refresh token', UNKNOWN_REFRESH_TOKEN],
    ['a garbage refresh token', 'not-a-refresh-token'],
    ['an access-token-shaped value', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln'],
  ])('%s is 400 invalid_grant', async (_label, token) => {
    expectOAuthError(await refreshGrant(lk.app, token), 400, 'invalid_grant');
  });

  it('a refresh token is bound to its client: another client_id is 400 invalid_grant', async () => {
    const user = await newUser();
    const pair = await user.login({ client_id: 'mobile' });
    await expectGrantRefused(pair.refresh_token, { client_id: 'web' });
    await expectGrantRefused(pair.refresh_token); // no client_id: "default"
    // The refused attempts did not consume it: its own client still refreshes.
    const res = await refreshGrant(lk.app, pair.refresh_token, { client_id: 'mobile' });
    expect(res.status).toBe(200);
    expect(res.json.session_id).toBe(pair.session_id);
  });

  it('a rotated token replayed after the grace window is invalid_grant and revokes the whole session', async () => {
    const user = await newUser();
    const pair = await user.login();
    lk.clock.advance(SECOND);
    const rotated = await refreshGrant(lk.app, pair.refresh_token);
    expect(rotated.status).toBe(200);

    lk.clock.advance(11 * SECOND);
    const replay = await refreshGrant(lk.app, pair.refresh_token);
    const error = expectOAuthError(replay, 400, 'invalid_grant');
    expect(error.error_description).toMatch(/revoked/i);

    // The family is gone: the newest refresh token and its access token are refused too.
    await expectGrantRefused(rotated.json.refresh_token);
    await expectAccessRefused(rotated.json.access_token);
    await expectAccessRefused(pair.access_token);
  });

  it('a rotated token replayed within the grace window gets 200 and the same successor', async () => {
    const user = await newUser();
    const pair = await user.login();
    lk.clock.advance(SECOND);
    const first = await refreshGrant(lk.app, pair.refresh_token);
    expect(first.status).toBe(200);

    lk.clock.advance(5 * SECOND);
    const again = await refreshGrant(lk.app, pair.refresh_token);
    expect(again.status).toBe(200);
    expect(again.json.refresh_token).toBe(first.json.refresh_token);
    expect(again.json.session_id).toBe(pair.session_id);

    // The session lives on: the successor rotates normally.
    lk.clock.advance(SECOND);
    const next = await refreshGrant(lk.app, first.json.refresh_token);
    expect(next.status).toBe(200);
    await expectAccessWorks(next.json.access_token);
  });

  it('a parameter sent twice is 400 invalid_request, and the token is not consumed', async () => {
    const user = await newUser();
    const pair = await user.login();
    const res = await tokenRequest(lk.app, [
      ['grant_type', 'refresh_token'],
      ['refresh_token', pair.refresh_token],
      ['refresh_token', pair.refresh_token],
    ]);
    expect(expectOAuthError(res, 400, 'invalid_request').error_description).toContain('refresh_token');
    const twiceGrant = await tokenRequest(lk.app, [
      ['grant_type', 'refresh_token'],
      ['grant_type', 'refresh_token'],
      ['refresh_token', pair.refresh_token],
    ]);
    expectOAuthError(twiceGrant, 400, 'invalid_request');
    expect((await refreshGrant(lk.app, pair.refresh_token)).status).toBe(200);
  });

  it('client credentials in an Authorization header are 401 invalid_client with a Basic challenge', async () => {
    const user = await newUser();
    const pair = await user.login();
    const res = await tokenRequest(
      lk.app,
      { grant_type: 'refresh_token', refresh_token: pair.refresh_token },
      { authorization: basic('default', 'some-secret') },
    );
    expectOAuthError(res, 401, 'invalid_client');
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(res.headers.get('cache-control')).toBe('no-store');
    // Refused before the grant was looked at: the token still works.
    expect((await refreshGrant(lk.app, pair.refresh_token)).status).toBe(200);
  });

  it('takes a JSON body too', async () => {
    const user = await newUser();
    const pair = await user.login();
    const res = await call(lk.app, '/oauth/token', {
      body: { grant_type: 'refresh_token', refresh_token: pair.refresh_token },
    });
    expect(res.status).toBe(200);
    expect(res.json.session_id).toBe(pair.session_id);
    expect(res.json.token_type).toBe('Bearer');
  });

  it('takes a form content type with a charset parameter', async () => {
    const user = await newUser();
    const pair = await user.login();
    const res = await tokenRequest(
      lk.app,
      { grant_type: 'refresh_token', refresh_token: pair.refresh_token },
      { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' },
    );
    expect(res.status).toBe(200);
    expect(res.json.session_id).toBe(pair.session_id);
  });

  it('a text/plain body is 400 invalid_request', async () => {
    const user = await newUser();
    const pair = await user.login();
    const res = await call(lk.app, '/oauth/token', {
      method: 'POST',
      rawBody: `grant_type=refresh_token&refresh_token=${pair.refresh_token}`,
      headers: { 'content-type': 'text/plain' },
    });
    expectOAuthError(res, 400, 'invalid_request');
  });

  it('ignores unknown parameters (RFC 6749 §3.2)', async () => {
    const user = await newUser();
    const pair = await user.login();
    const res = await refreshGrant(lk.app, pair.refresh_token, { scope: 'x', foo: 'bar', resource: 'y' });
    expect(res.status).toBe(200);
    expect(res.json.session_id).toBe(pair.session_id);
  });

  it.each([
    ['a space', 'web app'],
    ['a slash', 'a/b'],
    ['a quote', "o'brien"],
    ['65 characters', 'x'.repeat(65)],
  ])('a client_id with %s is 400 invalid_request', async (_label, clientId) => {
    const user = await newUser();
    const pair = await user.login();
    expectOAuthError(
      await refreshGrant(lk.app, pair.refresh_token, { client_id: clientId }),
      400,
      'invalid_request',
    );
  });

  it('a NUL in a parameter is 400 invalid_request, never a 500', async () => {
    const user = await newUser();
    const pair = await user.login();
    for (const rawBody of [
      `grant_type=refresh_token&refresh_token=${pair.refresh_token}%00`,
      `grant_type=refresh_token&refresh_token=${pair.refresh_token}&client_id=web%00`,
      `grant_type=refresh%00_token&refresh_token=${pair.refresh_token}`,
      `grant_type=refresh_token&refresh_token=${pair.refresh_token}&x%00=1`,
    ]) {
      const res = await call(lk.app, '/oauth/token', {
        method: 'POST',
        rawBody,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expectOAuthError(res, 400, 'invalid_request');
    }
    expect((await refreshGrant(lk.app, pair.refresh_token)).status).toBe(200);
  });

  it('is the same rotation as /v1/auth/refresh: tokens move freely between the two', async () => {
    const user = await newUser();
    const pair = await user.login();
    lk.clock.advance(SECOND);
    const viaOAuth = await refreshGrant(lk.app, pair.refresh_token);
    expect(viaOAuth.status).toBe(200);
    lk.clock.advance(SECOND);
    const viaV1 = await refresh(lk.app, viaOAuth.json.refresh_token);
    expect(viaV1.status).toBe(200);
    expect(viaV1.json.session_id).toBe(pair.session_id);
    lk.clock.advance(SECOND);
    const back = await refreshGrant(lk.app, viaV1.json.refresh_token);
    expect(back.status).toBe(200);
    expect(back.json.session_id).toBe(pair.session_id);
    await expectAccessWorks(back.json.access_token);
    // A token rotated on one endpoint counts as rotated on the other (inside the grace window:
    // the same successor).
    const graceOnV1 = await refresh(lk.app, viaOAuth.json.refresh_token);
    expect(graceOnV1.status).toBe(200);
    expect(graceOnV1.json.refresh_token).toBe(back.json.refresh_token);
  });
});

describe('POST /oauth/revoke (RFC 7009)', () => {
  it('revoking a live refresh token ends its session: access and refresh are refused', async () => {
    const user = await newUser();
    const pair = await user.login();
    const res = await revoke(lk.app, pair.refresh_token);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    await expectAccessRefused(pair.access_token);
    await expectGrantRefused(pair.refresh_token);
  });

  it('revoking an access token (a JWT) ends its session too (RFC 7009 §2.1)', async () => {
    const user = await newUser();
    const pair = await user.login();
    const other = await user.login();
    const res = await revoke(lk.app, pair.access_token, { token_type_hint: 'access_token' });
    expect(res.status).toBe(200);
    await expectAccessRefused(pair.access_token);
    await expectGrantRefused(pair.refresh_token);
    // Only that session.
    await expectAccessWorks(other.access_token);
  });

  it.each([
    ['an unknown well-formed refresh token', UNKNOWN_REFRESH_TOKEN],
    ['a garbage token', 'garbage'],
    ['a JWT-shaped forgery', 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.AAAA'],
  ])('%s is answered 200, not an error (RFC 7009 §2.2)', async (_label, token) => {
    const res = await revoke(lk.app, token);
    expect(res.status).toBe(200);
  });

  it('an already revoked token is answered 200 again', async () => {
    const user = await newUser();
    const pair = await user.login();
    expect((await revoke(lk.app, pair.refresh_token)).status).toBe(200);
    expect((await revoke(lk.app, pair.refresh_token)).status).toBe(200);
    expect((await revoke(lk.app, pair.access_token)).status).toBe(200);
  });

  it('without a token is 400 invalid_request', async () => {
    expectOAuthError(await postForm(lk.app, '/oauth/revoke', {}), 400, 'invalid_request');
    expectOAuthError(
      await postForm(lk.app, '/oauth/revoke', { token_type_hint: 'refresh_token' }),
      400,
      'invalid_request',
    );
  });

  it('a token of another client is 400 unauthorized_client and the session lives on', async () => {
    const user = await newUser();
    const pair = await user.login({ client_id: 'mobile' });
    expectOAuthError(
      await revoke(lk.app, pair.refresh_token, { client_id: 'web' }),
      400,
      'unauthorized_client',
    );
    expectOAuthError(await revoke(lk.app, pair.refresh_token), 400, 'unauthorized_client'); // "default"
    expectOAuthError(
      await revoke(lk.app, pair.access_token, { client_id: 'web' }),
      400,
      'unauthorized_client',
    );
    await expectAccessWorks(pair.access_token);
    // Its own client may revoke it.
    expect((await revoke(lk.app, pair.refresh_token, { client_id: 'mobile' })).status).toBe(200);
    await expectAccessRefused(pair.access_token);
  });

  it('records a session_revoked security event with via "oauth_revoke"', async () => {
    const user = await newUser();
    const revoked = await user.login();
    const watcher = await user.login();
    lk.clock.advance(SECOND);
    const revokedAt = lk.clock.now().toISOString();
    expect((await revoke(lk.app, revoked.refresh_token)).status).toBe(200);

    const res = await call(lk.app, '/v1/users/me/events', { token: watcher.access_token });
    expect(res.status).toBe(200);
    const events = res.json.events.filter(
      (event: { type: string; session_id: string }) =>
        event.type === 'session_revoked' && event.session_id === revoked.session_id,
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'session_revoked',
      session_id: revoked.session_id,
      created_at: revokedAt,
      details: { via: 'oauth_revoke', client_id: 'default' },
    });
    expect(JSON.stringify(res.json)).not.toContain(revoked.refresh_token);

    // Revoking it again records nothing more.
    expect((await revoke(lk.app, revoked.refresh_token)).status).toBe(200);
    const after = await call(lk.app, '/v1/users/me/events', { token: watcher.access_token });
    expect(
      after.json.events.filter((event: { type: string }) => event.type === 'session_revoked'),
    ).toHaveLength(1);
  });

  it('client credentials in an Authorization header are 401 invalid_client; nothing is revoked', async () => {
    const user = await newUser();
    const pair = await user.login();
    const res = await postForm(
      lk.app,
      '/oauth/revoke',
      { token: pair.refresh_token },
      { authorization: basic('default', 'some-secret') },
    );
    expectOAuthError(res, 401, 'invalid_client');
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
    await expectAccessWorks(pair.access_token);
  });
});

describe('POST /oauth/introspect (RFC 7662)', () => {
  it('authenticates resource servers by client_secret_basic and by client_secret_post', async () => {
    const user = await newUser();
    const pair = await user.login();
    const viaBasic = await introspect(lk.app, { token: pair.access_token });
    expect(viaBasic.status).toBe(200);
    expect(viaBasic.json.active).toBe(true);
    const viaPost = await introspect(
      lk.app,
      { token: pair.access_token, client_id: RS2_ID, client_secret: RS2_SECRET },
      {},
    );
    expect(viaPost.status).toBe(200);
    expect(viaPost.json.active).toBe(true);
    expect(viaPost.headers.get('cache-control')).toBe('no-store');
  });

  it('a live access token is active, with its claims', async () => {
    const user = await newUser();
    const loginAt = epochSeconds(lk.clock.now());
    const pair = await user.login();
    const res = await introspect(lk.app, { token: pair.access_token });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json).toEqual({
      active: true,
      token_type: 'Bearer',
      iss: lk.config.issuer,
      sub: user.id,
      aud: lk.config.audience,
      client_id: 'default',
      sid: pair.session_id,
      iat: loginAt,
      exp: loginAt + 900,
      jti: expect.any(String),
      auth_time: loginAt,
      acr: 'aal1',
      amr: ['pwd'],
      email_verified: false,
    });
  });

  it.each([
    [
      'DELETE /v1/sessions/:id',
      async (pair: TokenPair, other: TokenPair) =>
        call(lk.app, `/v1/sessions/${pair.session_id}`, { method: 'DELETE', token: other.access_token }),
    ],
    [
      'logout',
      async (pair: TokenPair) =>
        call(lk.app, '/v1/auth/logout', { method: 'POST', token: pair.access_token }),
    ],
  ])(
    'after %s the still signature-valid access token is {active: false} and nothing else',
    async (_label, end) => {
      const user = await newUser();
      const pair = await user.login();
      const other = await user.login();
      expect((await introspect(lk.app, { token: pair.access_token })).json.active).toBe(true);
      expect((await end(pair, other)).status).toBe(204);
      const res = await introspect(lk.app, { token: pair.access_token });
      expect(res.status).toBe(200);
      expect(res.json).toStrictEqual({ active: false });
      // The session's refresh token is inactive too.
      expect((await introspect(lk.app, { token: pair.refresh_token })).json).toStrictEqual({ active: false });
    },
  );

  it('an expired access token is {active: false}', async () => {
    const user = await newUser();
    const pair = await user.login();
    lk.clock.advance(16 * MINUTE);
    const res = await introspect(lk.app, { token: pair.access_token });
    expect(res.status).toBe(200);
    expect(res.json).toStrictEqual({ active: false });
  });

  it('a live refresh token is active with token_type "refresh_token"', async () => {
    const user = await newUser();
    const loginAt = epochSeconds(lk.clock.now());
    const pair = await user.login({ client_id: 'mobile' });
    const res = await introspect(lk.app, { token: pair.refresh_token });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      active: true,
      token_type: 'refresh_token',
      sub: user.id,
      sid: pair.session_id,
      client_id: 'mobile',
      exp: loginAt + pair.refresh_token_expires_in,
    });
    expect(res.json.exp).toBeGreaterThan(loginAt);
    expect(JSON.stringify(res.json)).not.toContain(pair.refresh_token);
  });

  it('a rotated refresh token is {active: false}; its successor is active', async () => {
    const user = await newUser();
    const pair = await user.login();
    lk.clock.advance(SECOND);
    const rotated = await refreshGrant(lk.app, pair.refresh_token);
    expect(rotated.status).toBe(200);
    expect((await introspect(lk.app, { token: pair.refresh_token })).json).toStrictEqual({ active: false });
    expect((await introspect(lk.app, { token: rotated.json.refresh_token })).json).toMatchObject({
      active: true,
      token_type: 'refresh_token',
      sid: pair.session_id,
    });
  });

  it.each([
    ['garbage', 'garbage'],
    ['an unknown well-formed refresh token', UNKNOWN_REFRESH_TOKEN],
    ['a JWT-shaped forgery', 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.AAAA'],
  ])('%s is {active: false}', async (_label, token) => {
    const res = await introspect(lk.app, { token });
    expect(res.status).toBe(200);
    expect(res.json).toStrictEqual({ active: false });
  });

  it('token_type_hint only orders the lookups: a wrong hint still finds the token', async () => {
    const user = await newUser();
    const pair = await user.login();
    const access = await introspect(lk.app, { token: pair.access_token, token_type_hint: 'refresh_token' });
    expect(access.json).toMatchObject({ active: true, token_type: 'Bearer', sid: pair.session_id });
    const refreshToken = await introspect(lk.app, {
      token: pair.refresh_token,
      token_type_hint: 'access_token',
    });
    expect(refreshToken.json).toMatchObject({
      active: true,
      token_type: 'refresh_token',
      sid: pair.session_id,
    });
    const unknownHint = await introspect(lk.app, { token: pair.access_token, token_type_hint: 'id_token' });
    expect(unknownHint.json.active).toBe(true);
  });

  it('without client credentials is 401 invalid_client with a Basic challenge', async () => {
    const user = await newUser();
    const pair = await user.login();
    const res = await introspect(lk.app, { token: pair.access_token }, {});
    expectOAuthError(res, 401, 'invalid_client');
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(res.headers.get('cache-control')).toBe('no-store');
    // A Bearer token is not client authentication either.
    const bearer = await introspect(
      lk.app,
      { token: pair.access_token },
      { authorization: `Bearer ${pair.access_token}` },
    );
    expectOAuthError(bearer, 401, 'invalid_client');
  });

  it('a wrong secret is 401 invalid_client, by basic and by post', async () => {
    const user = await newUser();
    const pair = await user.login();
    expectOAuthError(
      await introspect(
        lk.app,
        { token: pair.access_token },
        { authorization: basic(RS_ID, `${RS_SECRET}x`) },
      ),
      401,
      'invalid_client',
    );
    // Another client's secret is a wrong secret too.
    expectOAuthError(
      await introspect(lk.app, { token: pair.access_token }, { authorization: basic(RS_ID, RS2_SECRET) }),
      401,
      'invalid_client',
    );
    expectOAuthError(
      await introspect(lk.app, { token: pair.access_token, client_id: RS_ID, client_secret: 'wrong' }, {}),
      401,
      'invalid_client',
    );
    // client_id alone (a public client) is not enough.
    expectOAuthError(
      await introspect(lk.app, { token: pair.access_token, client_id: RS_ID }, {}),
      401,
      'invalid_client',
    );
  });

  it('an unknown client id is 401 invalid_client', async () => {
    const user = await newUser();
    const pair = await user.login();
    expectOAuthError(
      await introspect(lk.app, { token: pair.access_token }, { authorization: basic('rs9', RS_SECRET) }),
      401,
      'invalid_client',
    );
    expectOAuthError(
      await introspect(
        lk.app,
        { token: pair.access_token, client_id: 'default', client_secret: RS_SECRET },
        {},
      ),
      401,
      'invalid_client',
    );
  });

  it('without INTROSPECTION_CLIENTS nobody may introspect', async () => {
    const plain = await buildLatchkey(database.current, { clock: lk.clock });
    expect(plain.config.introspectionClients).toEqual([]);
    const { email } = await registerUser(plain.app);
    const pair = await login(plain.app, email);
    const attempts: Record<string, string>[] = [
      { authorization: basic(RS_ID, RS_SECRET) },
      { authorization: basic('', '') },
      {},
    ];
    for (const headers of attempts) {
      const res = await introspect(plain.app, { token: pair.access_token }, headers);
      expectOAuthError(res, 401, 'invalid_client');
    }
    expectOAuthError(
      await introspect(
        plain.app,
        { token: pair.access_token, client_id: RS_ID, client_secret: RS_SECRET },
        {},
      ),
      401,
      'invalid_client',
    );
  });

  it('without a token is 400 invalid_request', async () => {
    expectOAuthError(await introspect(lk.app, {}), 400, 'invalid_request');
    expectOAuthError(await introspect(lk.app, { token: '' }), 400, 'invalid_request');
  });
});

describe('GET /oauth/revoked-sessions', () => {
  const revokedEntry = async (sid: string) =>
    ((await feed(lk.app)).json.revoked_sessions as { sid: string; revoked_at: string }[]).find(
      (entry) => entry.sid === sid,
    );

  it('has the window and the list, and is cacheable only with revalidation', async () => {
    const res = await feed(lk.app);
    expect(res.status).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(['revoked_sessions', 'window_seconds']);
    // Access-token lifetime + verifiers' clock tolerance + the key cache's minute.
    expect(res.json.window_seconds).toBe(900 + 5 + 60);
    expect(Array.isArray(res.json.revoked_sessions)).toBe(true);
    expect(res.headers.get('etag')).toMatch(/^"[^"]+"$/);
    expect(res.headers.get('cache-control')).toBe('public, no-cache');
  });

  it('lists a session revoked with DELETE /v1/sessions/:id, with an ISO revoked_at; not a live one', async () => {
    const user = await newUser();
    const gone = await user.login();
    const live = await user.login();
    lk.clock.advance(SECOND);
    const at = lk.clock.now().toISOString();
    const res = await call(lk.app, `/v1/sessions/${gone.session_id}`, {
      method: 'DELETE',
      token: live.access_token,
    });
    expect(res.status).toBe(204);

    const entry = await revokedEntry(gone.session_id);
    expect(entry).toEqual({ sid: gone.session_id, revoked_at: at });
    expect(new Date(entry!.revoked_at).toISOString()).toBe(entry!.revoked_at);
    expect(await revokedSids()).not.toContain(live.session_id);
    // Listed once, whatever the number of its rotated tokens.
    expect((await revokedSids()).filter((sid) => sid === gone.session_id)).toHaveLength(1);
  });

  it('a step-up replaces the refresh token but does not list the session', async () => {
    const user = await newUser();
    const pair = await user.login();
    lk.clock.advance(SECOND);
    const stepped = await call(lk.app, '/v1/auth/step-up', {
      body: { password: PASSWORD },
      token: pair.access_token,
    });
    expect(stepped.status).toBe(200);
    expect(stepped.json.session_id).toBe(pair.session_id);
    expect(stepped.json.refresh_token).not.toBe(pair.refresh_token);
    // The old refresh token is refused, but that is no revocation of the session.
    await expectGrantRefused(pair.refresh_token);
    await expectAccessWorks(pair.access_token);
    await expectAccessWorks(stepped.json.access_token);
    expect(await revokedSids()).not.toContain(pair.session_id);
  });

  it('a stepped-up session that is revoked later is listed, once', async () => {
    const user = await newUser();
    const pair = await user.login();
    const other = await user.login();
    const stepped = await call(lk.app, '/v1/auth/step-up', {
      body: { password: PASSWORD },
      token: pair.access_token,
    });
    expect(stepped.status).toBe(200);
    lk.clock.advance(SECOND);
    const at = lk.clock.now().toISOString();
    await call(lk.app, `/v1/sessions/${pair.session_id}`, { method: 'DELETE', token: other.access_token });
    const entries = ((await feed(lk.app)).json.revoked_sessions as { sid: string }[]).filter(
      (entry) => entry.sid === pair.session_id,
    );
    expect(entries).toEqual([{ sid: pair.session_id, revoked_at: at }]);
  });

  it('lists a session ended by logout', async () => {
    const user = await newUser();
    const pair = await user.login();
    expect(
      (await call(lk.app, '/v1/auth/logout', { body: { refresh_token: pair.refresh_token } })).status,
    ).toBe(204);
    expect(await revokedSids()).toContain(pair.session_id);
  });

  it('lists every session ended by revoke-all, not the caller’s', async () => {
    const user = await newUser();
    const a = await user.login();
    const b = await user.login();
    const mine = await user.login();
    const res = await call(lk.app, '/v1/sessions/revoke-all', { method: 'POST', token: mine.access_token });
    expect(res.json).toEqual({ revoked: 2 });
    const sids = await revokedSids();
    expect(sids).toEqual(expect.arrayContaining([a.session_id, b.session_id]));
    expect(sids).not.toContain(mine.session_id);
  });

  it('lists every session ended by a password change, not the caller’s', async () => {
    const user = await newUser();
    const other = await user.login();
    const mine = await user.login();
    const res = await call(lk.app, '/v1/users/me/password', {
      body: { current_password: PASSWORD, new_password: 'a completely different passphrase' },
      token: mine.access_token,
    });
    expect(res.status).toBe(204);
    const sids = await revokedSids();
    expect(sids).toContain(other.session_id);
    expect(sids).not.toContain(mine.session_id);
  });

  it('lists a session ended by refresh-token reuse detection', async () => {
    const user = await newUser();
    const pair = await user.login();
    lk.clock.advance(SECOND);
    expect((await refreshGrant(lk.app, pair.refresh_token)).status).toBe(200);
    expect(await revokedSids()).not.toContain(pair.session_id);
    lk.clock.advance(11 * SECOND);
    await expectGrantRefused(pair.refresh_token);
    expect(await revokedSids()).toContain(pair.session_id);
  });

  it('lists a session ended through /oauth/revoke', async () => {
    const user = await newUser();
    const pair = await user.login();
    expect((await revoke(lk.app, pair.access_token)).status).toBe(200);
    expect(await revokedSids()).toContain(pair.session_id);
  });

  it('forgets a session once window_seconds have passed since its revocation', async () => {
    const user = await newUser();
    const gone = await user.login();
    const live = await user.login();
    await call(lk.app, `/v1/sessions/${gone.session_id}`, { method: 'DELETE', token: live.access_token });
    const { window_seconds: windowSeconds } = (await feed(lk.app)).json;
    lk.clock.advance((windowSeconds - 1) * SECOND);
    expect(await revokedSids()).toContain(gone.session_id);
    lk.clock.advance(2 * SECOND);
    expect(await revokedSids()).not.toContain(gone.session_id);
  });

  it('answers 304 to a matching If-None-Match, and changes its ETag on a new revocation', async () => {
    const first = await feed(lk.app);
    const etag = first.headers.get('etag')!;
    expect(etag).toBeTruthy();

    const unchanged = await feed(lk.app, { 'if-none-match': etag });
    expect(unchanged.status).toBe(304);
    expect(unchanged.json).toBeUndefined();
    expect(unchanged.headers.get('etag')).toBe(etag);
    expect((await feed(lk.app, { 'if-none-match': `W/${etag}` })).status).toBe(304);
    expect((await feed(lk.app, { 'if-none-match': `"other", ${etag}` })).status).toBe(304);

    const user = await newUser();
    const pair = await user.login();
    expect((await revoke(lk.app, pair.refresh_token)).status).toBe(200);

    const changed = await feed(lk.app, { 'if-none-match': etag });
    expect(changed.status).toBe(200);
    const newEtag = changed.headers.get('etag')!;
    expect(newEtag).not.toBe(etag);
    expect(changed.json.revoked_sessions.map((entry: { sid: string }) => entry.sid)).toContain(
      pair.session_id,
    );
    expect((await feed(lk.app, { 'if-none-match': newEtag })).status).toBe(304);
  });
});
