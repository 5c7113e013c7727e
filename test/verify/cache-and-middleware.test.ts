import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Handler, Hono } from 'hono';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/ports/logger.js';
import { type AccessTokenVariables, requireAccessToken } from '../../src/verify/hono.js';
import {
  type AssuranceRequirement,
  authenticateRequest,
  BearerError,
  errorResponseFor,
  type Verifier,
  VerifierUnavailableError,
} from '../../src/verify/index.js';
import { appFetch, call, decodeJwtPart, login, registerUser, type TokenPair } from '../support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';
import {
  b64,
  enableTotp,
  expectInvalidToken,
  JWKS_PATH,
  loginWithCode,
  newVerifier,
  recordingFetch,
  spySignatureChecks,
} from './helpers.js';

/**
 * The verified-token cache of `latchkey/verify`, its Hono middleware and its framework-free
 * helpers; the middleware's challenges are compared with the Latchkey server's own guard.
 */

const database = useDatabase();
let lk: Latchkey;

beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

afterEach(() => {
  vi.restoreAllMocks();
});

async function freshLogin(): Promise<TokenPair & { userId: string }> {
  const { email, id } = await registerUser(lk.app);
  return { ...(await login(lk.app, email)), userId: id };
}

describe('the verified-token cache', () => {
  it('verifies the signature of a repeated token once', async () => {
    const pair = await freshLogin();
    const verifier = newVerifier(lk);
    const subtleVerify = spySignatureChecks();
    await verifier.verify(pair.access_token);
    expect(subtleVerify).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 5; i++) await verifier.verify(pair.access_token);
    expect(subtleVerify).toHaveBeenCalledTimes(1);
  });

  it('grows by one per distinct token', async () => {
    const verifier = newVerifier(lk);
    const pairs = [await freshLogin(), await freshLogin(), await freshLogin()];
    expect(verifier.cachedTokens).toBe(0);
    for (const [index, pair] of pairs.entries()) {
      await verifier.verify(pair.access_token);
      await verifier.verify(pair.access_token);
      expect(verifier.cachedTokens).toBe(index + 1);
    }
  });

  it('never keeps a refusal', async () => {
    const pair = await freshLogin();
    const [h, , s] = pair.access_token.split('.');
    const tampered = `${h}.${b64({ ...decodeJwtPart(pair.access_token, 1), sub: 'someone else' })}.${s}`;
    const verifier = newVerifier(lk);
    const subtleVerify = spySignatureChecks();
    await expectInvalidToken(verifier, tampered);
    await expectInvalidToken(verifier, tampered);
    expect(subtleVerify).toHaveBeenCalledTimes(2);
    expect(verifier.cachedTokens).toBe(0);
  });

  it('returns frozen claims, the same object to every caller', async () => {
    const pair = await freshLogin();
    const verifier = newVerifier(lk);
    const first = await verifier.verify(pair.access_token);
    const second = await verifier.verify(pair.access_token);
    expect(second).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.amr)).toBe(true);
    // ES modules are strict: writing to a frozen object throws.
    expect(() => {
      (first as { sub: string }).sub = 'mallory';
    }).toThrow(TypeError);
    expect(() => {
      (first as { acr: string }).acr = 'aal2';
    }).toThrow(TypeError);
    expect(() => (first.amr as string[]).push('otp')).toThrow(TypeError);
    expect(() => {
      delete (first as { sid?: string }).sid;
    }).toThrow(TypeError);
    expect((await verifier.verify(pair.access_token)).sub).toBe(pair.userId);
  });

  it('keeps at most cacheSize (2) tokens, dropping the oldest', async () => {
    const pairs = [await freshLogin(), await freshLogin(), await freshLogin()];
    const verifier = newVerifier(lk, { cacheSize: 2 });
    for (const pair of pairs) await verifier.verify(pair.access_token);
    expect(verifier.cachedTokens).toBe(2);
    const subtleVerify = spySignatureChecks();
    await verifier.verify(pairs[2]!.access_token); // the newest: kept
    expect(subtleVerify).toHaveBeenCalledTimes(0);
    await verifier.verify(pairs[0]!.access_token); // the oldest: dropped, checked again
    expect(subtleVerify).toHaveBeenCalledTimes(1);
    expect(verifier.cachedTokens).toBe(2);
  });

  it('with cacheSize 0 keeps nothing (every verification checks the signature), claims still frozen', async () => {
    const pair = await freshLogin();
    const verifier = newVerifier(lk, { cacheSize: 0 });
    const subtleVerify = spySignatureChecks();
    const claims = await verifier.verify(pair.access_token);
    await verifier.verify(pair.access_token);
    expect(subtleVerify).toHaveBeenCalledTimes(2);
    expect(verifier.cachedTokens).toBe(0);
    expect(Object.isFrozen(claims)).toBe(true);
  });

  it('stops accepting a cached token at its exp + 5 s', async () => {
    const pair = await freshLogin();
    const other = await freshLogin();
    const verifier = newVerifier(lk);
    await verifier.verify(pair.access_token);
    await verifier.verify(other.access_token);
    expect(verifier.cachedTokens).toBe(2);
    const exp: number = decodeJwtPart(pair.access_token, 1).exp;

    lk.clock.advance(exp * 1000 + 4_999 - lk.clock.now().getTime());
    const subtleVerify = spySignatureChecks();
    expect((await verifier.verify(pair.access_token)).sub).toBe(pair.userId);
    expect(subtleVerify).not.toHaveBeenCalled(); // from the cache

    lk.clock.advance(1);
    expect((await expectInvalidToken(verifier, pair.access_token)).description).toMatch(/expired/);
    expect(verifier.cachedTokens).toBe(1); // the expired entry is gone
  });
});

