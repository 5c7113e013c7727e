import { createHash, generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { base64url, joseSignature } from '../src/client/dpop.js';
import { type ClientOptions, createLatchkeyClient, LatchkeyError } from '../src/client/index.js';
import { verifyDpopProof } from '../src/domain/dpop.js';
import { appFetch, call, decodeJwtPart, registerUser } from './support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from './support/harness.js';
import { totpCode } from './support/totp.js';

/**
 * `latchkey/client` with DPoP (RFC 9449, issue #22), against the real server and database: the
 * client signs a fresh proof for each request with the key it holds (its own, a WebCrypto key
 * pair the app passes, or a signer over a keystore), and the server binds the session to it.
 */
const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

interface Sent {
  method: string;
  path: string;
  authorization: string | null;
  dpop: string | null;
}

/** The app through fetch, with what each request carried; `answer` may stand in for the server. */
function recordingFetch(answer?: (sent: Sent) => Response | undefined) {
  const sent: Sent[] = [];
  const fetch = async (input: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('origin', 'https://app.example.com');
    const request: Sent = {
      method: init.method ?? 'GET',
      path: new URL(input).pathname,
      authorization: headers.get('authorization'),
      dpop: headers.get('dpop'),
    };
    sent.push(request);
    return answer?.(request) ?? appFetch(lk.app)(input, { ...init, headers });
  };
  return { fetch, sent };
}

/** A body-delivery client on the server's clock (proofs' `iat` must be the server's now). */
function dpopClient(extra: Partial<ClientOptions> = {}) {
  const recorder = recordingFetch();
  const client = createLatchkeyClient({
    baseUrl: lk.config.issuer,
    delivery: 'body',
    dpop: true,
    fetch: recorder.fetch,
    now: () => lk.clock.now().getTime(),
    ...extra,
  });
  return { client, sent: recorder.sent };
}

const claimsOf = (jwt: string) => decodeJwtPart(jwt, 1);
const headerOf = (jwt: string) => decodeJwtPart(jwt, 0);
const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');
const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as LatchkeyError,
  );
const codeNow = (secret: string) => totpCode(secret, Math.floor(lk.clock.now().getTime() / 1000));

