import { Hono } from 'hono';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { beforeAll, describe, expect, it } from 'vitest';
import { sha256Base64url } from '../../src/lib/crypto.js';
import { type AccessTokenVariables, requireAccessToken } from '../../src/verify/hono.js';
import {
  authenticateRequest,
  createVerifier,
  type DpopReplayCache,
  errorResponseFor,
  MemoryDpopReplayCache,
  type Verifier,
  type VerifierOptions,
  VerifierUnavailableError,
} from '../../src/verify/index.js';
import { appFetch, call, decodeJwtPart, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import { b64 } from './helpers.js';

/**
 * DPoP-bound access tokens (RFC 9449, issue #22) in the resource-server kit: a token bound at
 * login by the real server, used by the real client library oauth4webapi against a resource
 * server made with the kit (its Hono middleware, and `authenticateRequest` in a fetch handler),
 * and the hostile proofs, each refused with a 401 and the RFC 9449 §7.1 DPoP challenge.
 */

const database = useDatabase();
let lk: Latchkey;

/** The resource server's public origin: where clients address it, and so what proofs' htu name. */
const API = 'https://api.example.com';

interface Holder {
  keyPair: CryptoKeyPair;
  jwk: JWK;
  jkt: string;
}

async function holder(): Promise<Holder> {
  const keyPair = (await generateKeyPair('ES256')) as CryptoKeyPair;
  const jwk = await exportJWK(keyPair.publicKey);
  return { keyPair, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

const nowSeconds = () => Math.floor(lk.clock.now().getTime() / 1000);

interface ProofOptions {
  accessToken?: string;
  ath?: string;
  iat?: number;
  jti?: string;
  header?: Record<string, unknown>;
  alg?: string;
  signingKey?: CryptoKey | Uint8Array;
}

/** A proof for `method url` signed by `key` (RFC 9449 §4.2); the options bend one part of it. */
async function proof(key: Holder, method: string, url: string, options: ProofOptions = {}): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: options.jti ?? crypto.randomUUID(),
    htm: method,
    htu: url,
    iat: options.iat ?? nowSeconds(),
  };
  if (options.ath !== undefined) claims.ath = options.ath;
  else if (options.accessToken) claims.ath = await sha256Base64url(options.accessToken);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'ES256', typ: 'dpop+jwt', jwk: key.jwk, ...options.header })
    .sign(options.signingKey ?? key.keyPair.privateKey);
}

/** A password login with a DPoP proof header: the server binds the tokens to `key`. */
async function boundLogin(key: Holder) {
  const { email, id } = await registerUser(lk.app);
  const res = await call(lk.app, '/v1/auth/login', {
    body: { email, password: PASSWORD },
    headers: { dpop: await proof(key, 'POST', `${lk.config.issuer}/v1/auth/login`) },
  });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  expect(res.json.token_type).toBe('DPoP');
  expect(decodeJwtPart(res.json.access_token, 1).cnf).toEqual({ jkt: key.jkt });
  return { accessToken: res.json.access_token as string, userId: id };
}

const newVerifier = (dpop?: VerifierOptions['dpop']): Verifier =>
  createVerifier({
    issuer: lk.config.issuer,
    audience: lk.config.audience,
    fetch: appFetch(lk.app),
    now: () => lk.clock.now().getTime(),
    ...(dpop ? { dpop } : {}),
  });

type Handler = (request: Request) => Promise<Response>;

/** A Hono API guarded by the kit's middleware. */
function honoServer(verifier: Verifier): Handler {
  const app = new Hono<{ Variables: AccessTokenVariables }>();
  const guard = requireAccessToken(verifier);
  const answer = (claims: AccessTokenVariables['accessToken']) => ({
    sub: claims.sub,
    jkt: claims.cnf?.jkt ?? null,
  });
  app.get('/orders', guard, (c) => c.json(answer(c.get('accessToken'))));
  app.post('/orders', guard, (c) => c.json(answer(c.get('accessToken'))));
  return async (request) => app.fetch(request);
}

/** A plain fetch handler with `authenticateRequest` and `errorResponseFor`. */
function fetchServer(verifier: Verifier): Handler {
  return async (request) => {
    try {
      const claims = await authenticateRequest(verifier, request);
      return Response.json({ sub: claims.sub, jkt: claims.cnf?.jkt ?? null });
    } catch (error) {
      const refusal = errorResponseFor(error);
      if (!refusal) throw error;
      return new Response(refusal.body, refusal);
    }
  };
}