// ---------------------------------------------------------------------------------------------

/** A resource server on Hono, as packages/verify/README.md shows. */
function resourceServer(verifier: Verifier) {
  const app = new Hono<{ Variables: AccessTokenVariables }>();
  const handled = vi.fn();
  const errors: unknown[] = [];
  const reply: Handler<{ Variables: AccessTokenVariables }> = (c) => {
    handled();
    const token = c.get('accessToken');
    return Response.json({ sub: token.sub, sid: token.sid, acr: token.acr });
  };
  app.get('/me', requireAccessToken(verifier), reply);
  app.get('/aal2', requireAccessToken(verifier, { acr: 'aal2' }), reply);
  app.get('/fresh', requireAccessToken(verifier, { maxAge: 300 }), reply);
  // What the server's DELETE /v1/mfa/totp needs: aal2 and an authentication in the last 300 s.
  app.delete('/totp', requireAccessToken(verifier, { acr: 'aal2', maxAge: 300 }), reply);
  app.get('/boom', requireAccessToken(verifier), () => {
    throw new Error('boom');
  });
  app.get('/bearer-boom', requireAccessToken(verifier), () => {
    throw new BearerError('invalid_token', 'thrown by the handler');
  });
  app.onError((error, c) => {
    errors.push(error);
    return c.json({ error: 'from_on_error' }, 500);
  });
  const request = (path: string, token?: string, method = 'GET') =>
    app.request(path, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { app, handled, errors, request };
}

describe('requireAccessToken (Hono)', () => {
  let api: ReturnType<typeof resourceServer>;

  beforeAll(() => {
    api = resourceServer(newVerifier(lk));
  });

  it('answers a request without Authorization with 401 invalid_token, JSON and a Bearer challenge', async () => {
    const calls = api.handled.mock.calls.length;
    const res = await api.request('/me');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ error: 'invalid_token', error_description: expect.any(String) });
    expect(api.handled.mock.calls.length).toBe(calls);
  });

  it.each([
    ['Basic credentials', 'Basic dXNlcjpwYXNz'],
    ['an empty Bearer', 'Bearer '],
    ['a junk Bearer', 'Bearer not.a.token'],
  ])('refuses %s with 401 invalid_token', async (_label, authorization) => {
    const res = await api.app.request('/me', { headers: { authorization } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  });

  it('lets a valid token through; the handler sees c.get("accessToken")', async () => {
    const pair = await freshLogin();
    const res = await api.request('/me', pair.access_token);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ sub: pair.userId, sid: pair.session_id, acr: 'aal1' });
  });

  it('asks an aal1 token for aal2: 401 insufficient_user_authentication with acr_values="aal2"', async () => {
    const pair = await freshLogin();
    const res = await api.request('/aal2', pair.access_token);
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toMatch(/^Bearer error="insufficient_user_authentication"/);
    expect(challenge).toContain('acr_values="aal2"');
    expect(challenge).not.toContain('max_age');
    expect((await res.json()).error).toBe('insufficient_user_authentication');
  });

  it('asks for a fresh authentication 301 s after login (the token is still valid): max_age=300', async () => {
    const pair = await freshLogin();
    const authTime: number = decodeJwtPart(pair.access_token, 1).auth_time;
    lk.clock.advance((authTime + 300) * 1000 - lk.clock.now().getTime());
    expect((await api.request('/fresh', pair.access_token)).status).toBe(200);
    lk.clock.advance(1000);
    const res = await api.request('/fresh', pair.access_token);
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toMatch(/^Bearer error="insufficient_user_authentication"/);
    expect(challenge).toContain('max_age=300');
    expect(challenge).not.toContain('acr_values');
    expect((await api.request('/me', pair.access_token)).status).toBe(200);
  });

  it('lets an aal2 token (TOTP login) through { acr: "aal2" } and { acr: "aal2", maxAge: 300 }', async () => {
    const { email } = await registerUser(lk.app);
    const secret = await enableTotp(lk, await login(lk.app, email));
    const aal2 = await loginWithCode(lk, email, secret);
    expect(decodeJwtPart(aal2.access_token, 1).acr).toBe('aal2');
    const res = await api.request('/aal2', aal2.access_token);
    expect(res.status).toBe(200);
    expect((await res.json()).acr).toBe('aal2');
    expect((await api.request('/totp', aal2.access_token, 'DELETE')).status).toBe(200);
  });

  it('does not swallow errors of the handler: they reach app.onError as thrown', async () => {
    const pair = await freshLogin();
    const before = api.errors.length;
    const res = await api.request('/boom', pair.access_token);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'from_on_error' });
    expect(api.errors).toHaveLength(before + 1);
    expect((api.errors.at(-1) as Error).message).toBe('boom');
    // Even a BearerError of the handler's own is left to the app, not turned into a 401.
    const bearer = await api.request('/bearer-boom', pair.access_token);
    expect(bearer.status).toBe(500);
    expect((api.errors.at(-1) as BearerError).description).toBe('thrown by the handler');
  });

  it('without app.onError, a handler error is still a 500 (Hono default), not a 401', async () => {
    const pair = await freshLogin();
    const bare = new Hono<{ Variables: AccessTokenVariables }>();
    bare.get('/boom', requireAccessToken(newVerifier(lk)), () => {
      throw new Error('boom');
    });
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await bare.request('/boom', { headers: { authorization: `Bearer ${pair.access_token}` } });
    expect(res.status).toBe(500);
    expect(quiet).toHaveBeenCalled();
  });
});