describe('@latchkey/client with DPoP (RFC 9449)', () => {
  it('logs in bound to its key, calls with Authorization: DPoP and a proof with ath, refreshes bound', async () => {
    const { email, id } = await registerUser(lk.app);
    const { client, sent } = dpopClient();
    const pair = await client.login(email, PASSWORD, { deviceName: 'phone' });
    if ('mfa_required' in pair) throw new Error('no MFA here');
    expect(pair.token_type).toBe('DPoP');
    expect(client.tokenType).toBe('DPoP');

    // The login's proof (RFC 9449 §4.2): the header's public key is the one the token names.
    const login = sent.find((request) => request.path === '/v1/auth/login')!;
    const header = headerOf(login.dpop!);
    expect(header).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256' } });
    expect(Object.keys(header.jwk).sort()).toEqual(['crv', 'kty', 'x', 'y']); // public members only
    const jkt = await calculateJwkThumbprint(header.jwk as JWK);
    expect(claimsOf(pair.access_token).cnf).toEqual({ jkt });
    expect(claimsOf(login.dpop!)).toMatchObject({
      htm: 'POST',
      htu: `${lk.config.issuer}/v1/auth/login`,
      iat: Math.floor(lk.clock.now().getTime() / 1000),
    });
    expect(claimsOf(login.dpop!).ath).toBeUndefined();

    expect((await client.me()).id).toBe(id);
    const me = sent.at(-1)!;
    expect(me.authorization).toBe(`DPoP ${pair.access_token}`);
    expect(claimsOf(me.dpop!)).toMatchObject({
      htm: 'GET',
      htu: `${lk.config.issuer}/v1/users/me`,
      ath: sha256(pair.access_token),
    });
    expect(claimsOf(me.dpop!).jti).not.toBe(claimsOf(login.dpop!).jti);

    lk.clock.advance(16 * 60 * 1000); // the access token has expired: me() refreshes, with a proof
    expect((await client.me()).id).toBe(id);
    const refresh = sent.find((request) => request.path === '/v1/auth/refresh')!;
    expect(claimsOf(refresh.dpop!)).toMatchObject({
      htm: 'POST',
      htu: `${lk.config.issuer}/v1/auth/refresh`,
    });
    expect(client.tokenType).toBe('DPoP');
    expect(client.accessToken).not.toBe(pair.access_token);
    expect(claimsOf(client.accessToken!).cnf).toEqual({ jkt });
    const sessions = await client.sessions();
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ current: true, key_bound: true, device_name: 'phone' });
    // Every request carried its own proof.
    const jtis = sent.map((request) => claimsOf(request.dpop!).jti);
    expect(new Set(jtis).size).toBe(sent.length);

    await client.logout();
    expect(sent.at(-1)!.path).toBe('/v1/auth/logout');
    expect((await call(lk.app, '/v1/sessions', { token: pair.access_token })).status).toBe(401);
  });

  it('a refresh token taken to a client with another key is refused (400 invalid_dpop_proof); the owner goes on', async () => {
    const { email, id } = await registerUser(lk.app);
    let stolen: string | undefined;
    const owner = dpopClient({
      refreshTokenStore: {
        get: () => stolen,
        set: (token) => {
          stolen = token;
        },
      },
    }).client;
    await owner.login(email, PASSWORD);
    const refreshToken = stolen!;

    let endedForThief = 0;
    const thief = dpopClient({
      refreshTokenStore: { get: () => refreshToken, set: () => {} },
      onSessionEnded: () => endedForThief++,
    }).client;
    const refused = await errorOf(thief.refresh());
    expect(refused).toBeInstanceOf(LatchkeyError);
    expect(refused).toMatchObject({ status: 400, code: 'invalid_dpop_proof' });
    expect(endedForThief).toBe(0); // a 400: the session is not over, this key is not its key

    // Without any proof (a bearer client): refused the same way.
    const bearer = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: recordingFetch().fetch,
      refreshTokenStore: { get: () => refreshToken, set: () => {} },
    });
    expect(await errorOf(bearer.refresh())).toMatchObject({ status: 400, code: 'invalid_dpop_proof' });

    // Nothing changed for the owner: its refresh token still works, with its key.
    expect(stolen).toBe(refreshToken);
    await owner.refresh();
    expect(stolen).not.toBe(refreshToken);
    expect((await owner.me()).id).toBe(id);
    // The bound access token sent as Bearer is refused (RFC 9449 §7.1).
    const asBearer = await call(lk.app, '/v1/users/me', { token: owner.accessToken! });
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token"/);
  });

  it('cookie delivery: the cookie refresh carries the proof', async () => {
    const { email, id } = await registerUser(lk.app);
    const jar = new Map<string, string>();
    const fetch = async (input: string, init: RequestInit = {}) => {
      const headers = new Headers(init.headers);
      headers.set('origin', 'https://app.example.com');
      if (jar.size) headers.set('cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
      const response = await appFetch(lk.app)(input, { ...init, headers });
      for (const line of response.headers.getSetCookie()) {
        const [name, value] = line.split(';')[0]!.split('=');
        if (value) jar.set(name!, value);
        else jar.delete(name!);
      }
      return response;
    };
    const { client } = dpopClient({ delivery: 'cookie', fetch });
    const pair = await client.login(email, PASSWORD);
    expect('refresh_token' in pair && pair.refresh_token).toBeFalsy();
    expect(client.tokenType).toBe('DPoP');
    lk.clock.advance(16 * 60 * 1000);
    expect((await client.me()).id).toBe(id);
    expect((await client.sessions())[0]!.key_bound).toBe(true);
    await client.logout(); // with the access token and a proof: the session ends
    expect(jar.size).toBe(0);
  });

  it('MFA login and step-up are bound too', async () => {
    const { email } = await registerUser(lk.app);
    const { client } = dpopClient();
    await client.login(email, PASSWORD);
    const { secret } = await client.enrollTotp();
    await client.activateTotp(codeNow(secret));

    const { client: phone } = dpopClient();
    const first = await phone.login(email, PASSWORD);
    if (!('mfa_required' in first)) throw new Error('expected mfa_required');
    lk.clock.advance(30_000); // the next TOTP step: a code is accepted once
    const pair = await phone.loginMfa(first.mfa_token, { code: codeNow(secret) });
    expect(pair.token_type).toBe('DPoP');
    expect(claimsOf(pair.access_token).acr).toBe('aal2');
    const jkt = claimsOf(pair.access_token).cnf.jkt;

    lk.clock.advance(301_000);
    const stepped = await phone.stepUp({ password: PASSWORD });
    expect(stepped.token_type).toBe('DPoP');
    expect(claimsOf(stepped.access_token).cnf).toEqual({ jkt });
    const sessions = await phone.sessions();
    expect(sessions.find((session) => session.current)?.key_bound).toBe(true);
    expect(sessions.every((session) => session.key_bound)).toBe(true);
  });

  it("holds the app's WebCrypto key pair (Ed25519: EdDSA proofs)", async () => {
    const { email, id } = await registerUser(lk.app);
    const keys = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const { client, sent } = dpopClient({ dpop: keys });
    await client.login(email, PASSWORD);
    expect(headerOf(sent[0]!.dpop!)).toMatchObject({ alg: 'EdDSA', jwk: { kty: 'OKP', crv: 'Ed25519' } });
    lk.clock.advance(16 * 60 * 1000);
    expect((await client.me()).id).toBe(id);
    expect(client.tokenType).toBe('DPoP');
  });

  it('signs with a signer over a keystore that answers DER signatures (as iOS and Android do)', async () => {
    const { email, id } = await registerUser(lk.app);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
    let signed = 0;
    const { client, sent } = dpopClient({
      dpop: {
        publicJwk: { kty: kty!, crv, x, y },
        sign: (data) => {
          signed++;
          return nodeSign('sha256', data, { key: privateKey, dsaEncoding: 'der' });
        },
        sha256: async (data) => createHash('sha256').update(data).digest(),
      },
    });
    await client.login(email, PASSWORD);
    lk.clock.advance(16 * 60 * 1000);
    expect((await client.me()).id).toBe(id);
    expect(signed).toBe(sent.length);
    expect(headerOf(sent[0]!.dpop!).alg).toBe('ES256');
  });

  it('dpopProof: a proof for a call to your own API, which the kit verifies against the token', async () => {
    const { email } = await registerUser(lk.app);
    const { client } = dpopClient();
    await client.login(email, PASSWORD);
    const url = 'https://api.example.com/orders?page=2';
    const proof = await client.dpopProof('post', url, client.accessToken);
    const verified = await verifyDpopProof(
      proof!,
      { method: 'POST', url: 'https://api.example.com/orders', accessToken: client.accessToken! },
      { now: lk.clock.now() },
    );
    expect(verified.jkt).toBe(claimsOf(client.accessToken!).cnf.jkt);
    expect(claimsOf(proof!).htu).toBe('https://api.example.com/orders'); // no query (RFC 9449 §4.2)
    expect(await createLatchkeyClient({ baseUrl: lk.config.issuer }).dpopProof('GET', url)).toBeUndefined();
  });

  it('a server asking for a nonce (use_dpop_nonce, DPoP-Nonce) gets the request again once, with it', async () => {
    const { email, id } = await registerUser(lk.app);
    const asked = new Set<string>();
    // A stand-in for the nonce the server does not ask for yet (RFC 9449 §8 at the token
    // endpoint, §9 at a resource): the first login and the first me() are answered with the ask.
    const recorder = recordingFetch((request) => {
      if (asked.has(request.path) || (request.path !== '/v1/auth/login' && request.path !== '/v1/users/me'))
        return undefined;
      asked.add(request.path);
      const headers = { 'dpop-nonce': `nonce-${asked.size}`, 'content-type': 'application/json' };
      return request.path === '/v1/auth/login'
        ? new Response(JSON.stringify({ error: 'use_dpop_nonce' }), { status: 400, headers })
        : new Response('{}', {
            status: 401,
            headers: { ...headers, 'www-authenticate': 'DPoP error="use_dpop_nonce"' },
          });
    });
    const client = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      dpop: true,
      fetch: recorder.fetch,
      now: () => lk.clock.now().getTime(),
    });
    await client.login(email, PASSWORD);
    expect((await client.me()).id).toBe(id);
    const nonces = recorder.sent.map((request) => [request.path, claimsOf(request.dpop!).nonce]);
    expect(nonces).toEqual([
      ['/v1/auth/login', undefined],
      ['/v1/auth/login', 'nonce-1'],
      ['/v1/users/me', 'nonce-1'],
      ['/v1/users/me', 'nonce-2'],
    ]);
  });

  it('DPOP_NONCE on the server: the first login is asked for the nonce, then every proof carries one', async () => {
    const withNonces = await buildLatchkey(database.current, { env: { DPOP_NONCE: 'true' } });
    const { email, id } = await registerUser(withNonces.app);
    const sent: { path: string; status: number; nonce: unknown }[] = [];
    const client = createLatchkeyClient({
      baseUrl: withNonces.config.issuer,
      delivery: 'body',
      dpop: true,
      now: () => withNonces.clock.now().getTime(),
      fetch: async (input: string, init: RequestInit = {}) => {
        const response = await appFetch(withNonces.app)(input, init);
        const proof = new Headers(init.headers).get('dpop');
        sent.push({ path: new URL(input).pathname, status: response.status, nonce: claimsOf(proof!).nonce });
        return response;
      },
    });
    await client.login(email, PASSWORD);
    expect(client.tokenType).toBe('DPoP');
    withNonces.clock.advance(16 * 60 * 1000); // past the nonce's window too: asked again, once
    expect((await client.me()).id).toBe(id);
    expect(sent[0]).toEqual({ path: '/v1/auth/login', status: 400, nonce: undefined });
    expect(sent[1]).toMatchObject({ path: '/v1/auth/login', status: 200, nonce: expect.any(String) });
    expect(sent.at(-1)).toMatchObject({ path: '/v1/users/me', status: 200, nonce: expect.any(String) });
    expect(sent.filter((request) => request.status >= 400).length).toBeLessThanOrEqual(3);
  });

  it('without dpop nothing changes: Bearer, no DPoP header', async () => {
    const { email } = await registerUser(lk.app);
    const recorder = recordingFetch();
    const client = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: recorder.fetch,
    });
    const pair = await client.login(email, PASSWORD);
    expect('token_type' in pair && pair.token_type).toBe('Bearer');
    await client.me();
    expect(recorder.sent.every((request) => request.dpop === null)).toBe(true);
    expect(recorder.sent.at(-1)!.authorization).toBe(`Bearer ${client.accessToken}`);
    expect((await client.sessions())[0]!.key_bound).toBe(false);
  });
});