const send = (server: Handler, method: string, url: string, headers: Record<string, string>) =>
  server(new Request(url, { method, headers }));

/** A DPoP refusal: 401, `WWW-Authenticate: DPoP error="<code>"` with the algs (RFC 9449 §7.1). */
async function expectDpopRefusal(response: Response, code: 'invalid_dpop_proof' | 'invalid_token') {
  const body = (await response.json()) as { error: string; error_description: string };
  expect(response.status, JSON.stringify(body)).toBe(401);
  const challenge = response.headers.get('www-authenticate') ?? '';
  expect(challenge).toMatch(new RegExp(`^DPoP error="${code}"`));
  expect(challenge).toContain('algs="ES256 EdDSA ES384 PS256 RS256"');
  expect(body.error).toBe(code);
  return body;
}

beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

describe('oauth4webapi against a resource server made with the kit', () => {
  /** The library's clock on the test clock (2030): it signs its proofs' iat with it. */
  const client = (): oauth.Client => ({
    client_id: 'default',
    [oauth.clockSkew]: nowSeconds() - Math.floor(Date.now() / 1000),
  });

  for (const [name, makeServer] of [
    ['the Hono middleware', honoServer],
    ['authenticateRequest', fetchServer],
  ] as const) {
    it(`${name}: accepts the library's proofs with a token bound at login, and its Bearer use is refused`, async () => {
      const key = await holder();
      const { accessToken, userId } = await boundLogin(key);
      const server = makeServer(newVerifier());
      const options = {
        [oauth.customFetch]: (url: string, init: RequestInit) => server(new Request(url, init)),
      };
      const DPoP = oauth.DPoP(client(), key.keyPair);
      for (const method of ['GET', 'POST', 'GET']) {
        const response = await oauth.protectedResourceRequest(
          accessToken,
          method,
          new URL(`${API}/orders`),
          new Headers(),
          null,
          // biome-ignore lint/suspicious/noExplicitAny: the handler takes every body the library sends
          { ...options, DPoP } as any,
        );
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({ sub: userId, jkt: key.jkt });
      }

      // The library without the key sends the token as Bearer; it reads our challenge.
      const refused = await oauth
        .protectedResourceRequest(
          accessToken,
          'GET',
          new URL(`${API}/orders`),
          new Headers(),
          null,
          // biome-ignore lint/suspicious/noExplicitAny: as above
          options as any,
        )
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(refused).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
      const challenge = (refused as oauth.WWWAuthenticateChallengeError).cause[0]!;
      expect(challenge.scheme).toBe('dpop');
      expect(challenge.parameters.error).toBe('invalid_token');
      expect((refused as oauth.WWWAuthenticateChallengeError).response.status).toBe(401);

      // Another key's handle: its proofs do not match cnf.jkt.
      const thief = oauth.DPoP(client(), (await holder()).keyPair);
      const stolen = await oauth
        .protectedResourceRequest(
          accessToken,
          'GET',
          new URL(`${API}/orders`),
          new Headers(),
          null,
          // biome-ignore lint/suspicious/noExplicitAny: as above
          { ...options, DPoP: thief } as any,
        )
        .then(
          () => undefined,
          (error: unknown) => error as oauth.WWWAuthenticateChallengeError,
        );
      expect(stolen?.cause[0]?.parameters.error).toBe('invalid_dpop_proof');
    });
  }
});

