import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { beforeAll, describe, expect, it } from 'vitest';
import { sha256Base64url } from '../../src/lib/crypto.js';
import { appFetch, call, decodeJwtPart, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';

/**
 * DPoP (RFC 9449, issue #22) on the server: tokens bound at login, refreshes that must prove
 * the key (also inside the grace window), the server's own routes taking `Authorization: DPoP`,
 * and the hostile cases, each refused with nothing changed.
 */
const database = useDatabase();
let lk: Latchkey;

interface Holder {
  alg: 'ES256' | 'EdDSA';
  privateKey: CryptoKey;
  jwk: JWK;
  jkt: string;
}

async function holder(alg: 'ES256' | 'EdDSA' = 'ES256'): Promise<Holder> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { alg, privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

/** A proof for `method path` on the test server, signed by `key`; `change` bends one part of it. */
async function proof(
  key: Holder,
  method: string,
  path: string,
  options: {
    accessToken?: string;
    iat?: number;
    jti?: string;
    htu?: string;
    header?: Record<string, unknown>;
    alg?: string;
  } = {},
): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: options.jti ?? crypto.randomUUID(),
    htm: method,
    htu: options.htu ?? `${lk.config.issuer}${path}`,
    iat: options.iat ?? Math.floor(lk.clock.now().getTime() / 1000),
  };
  if (options.accessToken) claims.ath = await sha256Base64url(options.accessToken);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? key.alg, typ: 'dpop+jwt', jwk: key.jwk, ...options.header })
    .sign(key.privateKey);
}

async function dpopLogin(key: Holder, extra: Record<string, unknown> = {}) {
  const { email } = await registerUser(lk.app);
  const res = await call(lk.app, '/v1/auth/login', {
    body: { email, password: PASSWORD, ...extra },
    headers: { dpop: await proof(key, 'POST', '/v1/auth/login') },
  });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json as { access_token: string; refresh_token: string; token_type: string; session_id: string };
}

const refreshWith = async (refreshToken: string, dpop?: string, extra: Record<string, unknown> = {}) =>
  call(lk.app, '/v1/auth/refresh', {
    body: { refresh_token: refreshToken, ...extra },
    ...(dpop ? { headers: { dpop } } : {}),
  });

const me = (accessToken: string, headers: Record<string, string>) =>
  call(lk.app, '/v1/users/me', { headers: { authorization: `DPoP ${accessToken}`, ...headers } });

beforeAll(async () => {
  lk = await buildLatchkey(database.current, { env: { DPOP_CLIENTS: 'mobile:required,legacy:off' } });
});