describe('@latchkey/client DPoP encodings', () => {
  it('base64url: RFC 4648 §5 without padding', () => {
    for (let length = 0; length < 40; length++) {
      const bytes = crypto.getRandomValues(new Uint8Array(length));
      expect(base64url(bytes)).toBe(Buffer.from(bytes).toString('base64url'));
    }
  });

  it('joseSignature: DER ECDSA signatures become r‖s (short r and s too); r‖s and others pass unchanged', () => {
    for (const [curve, size, hash] of [
      ['P-256', 32, 'sha256'],
      ['P-384', 48, 'sha384'],
    ] as const) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
      for (let i = 0; i < 300; i++) {
        const data = Buffer.from(`message ${i}`);
        const der = nodeSign(hash, data, { key: privateKey, dsaEncoding: 'der' });
        const raw = Buffer.from(joseSignature(der, size));
        expect(raw).toHaveLength(2 * size);
        // Same signature: the DER of the converted r‖s is the original.
        expect(Buffer.from(joseSignature(raw, size))).toEqual(raw);
        expect(derOf(raw, size)).toEqual(der);
      }
    }
    const odd = new Uint8Array([0x30, 0x03, 0x02, 0x01]);
    expect(joseSignature(odd, 32)).toBe(odd);
  });
});

/** r‖s back to DER (test-side, to compare): minimal INTEGERs, a 0x00 before a high bit. */
function derOf(raw: Buffer, size: number): Buffer {
  const integer = (bytes: Buffer) => {
    let at = 0;
    while (at < bytes.length - 1 && bytes[at] === 0) at++;
    const value = bytes[at]! & 0x80 ? Buffer.concat([Buffer.of(0), bytes.subarray(at)]) : bytes.subarray(at);
    return Buffer.concat([Buffer.of(0x02, value.length), value]);
  };
  const body = Buffer.concat([integer(raw.subarray(0, size)), integer(raw.subarray(size))]);
  return Buffer.concat([Buffer.of(0x30, body.length), body]);
}