describe.each([
  ['the Hono middleware', honoServer],
  ['authenticateRequest', fetchServer],
] as const)('%s refuses', (_name, makeServer) => {
  let key: Holder;
  let accessToken: string;
  let server: Handler;
  let replayCache: MemoryDpopReplayCache;
  const url = `${API}/orders`;
  const dpopCall = async (dpop: string | undefined, method = 'GET', token = accessToken) =>
    send(server, method, url, { authorization: `DPoP ${token}`, ...(dpop === undefined ? {} : { dpop }) });

  beforeAll(async () => {
    key = await holder();
    ({ accessToken } = await boundLogin(key));
    replayCache = new MemoryDpopReplayCache({ now: () => lk.clock.now().getTime() });
    server = makeServer(newVerifier({ replayCache }));
  });

  it('(control) a valid proof, then remembers it', async () => {
    const before = replayCache.size;
    const response = await dpopCall(await proof(key, 'GET', url, { accessToken }));
    expect(response.status).toBe(200);
    expect(replayCache.size).toBe(before + 1);
  });

  it('the bound token sent as Bearer, with or without a proof (RFC 9449 §7.2)', async () => {
    for (const dpop of [undefined, await proof(key, 'GET', url, { accessToken })]) {
      const response = await send(server, 'GET', url, {
        authorization: `Bearer ${accessToken}`,
        ...(dpop ? { dpop } : {}),
      });
      const body = await expectDpopRefusal(response, 'invalid_token');
      expect(body.error_description).toMatch(/DPoP-bound/);
    }
  });

  it('an unbound token sent as DPoP', async () => {
    const { email } = await registerUser(lk.app);
    const plain = await login(lk.app, email);
    expect(plain.token_type).toBe('Bearer');
    const response = await dpopCall(
      await proof(key, 'GET', url, { accessToken: plain.access_token }),
      'GET',
      plain.access_token,
    );
    await expectDpopRefusal(response, 'invalid_token');
    // Control: as Bearer it passes.
    expect((await send(server, 'GET', url, { authorization: `Bearer ${plain.access_token}` })).status).toBe(
      200,
    );
  });

  it('no proof, an empty one, two, and junk', async () => {
    const one = await proof(key, 'GET', url, { accessToken });
    for (const dpop of [undefined, '', `${one}, ${one}`, 'not.a.proof', 'x'.repeat(9000)]) {
      await expectDpopRefusal(await dpopCall(dpop), 'invalid_dpop_proof');
    }
  });

  it('a proof for another URL or method', async () => {
    for (const bad of [
      await proof(key, 'GET', `${API}/payouts`, { accessToken }),
      await proof(key, 'GET', 'https://other.example.com/orders', { accessToken }),
      await proof(key, 'GET', 'http://api.example.com/orders', { accessToken }),
      await proof(key, 'POST', url, { accessToken }),
    ]) {
      const body = await expectDpopRefusal(await dpopCall(bad), 'invalid_dpop_proof');
      expect(body.error_description).toMatch(/htu|htm/);
    }
    // The query and fragment are not part of the comparison (RFC 9449 §4.3 item 9).
    expect((await dpopCall(await proof(key, 'GET', `${url}?page=2#top`, { accessToken }))).status).toBe(200);
  });

  it('an old iat, and one in the future', async () => {
    for (const iat of [nowSeconds() - 61, nowSeconds() - 3600, nowSeconds() + 60]) {
      const body = await expectDpopRefusal(
        await dpopCall(await proof(key, 'GET', url, { accessToken, iat })),
        'invalid_dpop_proof',
      );
      expect(body.error_description).toMatch(/iat|old/);
    }
  });

  it('a reused jti: the same proof twice, and a new proof with a used jti (the replay cache)', async () => {
    const once = await proof(key, 'GET', url, { accessToken });
    expect((await dpopCall(once)).status).toBe(200);
    const body = await expectDpopRefusal(await dpopCall(once), 'invalid_dpop_proof');
    expect(body.error_description).toMatch(/used already/);
    const jti = crypto.randomUUID();
    expect((await dpopCall(await proof(key, 'GET', url, { accessToken, jti }))).status).toBe(200);
    lk.clock.advance(2_000);
    await expectDpopRefusal(
      await dpopCall(await proof(key, 'POST', url, { accessToken, jti }), 'POST'),
      'invalid_dpop_proof',
    );
  });

  it('a proof signed by another key (its own jwk, or the bound jwk with another signature)', async () => {
    const thief = await holder();
    await expectDpopRefusal(
      await dpopCall(await proof(thief, 'GET', url, { accessToken })),
      'invalid_dpop_proof',
    );
    const forged = await proof(key, 'GET', url, { accessToken, signingKey: thief.keyPair.privateKey });
    await expectDpopRefusal(await dpopCall(forged), 'invalid_dpop_proof');
  });

  it('alg none and HS256 (the bound jwk in the header)', async () => {
    const claims = {
      jti: crypto.randomUUID(),
      htm: 'GET',
      htu: url,
      iat: nowSeconds(),
      ath: await sha256Base64url(accessToken),
    };
    const none = `${b64({ alg: 'none', typ: 'dpop+jwt', jwk: key.jwk })}.${b64(claims)}.`;
    const hs256 = await new SignJWT({ ...claims, jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.jwk })
      .sign(new TextEncoder().encode(JSON.stringify(key.jwk)));
    // No signature at all is not even a JWS; with one, the algorithm is refused before any key.
    const body = await expectDpopRefusal(await dpopCall(none), 'invalid_dpop_proof');
    expect(body.error_description).toMatch(/not a compact JWS/);
    for (const bad of [`${none}AAAA`, hs256]) {
      const refused = await expectDpopRefusal(await dpopCall(bad), 'invalid_dpop_proof');
      expect(refused.error_description).toMatch(/signed with one of/);
    }
  });

  it("a proof whose jwk holds a private key (even the bound key's own)", async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(pair.privateKey);
    const jwk = await exportJWK(pair.publicKey);
    const owner: Holder = { keyPair: pair as CryptoKeyPair, jwk, jkt: await calculateJwkThumbprint(jwk) };
    const bound = await boundLogin(owner);
    const leaky = await proof(owner, 'GET', url, {
      accessToken: bound.accessToken,
      header: { jwk: privateJwk },
    });
    const body = await expectDpopRefusal(
      await dpopCall(leaky, 'GET', bound.accessToken),
      'invalid_dpop_proof',
    );
    expect(body.error_description).toMatch(/public key/);
    // Control: the same key's public jwk passes.
    expect(
      (
        await dpopCall(
          await proof(owner, 'GET', url, { accessToken: bound.accessToken }),
          'GET',
          bound.accessToken,
        )
      ).status,
    ).toBe(200);
  });

  it('a wrong or missing ath', async () => {
    const other = await boundLogin(key); // the same key, another token
    for (const bad of [
      await proof(key, 'GET', url, { accessToken: other.accessToken }),
      await proof(key, 'GET', url, { ath: '' }),
      await proof(key, 'GET', url),
    ]) {
      const body = await expectDpopRefusal(await dpopCall(bad), 'invalid_dpop_proof');
      expect(body.error_description).toMatch(/ath/);
    }
  });

  it('a wrong typ, a header that points at a key, no jwk', async () => {
    for (const header of [
      { typ: 'JWT' },
      { jku: 'https://evil.example/jwks' },
      { x5u: 'https://evil.example/cert' },
      { jwk: undefined, kid: 'k1' },
    ]) {
      await expectDpopRefusal(
        await dpopCall(await proof(key, 'GET', url, { accessToken, header })),
        'invalid_dpop_proof',
      );
    }
  });

  it('and remembers none of the refused proofs', async () => {
    const before = replayCache.size;
    await dpopCall(await proof(key, 'POST', url, { accessToken }));
    await dpopCall(await proof(key, 'GET', url, { accessToken, iat: nowSeconds() - 120 }));
    await dpopCall(await proof(await holder(), 'GET', url, { accessToken }));
    expect(replayCache.size).toBe(before);
  });
});