describe('DPoP at the token endpoints', () => {
  it('binds a login to the proof key: token_type DPoP, cnf.jkt, a key-bound session', async () => {
    const key = await holder();
    const pair = await dpopLogin(key);
    expect(pair.token_type).toBe('DPoP');
    expect(decodeJwtPart(pair.access_token, 1).cnf).toEqual({ jkt: key.jkt });
    const sessions = await call(lk.app, '/v1/sessions', {
      headers: {
        authorization: `DPoP ${pair.access_token}`,
        dpop: await proof(key, 'GET', '/v1/sessions', { accessToken: pair.access_token }),
      },
    });
    expect(sessions.status, JSON.stringify(sessions.json)).toBe(200);
    expect(sessions.json.sessions[0].key_bound).toBe(true);
  });

  it('a login without a proof stays a bearer session', async () => {
    const { email } = await registerUser(lk.app);
    const res = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
    expect(res.json.token_type).toBe('Bearer');
    expect(decodeJwtPart(res.json.access_token, 1).cnf).toBeUndefined();
  });

  it('refreshes a bound session only with a proof by its key', async () => {
    const key = await holder();
    const pair = await dpopLogin(key);
    const refreshed = await refreshWith(pair.refresh_token, await proof(key, 'POST', '/v1/auth/refresh'));
    expect(refreshed.status, JSON.stringify(refreshed.json)).toBe(200);
    expect(refreshed.json.token_type).toBe('DPoP');
    expect(decodeJwtPart(refreshed.json.access_token, 1).cnf).toEqual({ jkt: key.jkt });
  });

  it('refuses a bound refresh token with no proof, another key, another URL or method, an old iat: nothing changes', async () => {
    const key = await holder();
    const thief = await holder();
    const pair = await dpopLogin(key);
    const attempts = [
      undefined,
      await proof(thief, 'POST', '/v1/auth/refresh'),
      await proof(key, 'POST', '/v1/auth/login'),
      await proof(key, 'GET', '/v1/auth/refresh'),
      await proof(key, 'POST', '/v1/auth/refresh', { htu: 'https://elsewhere.example/v1/auth/refresh' }),
      await proof(key, 'POST', '/v1/auth/refresh', {
        iat: Math.floor(lk.clock.now().getTime() / 1000) - 120,
      }),
      await proof(key, 'POST', '/v1/auth/refresh', { iat: Math.floor(lk.clock.now().getTime() / 1000) + 60 }),
    ];
    for (const attempt of attempts) {
      const res = await refreshWith(pair.refresh_token, attempt);
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_dpop_proof');
    }
    // The owner's token still rotates: none of the attempts moved it.
    const owner = await refreshWith(pair.refresh_token, await proof(key, 'POST', '/v1/auth/refresh'));
    expect(owner.status, JSON.stringify(owner.json)).toBe(200);
  });

  it('a grace-window replay or a late reuse without the key gets nothing and revokes nothing', async () => {
    const key = await holder();
    const thief = await holder();
    const pair = await dpopLogin(key);
    const first = await refreshWith(pair.refresh_token, await proof(key, 'POST', '/v1/auth/refresh'));
    expect(first.status).toBe(200);
    // Inside the grace window, with another key and with none.
    for (const attempt of [await proof(thief, 'POST', '/v1/auth/refresh'), undefined]) {
      const res = await refreshWith(pair.refresh_token, attempt);
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_dpop_proof');
    }
    // After the grace window: would be reuse with the key; without it, refused and no revocation.
    lk.clock.advance(60_000);
    const late = await refreshWith(pair.refresh_token, await proof(thief, 'POST', '/v1/auth/refresh'));
    expect(late.json.error).toBe('invalid_dpop_proof');
    const owner = await refreshWith(first.json.refresh_token, await proof(key, 'POST', '/v1/auth/refresh'));
    expect(owner.status, JSON.stringify(owner.json)).toBe(200);
    // The owner's grace replay, with the key, gets the live token as ever.
    const replay = await refreshWith(first.json.refresh_token, await proof(key, 'POST', '/v1/auth/refresh'));
    expect(replay.status).toBe(200);
    expect(replay.json.refresh_token).toBe(owner.json.refresh_token);
  });

  it('refuses a reused jti, alg none or HS256, a private jwk, two proofs', async () => {
    const key = await holder();
    const pair = await dpopLogin(key);
    const once = await proof(key, 'POST', '/v1/auth/refresh');
    const used = await refreshWith(pair.refresh_token, once);
    expect(used.status).toBe(200);
    const again = await refreshWith(used.json.refresh_token, once);
    expect(again.json).toMatchObject({
      error: 'invalid_dpop_proof',
      error_description: expect.stringMatching(/used already/),
    });

    const claims = {
      jti: crypto.randomUUID(),
      htm: 'POST',
      htu: `${lk.config.issuer}/v1/auth/refresh`,
      iat: Math.floor(lk.clock.now().getTime() / 1000),
    };
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'dpop+jwt', jwk: key.jwk })}.${b64(claims)}.`;
    const hs256 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.jwk })
      .sign(new Uint8Array(32));
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const withPrivate = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: privateJwk })
      .sign(privateKey);
    const wrongTyp = await proof(key, 'POST', '/v1/auth/refresh', { header: { typ: 'JWT' } });
    const two = `${await proof(key, 'POST', '/v1/auth/refresh')}, ${await proof(key, 'POST', '/v1/auth/refresh')}`;
    for (const bad of [none, hs256, withPrivate, wrongTyp, two, 'x'.repeat(9000)]) {
      const res = await refreshWith(used.json.refresh_token, bad);
      expect(res.status, bad.slice(0, 40)).toBe(400);
      expect(res.json.error).toBe('invalid_dpop_proof');
    }
    const owner = await refreshWith(used.json.refresh_token, await proof(key, 'POST', '/v1/auth/refresh'));
    expect(owner.status).toBe(200);
  });

  it('a jti used on one instance is refused on another (the replay cache is the database)', async () => {
    const other = await buildLatchkey(database.current, { clock: lk.clock });
    const key = await holder();
    const pair = await dpopLogin(key);
    const shared = await proof(key, 'GET', '/v1/users/me', { accessToken: pair.access_token });
    expect((await me(pair.access_token, { dpop: shared })).status).toBe(200);
    const res = await call(other.app, '/v1/users/me', {
      headers: { authorization: `DPoP ${pair.access_token}`, dpop: shared },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof"/);
  });

  it('one proof sent 8 times at once is accepted once (the replay cache is one atomic insert)', async () => {
    const key = await holder();
    const pair = await dpopLogin(key);
    const shared = await proof(key, 'GET', '/v1/users/me', { accessToken: pair.access_token });
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => me(pair.access_token, { dpop: shared })),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401, 401, 401, 401, 401, 401, 401]);
  });

  it('a bearer session refreshed with a proof gets a bound access token; the session stays unbound', async () => {
    const { email } = await registerUser(lk.app);
    const plain = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
    const key = await holder();
    const refreshed = await refreshWith(
      plain.json.refresh_token,
      await proof(key, 'POST', '/v1/auth/refresh'),
    );
    expect(refreshed.json.token_type).toBe('DPoP');
    expect(decodeJwtPart(refreshed.json.access_token, 1).cnf).toEqual({ jkt: key.jkt });
    const again = await refreshWith(refreshed.json.refresh_token);
    expect(again.status).toBe(200);
    expect(again.json.token_type).toBe('Bearer');
  });

  it('applies the client policy: required refuses a login without a proof, off ignores the proof', async () => {
    const { email } = await registerUser(lk.app);
    const refused = await call(lk.app, '/v1/auth/login', {
      body: { email, password: PASSWORD, client_id: 'mobile' },
    });
    expect(refused.status).toBe(400);
    expect(refused.json.error).toBe('invalid_dpop_proof');
    const key = await holder();
    const off = await call(lk.app, '/v1/auth/login', {
      body: { email, password: PASSWORD, client_id: 'legacy' },
      headers: { dpop: await proof(key, 'POST', '/v1/auth/login') },
    });
    expect(off.status).toBe(200);
    expect(off.json.token_type).toBe('Bearer');
  });

  it('advertises the proof algorithms (RFC 9449 §5.1)', async () => {
    const res = await call(lk.app, '/.well-known/oauth-authorization-server');
    expect(res.json.dpop_signing_alg_values_supported).toEqual(['ES256', 'EdDSA', 'ES384', 'PS256', 'RS256']);
  });
});

describe('DPoP on the server\u2019s own routes', () => {
  it('takes Authorization: DPoP with a proof carrying ath, and refuses the hostile variants', async () => {
    const key = await holder('EdDSA');
    const pair = await dpopLogin(key);
    const at = pair.access_token;
    expect(
      (await me(at, { dpop: await proof(key, 'GET', '/v1/users/me', { accessToken: at }) })).status,
    ).toBe(200);

    const asBearer = await call(lk.app, '/v1/users/me', { token: at });
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);

    const thief = await holder();
    const bad: Record<string, string>[] = [
      {},
      { dpop: await proof(key, 'GET', '/v1/users/me') }, // no ath
      { dpop: await proof(key, 'GET', '/v1/users/me', { accessToken: `${at}x` }) },
      { dpop: await proof(thief, 'GET', '/v1/users/me', { accessToken: at }) },
      { dpop: await proof(key, 'POST', '/v1/users/me', { accessToken: at }) },
      { dpop: await proof(key, 'GET', '/v1/sessions', { accessToken: at }) },
    ];
    for (const headers of bad) {
      const res = await me(at, headers);
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('invalid_dpop_proof');
      expect(res.headers.get('www-authenticate')).toMatch(
        /^DPoP error="invalid_dpop_proof".*algs="ES256 EdDSA/,
      );
    }
  });

  it('refuses an unbound token sent as DPoP', async () => {
    const { email } = await registerUser(lk.app);
    const plain = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
    const res = await me(plain.json.access_token, {});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
  });

  it('logs out with a bound token and its proof', async () => {
    const key = await holder();
    const pair = await dpopLogin(key);
    const bare = await call(lk.app, '/v1/auth/logout', { method: 'POST', token: pair.access_token });
    expect(bare.status).toBe(401);
    const out = await call(lk.app, '/v1/auth/logout', {
      method: 'POST',
      headers: {
        authorization: `DPoP ${pair.access_token}`,
        dpop: await proof(key, 'POST', '/v1/auth/logout', { accessToken: pair.access_token }),
      },
    });
    expect(out.status).toBe(204);
    const after = await refreshWith(pair.refresh_token, await proof(key, 'POST', '/v1/auth/refresh'));
    expect(after.json.error).toBe('invalid_grant');
  });
});

describe('oauth4webapi with DPoP against /oauth/token', () => {
  it('refreshes a DPoP-bound session through the library, which signs its own proofs', async () => {
    const keyPair = (await generateKeyPair('ES256', { extractable: false })) as CryptoKeyPair;
    const publicJwk = await exportJWK(keyPair.publicKey);
    const key: Holder = {
      alg: 'ES256',
      privateKey: keyPair.privateKey,
      jwk: publicJwk,
      jkt: await calculateJwkThumbprint(publicJwk),
    };
    const pair = await dpopLogin(key);
    const options = {
      [oauth.customFetch]: appFetch(lk.app) as typeof fetch,
      [oauth.allowInsecureRequests]: true as const,
    };
    const issuer = new URL(lk.config.issuer);
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { ...options, algorithm: 'oauth2' }),
    );
    // The test clock runs in 2030: the library signs its proofs' iat on it.
    const skew = Math.floor(lk.clock.now().getTime() / 1000) - Math.floor(Date.now() / 1000);
    const client: oauth.Client = { client_id: 'default', [oauth.clockSkew]: skew };
    const DPoP = oauth.DPoP(client, keyPair);
    const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), pair.refresh_token, {
      ...options,
      DPoP,
    });
    const tokens = await oauth.processRefreshTokenResponse(as, client, response);
    expect(tokens.token_type).toBe('dpop');
    expect(decodeJwtPart(tokens.access_token, 1).cnf).toEqual({ jkt: key.jkt });

    // The same library calls our own route with the bound token.
    const resource = await oauth.protectedResourceRequest(
      tokens.access_token,
      'GET',
      new URL(`${lk.config.issuer}/v1/users/me`),
      new Headers(),
      null,
      // biome-ignore lint/suspicious/noExplicitAny: the app's fetch takes every body the library sends
      { ...options, [oauth.customFetch]: appFetch(lk.app) as any, DPoP },
    );
    expect(resource.status).toBe(200);

    // Without the library's key, the rotated token is refused (another key's proof).
    const other = oauth.DPoP(client, (await generateKeyPair('ES256')) as CryptoKeyPair);
    const stolen = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, {
      ...options,
      DPoP: other,
    });
    expect(stolen.status).toBe(400);
    expect(((await stolen.json()) as { error: string }).error).toBe('invalid_dpop_proof');
  });
});

describe('DPOP_NONCE: server-provided nonces (RFC 9449 §8)', () => {
  it('asks for a nonce, accepts it for 5 to 10 minutes, then asks again', async () => {
    const noncy = await buildLatchkey(database.current, { clock: lk.clock, env: { DPOP_NONCE: 'true' } });
    const key = await holder();
    const { email } = await registerUser(noncy.app);
    const loginWith = async (nonce?: string) =>
      call(noncy.app, '/v1/auth/login', {
        body: { email, password: PASSWORD },
        headers: {
          dpop: await new SignJWT({
            jti: crypto.randomUUID(),
            htm: 'POST',
            htu: `${lk.config.issuer}/v1/auth/login`,
            iat: Math.floor(lk.clock.now().getTime() / 1000),
            ...(nonce ? { nonce } : {}),
          })
            .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
            .sign(key.privateKey),
        },
      });
    const asked = await loginWith();
    expect(asked.status).toBe(400);
    expect(asked.json.error).toBe('use_dpop_nonce');
    const nonce = asked.headers.get('dpop-nonce');
    expect(nonce).toBeTruthy();
    expect((await loginWith('forged.nonce')).json.error).toBe('use_dpop_nonce');

    const ok = await loginWith(nonce!);
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect(ok.json.token_type).toBe('DPoP');
    expect(ok.headers.get('dpop-nonce')).toBe(nonce);

    // On a resource route the refusal is a 401 DPoP challenge carrying the nonce.
    const at = ok.json.access_token as string;
    const plain = await call(noncy.app, '/v1/users/me', {
      headers: {
        authorization: `DPoP ${at}`,
        dpop: await proof(key, 'GET', '/v1/users/me', { accessToken: at }),
      },
    });
    expect(plain.status).toBe(401);
    expect(plain.headers.get('www-authenticate')).toMatch(/^DPoP error="use_dpop_nonce"/);
    expect(plain.headers.get('dpop-nonce')).toBe(nonce);

    lk.clock.advance(11 * 60 * 1000);
    const stale = await loginWith(nonce!);
    expect(stale.json.error).toBe('use_dpop_nonce');
    expect(stale.headers.get('dpop-nonce')).not.toBe(nonce);
  });
});