describe('the same challenges as the Latchkey server', () => {
  let api: ReturnType<typeof resourceServer>;

  beforeAll(() => {
    api = resourceServer(newVerifier(lk));
  });

  /** Response headers and body of the server and of the kit, for comparison. */
  async function both(server: Response | Promise<Response>, kit: Response | Promise<Response>) {
    const [s, k] = [await server, await kit];
    return {
      server: {
        status: s.status,
        challenge: s.headers.get('www-authenticate'),
        cacheControl: s.headers.get('cache-control'),
        body: await s.json(),
      },
      kit: {
        status: k.status,
        challenge: k.headers.get('www-authenticate'),
        cacheControl: k.headers.get('cache-control'),
        body: await k.json(),
      },
    };
  }

  const serverMe = (token?: string) =>
    lk.app.request('/v1/users/me', { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const serverDisableTotp = (token: string) =>
    lk.app.request('/v1/mfa/totp', { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });

  it('no token (GET /v1/users/me)', async () => {
    const { server, kit } = await both(serverMe(), api.request('/me'));
    expect(server.status).toBe(401);
    expect(kit).toEqual(server);
  });

  it('a junk token and a tampered one', async () => {
    const pair = await freshLogin();
    const [h, , s] = pair.access_token.split('.');
    const tampered = `${h}.${b64({ ...decodeJwtPart(pair.access_token, 1), acr: 'aal2' })}.${s}`;
    for (const token of ['junk', tampered]) {
      const { server, kit } = await both(serverMe(token), api.request('/me', token));
      expect(server.status).toBe(401);
      expect(kit).toEqual(server);
    }
  });

  it('an aal1 token on DELETE /v1/mfa/totp (aal2 + fresh auth): acr_values', async () => {
    const pair = await freshLogin();
    const { server, kit } = await both(
      serverDisableTotp(pair.access_token),
      api.request('/totp', pair.access_token, 'DELETE'),
    );
    expect(server.challenge).toContain('acr_values="aal2"');
    expect(kit).toEqual(server);
  });

  it('an aal1 token 301 s old on DELETE /v1/mfa/totp: acr_values and max_age', async () => {
    const pair = await freshLogin();
    lk.clock.advance(301_000);
    const { server, kit } = await both(
      serverDisableTotp(pair.access_token),
      api.request('/totp', pair.access_token, 'DELETE'),
    );
    expect(server.challenge).toContain('acr_values="aal2"');
    expect(server.challenge).toContain('max_age=300');
    expect(kit).toEqual(server);
  });

  it('an aal2 token 301 s old on DELETE /v1/mfa/totp: max_age', async () => {
    const { email } = await registerUser(lk.app);
    const secret = await enableTotp(lk, await login(lk.app, email));
    const aal2 = await loginWithCode(lk, email, secret);
    lk.clock.advance(301_000);
    const { server, kit } = await both(
      serverDisableTotp(aal2.access_token),
      api.request('/totp', aal2.access_token, 'DELETE'),
    );
    expect(server.challenge).toMatch(/^Bearer error="insufficient_user_authentication"/);
    expect(server.challenge).toContain('max_age=300');
    expect(server.challenge).not.toContain('acr_values');
    expect(kit).toEqual(server);
  });

  it('an expired token', async () => {
    const pair = await freshLogin();
    lk.clock.advance((lk.config.accessTokenTtlSeconds + 10) * 1000);
    const { server, kit } = await both(serverMe(pair.access_token), api.request('/me', pair.access_token));
    expect(server.body.error_description).toMatch(/expired/);
    expect(kit).toEqual(server);
  });

  it('a token of a revoked session (once the kit knows)', async () => {
    const { email } = await registerUser(lk.app);
    const a = await login(lk.app, email);
    const b = await login(lk.app, email);
    const verifier = newVerifier(lk);
    const kitApi = resourceServer(verifier);
    expect((await kitApi.request('/me', a.access_token)).status).toBe(200);
    const deleted = await call(lk.app, `/v1/sessions/${a.session_id}`, {
      method: 'DELETE',
      token: b.access_token,
    });
    expect(deleted.status).toBe(204);
    lk.clock.advance(30_000);
    const { server, kit } = await both(serverMe(a.access_token), kitApi.request('/me', a.access_token));
    expect(server.status).toBe(401);
    expect(kit).toEqual(server);
  });
});

// ---------------------------------------------------------------------------------------------

/** A fetch over the app whose JWKS requests get `answer` instead. */
const jwksFetch =
  (answer: () => Promise<Response>) =>
  (url: string, init?: RequestInit): Promise<Response> =>
    new URL(url).pathname === JWKS_PATH ? answer() : appFetch(lk.app)(url, init);

describe('authenticateRequest and errorResponseFor', () => {
  it('authenticateRequest returns the claims of the Bearer token and applies the need', async () => {
    const pair = await freshLogin();
    const verifier = newVerifier(lk);
    const claims = await authenticateRequest(verifier, `Bearer ${pair.access_token}`);
    expect(claims.sub).toBe(pair.userId);
    expect((await authenticateRequest(verifier, `bearer ${pair.access_token}`, { maxAge: 300 })).sid).toBe(
      pair.session_id,
    );
    const need: AssuranceRequirement = { acr: 'aal2' };
    await expect(authenticateRequest(verifier, `Bearer ${pair.access_token}`, need)).rejects.toMatchObject({
      code: 'insufficient_user_authentication',
      status: 401,
    });
  });

  it.each([
    ['no header', undefined],
    ['null', null],
    ['a list of headers', ['Bearer a', 'Bearer b']],
    ['Basic', 'Basic dXNlcjpwYXNz'],
  ])('authenticateRequest refuses %s with invalid_token', async (_label, header) => {
    const error = await authenticateRequest(newVerifier(lk), header).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BearerError);
    expect((error as BearerError).code).toBe('invalid_token');
  });

  it('errorResponseFor: 401 with the challenge and a JSON body for a BearerError', async () => {
    const error = await authenticateRequest(newVerifier(lk), undefined).catch((e: unknown) => e);
    const response = errorResponseFor(error);
    expect(response).toEqual({
      status: 401,
      headers: {
        'www-authenticate': (error as BearerError).wwwAuthenticate,
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
      },
      body: JSON.stringify({ error: 'invalid_token', error_description: (error as BearerError).description }),
    });
    expect(response!.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
    const step = errorResponseFor(
      new BearerError('insufficient_user_authentication', 'more', { acrValues: 'aal2', maxAge: 300 }),
    )!;
    expect(step.status).toBe(401);
    expect(step.headers['www-authenticate']).toBe(
      'Bearer error="insufficient_user_authentication", error_description="more", acr_values="aal2", max_age=300',
    );
  });

  it('errorResponseFor: 503 when the JWKS cannot be fetched (fetch rejects)', async () => {
    const pair = await freshLogin();
    const verifier = newVerifier(lk, {
      fetch: jwksFetch(() => Promise.reject(new TypeError('fetch failed'))),
    });
    const error = await verifier.verify(pair.access_token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VerifierUnavailableError);
    const response = errorResponseFor(error)!;
    expect(response.status).toBe(503);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['www-authenticate']).toBeUndefined();
    expect(JSON.parse(response.body)).toEqual({
      error: 'temporarily_unavailable',
      error_description: expect.any(String),
    });
    // And the Hono middleware answers the same 503.
    const res = await resourceServer(verifier).request('/me', pair.access_token);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
  });

  it('errorResponseFor: 503 when the JWKS fetch times out', async () => {
    const pair = await freshLogin();
    const verifier = newVerifier(lk, {
      fetch: jwksFetch(() => Promise.reject(new DOMException('The operation timed out', 'TimeoutError'))),
    });
    const error = await verifier.verify(pair.access_token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VerifierUnavailableError);
    expect(errorResponseFor(error)!.status).toBe(503);
  });

  // Regression: jose reports a JWKS answer that is not 200 as a plain JOSEError ("Expected
  // 200 OK from the JSON Web Key Set HTTP response"); the kit once mapped every JOSEError but
  // JWKSTimeout to BearerError('invalid_token'), so a JWKS answering 503 made every valid
  // token a 401 invalid_token instead of the documented 503.
  it('errorResponseFor: 503 when the JWKS endpoint answers HTTP 503 (keys cannot be fetched)', async () => {
    const pair = await freshLogin();
    const verifier = newVerifier(lk, {
      fetch: jwksFetch(async () =>
        Response.json({ error: 'temporarily_unavailable' }, { status: 503, headers: { 'retry-after': '5' } }),
      ),
    });
    const error = await verifier.verify(pair.access_token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VerifierUnavailableError);
    expect(errorResponseFor(error)?.status).toBe(503);
  });

  // The same regression end to end: Latchkey's own JWKS answers 503 while its database is
  // down (its key-ring cache of 5 s has lapsed) and its own guard answers 503; a kit verifier
  // that has not fetched the keys yet must answer 503 too, not 401 invalid_token.
  it('a Latchkey whose database is down: its JWKS is a 503, and the kit answers 503 too', async () => {
    let down = false;
    const unavailable = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const flaky = await buildLatchkey(database.current, {
      clock: lk.clock,
      logger: silentLogger,
      wrapStore: (store) =>
        new Proxy(store, {
          get(target, property, receiver) {
            const value = Reflect.get(target, property, receiver);
            if (typeof value !== 'function') return value;
            return (...args: unknown[]) => (down ? Promise.reject(unavailable()) : value.apply(target, args));
          },
        }),
    });
    const pair = await freshLogin();
    down = true;
    lk.clock.advance(61_000);
    const jwks = await flaky.app.request(JWKS_PATH);
    expect(jwks.status).toBe(503);
    await jwks.body?.cancel();
    const own = await flaky.app.request('/v1/users/me', {
      headers: { authorization: `Bearer ${pair.access_token}` },
    });
    expect(own.status).toBe(503);
    await own.body?.cancel();
    const kitVerifier = newVerifier(flaky, { revocation: false });
    const error = await kitVerifier.verify(pair.access_token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VerifierUnavailableError);
    expect(errorResponseFor(error)?.status).toBe(503);
  });

  it('errorResponseFor: undefined for any other error', () => {
    expect(errorResponseFor(new Error('database exploded'))).toBeUndefined();
    expect(errorResponseFor(new TypeError('x'))).toBeUndefined();
    expect(errorResponseFor('a string')).toBeUndefined();
    expect(errorResponseFor(undefined)).toBeUndefined();
    expect(errorResponseFor({ status: 401, code: 'invalid_token' })).toBeUndefined();
  });

  describe('in a plain node:http server', () => {
    let server: Server;
    let base: string;
    let downVerifier: Verifier;
    const errors: unknown[] = [];

    beforeAll(async () => {
      const verifier = newVerifier(lk);
      downVerifier = newVerifier(lk, { fetch: jwksFetch(() => Promise.reject(new TypeError('down'))) });
      server = createServer(async (req, res) => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        const need: AssuranceRequirement = url.pathname === '/aal2' ? { acr: 'aal2' } : {};
        try {
          const claims = await authenticateRequest(
            url.pathname === '/down' ? downVerifier : verifier,
            req.headers.authorization,
            need,
          );
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sub: claims.sub }));
        } catch (error) {
          const refusal = errorResponseFor(error);
          if (!refusal) {
            errors.push(error);
            res.writeHead(500).end();
            return;
          }
          res.writeHead(refusal.status, refusal.headers).end(refusal.body);
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    const get = (path: string, token?: string) =>
      fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

    it('401 without a token, 200 with one, 401 step-up for aal2, 503 when keys are down', async () => {
      const pair = await freshLogin();

      const anonymous = await get('/me');
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
      expect(anonymous.headers.get('content-type')).toMatch(/^application\/json/);
      expect((await anonymous.json()).error).toBe('invalid_token');

      const ok = await get('/me', pair.access_token);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ sub: pair.userId });

      const stepUp = await get('/aal2', pair.access_token);
      expect(stepUp.status).toBe(401);
      expect(stepUp.headers.get('www-authenticate')).toContain('acr_values="aal2"');
      await stepUp.body?.cancel();

      const down = await get('/down', pair.access_token);
      expect(down.status).toBe(503);
      expect((await down.json()).error).toBe('temporarily_unavailable');

      // The same challenge as the server for no token.
      const serverAnswer = await lk.app.request('/v1/users/me');
      expect(anonymous.headers.get('www-authenticate')).toBe(serverAnswer.headers.get('www-authenticate'));
      expect(errors).toEqual([]);
    });
  });
});

describe('recordingFetch sanity', () => {
  it('a kit verifier asks the JWKS once for many tokens', async () => {
    const recorder = recordingFetch(lk.app);
    const verifier = newVerifier(lk, { fetch: recorder.fetch });
    for (let i = 0; i < 3; i++) await verifier.verify((await freshLogin()).access_token);
    expect(recorder.to(JWKS_PATH)).toHaveLength(1);
  });
});