describe('the URL a proof must name (dpop.publicUrl)', () => {
  let key: Holder;
  let accessToken: string;

  beforeAll(async () => {
    key = await holder();
    ({ accessToken } = await boundLogin(key));
  });

  it('behind a proxy: the public URL and the request path, never the Host the request came with', async () => {
    // The proxy serves https://example.com/api/* and forwards /api/orders as /orders; a Node
    // adapter builds the request URL from the Host header, which any client can set.
    const server = honoServer(newVerifier({ publicUrl: 'https://example.com/api/' }));
    const at = (requestUrl: string, htu: string) =>
      proof(key, 'GET', htu, { accessToken }).then((dpop) =>
        send(server, 'GET', requestUrl, { authorization: `DPoP ${accessToken}`, dpop }),
      );
    expect((await at('http://10.0.0.5:8080/orders', 'https://example.com/api/orders')).status).toBe(200);
    expect((await at('https://spoofed.example/orders?x=1', 'https://example.com/api/orders')).status).toBe(
      200,
    );
    // A proof made for the address the request claims (its Host), not the public one: refused.
    await expectDpopRefusal(
      await at('https://spoofed.example/orders', 'https://spoofed.example/orders'),
      'invalid_dpop_proof',
    );
    await expectDpopRefusal(
      await at('http://10.0.0.5:8080/orders', 'http://10.0.0.5:8080/orders'),
      'invalid_dpop_proof',
    );
    await expectDpopRefusal(
      await at('http://10.0.0.5:8080/orders', 'https://example.com/orders'),
      'invalid_dpop_proof',
    );
  });

  it('without it, the request URL (a fetch Request names its scheme and host)', async () => {
    const server = fetchServer(newVerifier());
    const dpop = await proof(key, 'GET', 'http://localhost:8787/orders', { accessToken });
    const response = await send(server, 'GET', 'http://localhost:8787/orders', {
      authorization: `DPoP ${accessToken}`,
      dpop,
    });
    expect(response.status).toBe(200);
  });

  it('a Node request (a path and a header record): resolved against publicUrl; without it, a bound token is a TypeError', async () => {
    const withUrl = newVerifier({ publicUrl: API });
    const nodeRequest = async (dpop: string | string[]) => ({
      method: 'GET',
      url: '/orders?page=1',
      headers: { host: 'spoofed.example', authorization: `DPoP ${accessToken}`, dpop },
    });
    const claims = await authenticateRequest(
      withUrl,
      await nodeRequest(await proof(key, 'GET', `${API}/orders`, { accessToken })),
    );
    expect(claims.cnf).toEqual({ jkt: key.jkt });
    // Two DPoP header lines, as Node's headersDistinct gives them: refused (RFC 9449 §4.3 item 1).
    const twice = await authenticateRequest(
      withUrl,
      await nodeRequest([
        await proof(key, 'GET', `${API}/orders`, { accessToken }),
        await proof(key, 'GET', `${API}/orders`, { accessToken }),
      ]),
    ).catch((error: unknown) => error);
    expect(errorResponseFor(twice)?.status).toBe(401);
    expect(errorResponseFor(twice)?.headers['www-authenticate']).toMatch(/^DPoP error="invalid_dpop_proof"/);

    const without = newVerifier();
    const misconfigured = await authenticateRequest(
      without,
      await nodeRequest(await proof(key, 'GET', `${API}/orders`, { accessToken })),
    ).catch((error: unknown) => error);
    expect(misconfigured).toBeInstanceOf(TypeError);
    expect(errorResponseFor(misconfigured)).toBeUndefined();
    // A Bearer token never needs the URL.
    const { email } = await registerUser(lk.app);
    const plain = await login(lk.app, email);
    const bearer = await authenticateRequest(without, {
      method: 'GET',
      url: '/orders',
      headers: { authorization: `Bearer ${plain.access_token}` },
    });
    expect(bearer.cnf).toBeUndefined();
  });

  it('only the Authorization header: a bound token is refused (no proof can be checked)', async () => {
    const error = await authenticateRequest(newVerifier(), `DPoP ${accessToken}`).catch((e: unknown) => e);
    expect(errorResponseFor(error)?.status).toBe(401);
    expect(errorResponseFor(error)?.headers['www-authenticate']).toMatch(/^DPoP error="invalid_token"/);
  });

  it('refuses a publicUrl that is not an http(s) base URL', () => {
    for (const publicUrl of [
      'api.example.com',
      'ftp://api.example.com',
      'https://api.example.com/?v=1',
      'https://u:p@api.example.com',
      'https://api.example.com/#x',
    ]) {
      expect(() => newVerifier({ publicUrl }), publicUrl).toThrow(TypeError);
    }
  });
});

describe('the replay cache', () => {
  it('MemoryDpopReplayCache: a key once until its expiry, then again', () => {
    let now = 1_000_000;
    const cache = new MemoryDpopReplayCache({ now: () => now });
    expect(cache.remember('a', new Date(now + 65_000))).toBe(true);
    expect(cache.remember('a', new Date(now + 65_000))).toBe(false);
    expect(cache.remember('b', new Date(now + 70_000))).toBe(true);
    now += 65_000;
    expect(cache.remember('a', new Date(now + 65_000))).toBe(true); // expired: swept, new
    expect(cache.size).toBe(2);
    now += 70_000;
    expect(cache.remember('c', new Date(now + 65_000))).toBe(true);
    expect(cache.size).toBe(1); // a and b swept
  });

  it('MemoryDpopReplayCache: when full of unexpired proofs it refuses (503), never forgets one; room comes back as they expire', () => {
    let now = 1_000_000;
    const cache = new MemoryDpopReplayCache({ maxEntries: 3, now: () => now });
    for (const key of ['a', 'b', 'c']) expect(cache.remember(key, new Date(now + 65_000))).toBe(true);
    const full = (() => {
      try {
        return cache.remember('d', new Date(now + 65_000));
      } catch (error) {
        return error;
      }
    })();
    expect(full).toBeInstanceOf(VerifierUnavailableError);
    expect(errorResponseFor(full)).toMatchObject({ status: 503, headers: { 'retry-after': '5' } });
    // Nothing was forgotten to make room.
    for (const key of ['a', 'b', 'c']) expect(cache.remember(key, new Date(now + 65_000))).toBe(false);
    now += 65_000;
    expect(cache.remember('d', new Date(now + 65_000))).toBe(true);
    expect(cache.size).toBe(1);
  });

  it('full in a resource server: 503 with Retry-After, not 401', async () => {
    const key = await holder();
    const { accessToken } = await boundLogin(key);
    const server = fetchServer(
      newVerifier({
        replayCache: new MemoryDpopReplayCache({ maxEntries: 1, now: () => lk.clock.now().getTime() }),
      }),
    );
    const call = async () =>
      send(server, 'GET', `${API}/orders`, {
        authorization: `DPoP ${accessToken}`,
        dpop: await proof(key, 'GET', `${API}/orders`, { accessToken }),
      });
    expect((await call()).status).toBe(200);
    const full = await call();
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('5');
  });

  it('a shared cache (pluggable) stops a proof replayed on another instance; per-process defaults do not', async () => {
    const key = await holder();
    const { accessToken } = await boundLogin(key);
    const seen = new Map<string, number>();
    const keys: string[] = [];
    // What a Redis `SET key 1 NX PXAT until` does, in a Map: one atomic check-and-write.
    const shared: DpopReplayCache = {
      async remember(replayKey, until) {
        keys.push(replayKey);
        if ((seen.get(replayKey) ?? 0) > lk.clock.now().getTime()) return false;
        seen.set(replayKey, until.getTime());
        return true;
      },
    };
    const headers = async () => ({
      authorization: `DPoP ${accessToken}`,
      dpop: await proof(key, 'GET', `${API}/orders`, { accessToken }),
    });
    const a = honoServer(newVerifier({ replayCache: shared }));
    const b = fetchServer(newVerifier({ replayCache: shared }));
    const once = await headers();
    expect((await send(a, 'GET', `${API}/orders`, once)).status).toBe(200);
    await expectDpopRefusal(await send(b, 'GET', `${API}/orders`, once), 'invalid_dpop_proof');
    const proofClaims = decodeJwtPart(once.dpop, 1);
    expect(keys).toEqual([`${key.jkt}.${proofClaims.jti}`, `${key.jkt}.${proofClaims.jti}`]);
    // until: the end of the proof's acceptance window (iat + 60 s + 5 s of clock tolerance).
    expect(seen.get(keys[0]!)).toBeGreaterThanOrEqual((proofClaims.iat + 65) * 1000);
    expect(seen.get(keys[0]!)).toBeLessThan((proofClaims.iat + 66) * 1000);

    // Two instances, each with its own in-memory cache: the replay on the other one passes.
    const twice = await headers();
    expect((await send(honoServer(newVerifier()), 'GET', `${API}/orders`, twice)).status).toBe(200);
    expect((await send(honoServer(newVerifier()), 'GET', `${API}/orders`, twice)).status).toBe(200);
  });

  it('a cache that fails: 503, never an accepted proof', async () => {
    const key = await holder();
    const { accessToken } = await boundLogin(key);
    const broken: DpopReplayCache = {
      remember: () => Promise.reject(new Error('connection refused')),
    };
    const response = await send(fetchServer(newVerifier({ replayCache: broken })), 'GET', `${API}/orders`, {
      authorization: `DPoP ${accessToken}`,
      dpop: await proof(key, 'GET', `${API}/orders`, { accessToken }),
    });
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: string }).error).toBe('temporarily_unavailable');
  });
});
