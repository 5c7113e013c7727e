import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SigningKey } from '../../src/services/key-ring.js';
import { BearerError, createVerifier } from '../../src/verify/index.js';
import { appFetch, call, decodeJwtPart, login, registerUser, type TokenPair } from '../support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';
import {
  b64,
  enableTotp,
  expectInvalidToken,
  JWKS_PATH,
  mfaToken,
  newVerifier,
  recordingFetch,
  signRaw,
  spySignatureChecks,
  sSpellings,
} from './helpers.js';

/**
 * What `latchkey/verify` refuses (always a 401 `invalid_token` BearerError) and what it
 * accepts, against the in-process server's real JWKS. The forgeries reuse the techniques of
 * test/http/hostile-tokens.test.ts, aimed at the kit instead of the server.
 */

const database = useDatabase();
let lk: Latchkey;
let user: { email: string; id: string };
let pair: TokenPair;
let claims: Record<string, unknown>;
let real: SigningKey;

beforeAll(async () => {
  lk = await buildLatchkey(database.current);
  user = await registerUser(lk.app);
  pair = await login(lk.app, user.email);
  claims = decodeJwtPart(pair.access_token, 1);
  real = await lk.keyRing.signingKey();
});

afterEach(() => {
  vi.restoreAllMocks();
});

const nowSeconds = () => Math.floor(lk.clock.now().getTime() / 1000);

/** The login's claims with iat/exp moved to now: tests that move the clock do not age them. */
const liveClaims = (): Record<string, unknown> => ({ ...claims, iat: nowSeconds(), exp: nowSeconds() + 900 });

/** Our real private key over any header (merged over the right one) and any payload. */
const signWithRealKey = (header: Record<string, unknown>, payload: unknown = liveClaims()) =>
  signRaw(b64({ alg: real.alg, typ: 'at+jwt', kid: real.kid, ...header }), b64(payload), real.key, real.alg);

describe('controls', () => {
  it('accepts a token from /v1/auth/login and returns its claims', async () => {
    const verified = await newVerifier(lk).verify(pair.access_token);
    expect(verified).toMatchObject({
      iss: lk.config.issuer,
      aud: lk.config.audience,
      sub: user.id,
      sid: pair.session_id,
      acr: 'aal1',
      client_id: expect.any(String),
      amr: expect.any(Array),
    });
    expect(verified.exp - verified.iat).toBe(lk.config.accessTokenTtlSeconds);
  });

  it('accepts a token made by the raw signer with the real key (so refusals below are about the change)', async () => {
    const verified = await newVerifier(lk).verify(await signWithRealKey({}));
    expect(verified.sub).toBe(user.id);
  });
});

describe('issuer and audience', () => {
  const jwksUri = () => `${lk.config.issuer}${JWKS_PATH}`;

  it('refuses a token of another issuer (verifier for https://other.example, our JWKS)', async () => {
    const other = createVerifier({
      issuer: 'https://other.example',
      audience: lk.config.audience,
      jwksUri: jwksUri(),
      revocation: false,
      fetch: appFetch(lk.app),
      now: () => lk.clock.now().getTime(),
    });
    await expectInvalidToken(other, pair.access_token);
    // Control: the same explicit JWKS with our issuer accepts it.
    const ours = createVerifier({
      issuer: lk.config.issuer,
      audience: lk.config.audience,
      jwksUri: jwksUri(),
      revocation: false,
      fetch: appFetch(lk.app),
      now: () => lk.clock.now().getTime(),
    });
    expect((await ours.verify(pair.access_token)).sub).toBe(user.id);
  });

  it('refuses a token for another audience; accepts it when our audience is one of several', async () => {
    await expectInvalidToken(newVerifier(lk, { audience: 'https://api.other.example' }), pair.access_token);
    const several = newVerifier(lk, { audience: ['https://api.other.example', lk.config.audience] });
    expect((await several.verify(pair.access_token)).sub).toBe(user.id);
  });
});

describe('forged algorithms and keys', () => {
  it('refuses alg "none" (no signature, and a junk one), with or without our kid', async () => {
    const verifier = newVerifier(lk);
    const payload = b64(liveClaims());
    for (const header of [
      { alg: 'none', typ: 'at+jwt' },
      { alg: 'none', typ: 'at+jwt', kid: real.kid },
      { alg: 'None', typ: 'at+jwt', kid: real.kid },
    ]) {
      await expectInvalidToken(verifier, `${b64(header)}.${payload}.`);
      await expectInvalidToken(verifier, `${b64(header)}.${payload}.AAAA`);
    }
  });

  it('refuses HS256 signed with our public key as the HMAC secret (JWK JSON, raw bytes, base64url x)', async () => {
    const jwks = (await call(lk.app, JWKS_PATH)).json as { keys: JWK[] };
    const ours = jwks.keys.find((key) => key.kid === real.kid)!;
    expect(ours).toBeDefined();
    const secrets = [
      Buffer.from(JSON.stringify(ours)),
      Buffer.from(JSON.stringify(jwks)),
      Buffer.from(ours.x!, 'base64url'),
      Buffer.from(ours.x!),
    ];
    const verifier = newVerifier(lk);
    const subtleVerify = spySignatureChecks();
    for (const secret of secrets) {
      for (const kid of [real.kid, undefined]) {
        const header = b64({ alg: 'HS256', typ: 'at+jwt', ...(kid ? { kid } : {}) });
        const payload = b64(liveClaims());
        const mac = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
        await expectInvalidToken(verifier, `${header}.${payload}.${mac}`);
      }
    }
    // Refused on the algorithm, before any key is used.
    expect(subtleVerify).not.toHaveBeenCalled();
  });

  describe('headers that carry or point at a key', () => {
    let attackerKey: CryptoKey;
    let attackerJwk: JWK;
    let server: Server;
    let hits = 0;
    let attackerJwksUrl: string;

    beforeAll(async () => {
      const attacker = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
      attackerKey = attacker.privateKey;
      attackerJwk = { ...(await exportJWK(attacker.publicKey)), alg: 'EdDSA', use: 'sig' };
      server = createServer((_req, res) => {
        hits++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [{ ...attackerJwk, kid: 'attacker' }] }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      attackerJwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    });

    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('refuses an embedded jwk header (the attacker key, signed by it), with our kid or without a kid', async () => {
      const recorder = recordingFetch(lk.app);
      const verifier = newVerifier(lk, { fetch: recorder.fetch });
      for (const kid of [real.kid, undefined, 'attacker']) {
        const header = { alg: 'EdDSA', typ: 'at+jwt', jwk: attackerJwk, ...(kid ? { kid } : {}) };
        await expectInvalidToken(
          verifier,
          await signRaw(b64(header), b64(liveClaims()), attackerKey, 'EdDSA'),
        );
      }
      // Control: the same header signed with our key is accepted (jwk is ignored, not trusted).
      await verifier.verify(await signWithRealKey({ jwk: attackerJwk }));
      expect(recorder.exchanges.every((exchange) => exchange.url.startsWith(lk.config.issuer))).toBe(true);
    });

    it('refuses a jku (and x5u) header pointing at an attacker JWKS, and never fetches it', async () => {
      const globalFetch = vi.spyOn(globalThis, 'fetch');
      const recorder = recordingFetch(lk.app);
      const verifier = newVerifier(lk, { fetch: recorder.fetch });
      for (const kid of ['attacker', real.kid, undefined]) {
        for (const where of [{ jku: attackerJwksUrl }, { x5u: attackerJwksUrl }]) {
          const header = { alg: 'EdDSA', typ: 'at+jwt', ...(kid ? { kid } : {}), ...where };
          await expectInvalidToken(
            verifier,
            await signRaw(b64(header), b64(liveClaims()), attackerKey, 'EdDSA'),
          );
        }
      }
      expect(hits).toBe(0);
      expect(globalFetch).not.toHaveBeenCalled();
      expect(recorder.exchanges.length).toBeGreaterThan(0);
      expect(recorder.exchanges.every((exchange) => exchange.url.startsWith(lk.config.issuer))).toBe(true);
    });
  });
});

describe('tokens of another kind', () => {
  it('refuses a refresh token (lkr_…) presented as an access token', async () => {
    expect(pair.refresh_token).toMatch(/^lkr_/);
    await expectInvalidToken(newVerifier(lk), pair.refresh_token);
  });

  it('refuses an mfa_token (lkm_…) presented as an access token', async () => {
    const someone = await registerUser(lk.app);
    await enableTotp(lk, await login(lk.app, someone.email));
    const token = await mfaToken(lk, someone.email);
    expect(token).toMatch(/^lkm_/);
    await expectInvalidToken(newVerifier(lk), token);
  });

  it('refuses a session id and the JWKS document', async () => {
    const verifier = newVerifier(lk);
    await expectInvalidToken(verifier, pair.session_id);
    await expectInvalidToken(verifier, b64((await call(lk.app, JWKS_PATH)).json));
  });
});

describe('headers and claims, signed with the real key', () => {
  it.each([
    ['typ JWT', { typ: 'JWT' }],
    ['no typ', { typ: undefined }],
    ['typ jwt+at', { typ: 'jwt+at' }],
  ])('refuses %s instead of at+jwt', async (_label, header) => {
    await expectInvalidToken(newVerifier(lk), await signWithRealKey(header));
  });

  it('refuses a token without sid', async () => {
    const { sid: _sid, ...payload } = liveClaims();
    await expectInvalidToken(newVerifier(lk), await signWithRealKey({}, payload));
  });

  it('refuses acr aal3 (and a non-string acr)', async () => {
    const verifier = newVerifier(lk);
    await expectInvalidToken(verifier, await signWithRealKey({}, { ...liveClaims(), acr: 'aal3' }));
    await expectInvalidToken(verifier, await signWithRealKey({}, { ...liveClaims(), acr: 2 }));
  });

  it.each(['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'sid', 'auth_time', 'acr', 'amr'])(
    'refuses a token without %s',
    async (name) => {
      const payload = liveClaims();
      delete payload[name];
      await expectInvalidToken(newVerifier(lk), await signWithRealKey({}, payload));
    },
  );

  it('refuses a sid that is not a string and amr that is not a list of strings', async () => {
    const verifier = newVerifier(lk);
    await expectInvalidToken(verifier, await signWithRealKey({}, { ...liveClaims(), sid: 42 }));
    await expectInvalidToken(verifier, await signWithRealKey({}, { ...liveClaims(), amr: 'pwd' }));
    await expectInvalidToken(verifier, await signWithRealKey({}, { ...liveClaims(), amr: ['pwd', 1] }));
  });
});

describe('spelling and tampering', () => {
  it('refuses the signature spelled with its spare low bits set; accepts the original spelling', async () => {
    const [h, p, s] = pair.access_token.split('.');
    const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    expect(s).toHaveLength(86); // 64 bytes: the last character carries 4 spare bits
    const verifier = newVerifier(lk, { cacheSize: 0 });
    for (const flip of [1, 2, 4, 8]) {
      const spare = B64URL[B64URL.indexOf(s!.at(-1)!) ^ flip];
      const respelled = `${h}.${p}.${s!.slice(0, -1)}${spare}`;
      // The same signature bytes: a lenient decoder would take it for the same token.
      expect(Buffer.from(respelled.split('.')[2]!, 'base64url')).toEqual(Buffer.from(s!, 'base64url'));
      await expectInvalidToken(verifier, respelled);
    }
    await expectInvalidToken(verifier, `${h}.${p}.${s}==`);
    expect((await verifier.verify(pair.access_token)).sub).toBe(user.id);
  });

  it('refuses a tampered payload (another sub, another acr, a later exp) under the original signature', async () => {
    const [h, , s] = pair.access_token.split('.');
    const verifier = newVerifier(lk);
    for (const change of [
      { sub: crypto.randomUUID() },
      { acr: 'aal2' },
      { exp: (claims.exp as number) + 3600 },
    ]) {
      await expectInvalidToken(verifier, `${h}.${b64({ ...claims, ...change })}.${s}`);
    }
    // The header too: kid of a key that does not exist, under the original signature.
    await expectInvalidToken(
      verifier,
      `${b64({ alg: real.alg, typ: 'at+jwt', kid: 'nope' })}.${b64(claims)}.${s}`,
    );
  });
});

describe('expiry, with 5 s of tolerance', () => {
  it('accepts a token up to exp + 4.999 s and refuses it from exp + 5 s', async () => {
    const own = await login(lk.app, user.email);
    const exp: number = decodeJwtPart(own.access_token, 1).exp;
    lk.clock.advance(exp * 1000 + 4_999 - lk.clock.now().getTime());
    // cacheSize 0: each verification runs jose's own expiry check.
    const verifier = newVerifier(lk, { cacheSize: 0 });
    expect((await verifier.verify(own.access_token)).sub).toBe(user.id);
    lk.clock.advance(1);
    const refusal = await expectInvalidToken(verifier, own.access_token);
    expect(refusal.description).toMatch(/expired/);
    // A fresh verifier agrees.
    await expectInvalidToken(newVerifier(lk), own.access_token);
  });

  it('refuses a token well past its exp', async () => {
    const own = await login(lk.app, user.email);
    lk.clock.advance((lk.config.accessTokenTtlSeconds + 60) * 1000);
    await expectInvalidToken(newVerifier(lk), own.access_token);
  });
});

describe('ES256', () => {
  let es: Latchkey;
  let esPair: TokenPair;

  beforeAll(async () => {
    // An instance signing with ES256 over the same database: both keys are in the JWKS.
    es = await buildLatchkey(database.current, { clock: lk.clock, env: { SIGNING_ALG: 'ES256' } });
    const someone = await registerUser(es.app);
    esPair = await login(es.app, someone.email);
    expect(decodeJwtPart(esPair.access_token, 0).alg).toBe('ES256');
  });

  it("accepts an ES256 server's tokens", async () => {
    const verified = await newVerifier(es).verify(esPair.access_token);
    expect(verified.sid).toBe(esPair.session_id);
  });

  it('refuses the high-S twin (r, n − s) of a valid token, also after the low-S one was cached', async () => {
    const { low, high } = sSpellings(esPair.access_token);
    expect(low).toBe(esPair.access_token);
    await expectInvalidToken(newVerifier(es, { cacheSize: 0 }), high);
    const verifier = newVerifier(es);
    expect((await verifier.verify(low)).sid).toBe(esPair.session_id);
    await expectInvalidToken(verifier, high);
    expect(verifier.cachedTokens).toBe(1);
  });

  it("refuses them with algorithms: ['EdDSA'], and still accepts EdDSA tokens there", async () => {
    const eddsaOnly = newVerifier(es, { algorithms: ['EdDSA'] });
    await expectInvalidToken(eddsaOnly, esPair.access_token);
    const own = await login(lk.app, user.email);
    expect((await eddsaOnly.verify(own.access_token)).sub).toBe(user.id);
  });

  it('an ES256-only verifier refuses EdDSA tokens', async () => {
    const own = await login(lk.app, user.email);
    await expectInvalidToken(newVerifier(lk, { algorithms: ['ES256'] }), own.access_token);
  });
});

describe('key rotation', () => {
  it('a verifier created after an immediate rotation accepts tokens of the new key and of the old one', async () => {
    const before = await login(lk.app, user.email);
    const { kid } = await lk.keyRing.rotate({ immediate: true });
    const after = await login(lk.app, user.email);
    expect(decodeJwtPart(after.access_token, 0).kid).toBe(kid);
    expect(decodeJwtPart(before.access_token, 0).kid).not.toBe(kid);
    const verifier = newVerifier(lk);
    expect((await verifier.verify(after.access_token)).sid).toBe(after.session_id);
    expect((await verifier.verify(before.access_token)).sid).toBe(before.session_id);
  });

  it('a verifier that fetched the JWKS before the rotation refetches on the new kid once jose cools down (30 s of real time)', async () => {
    const recorder = recordingFetch(lk.app);
    const verifier = newVerifier(lk, { fetch: recorder.fetch });
    const before = await login(lk.app, user.email);
    await verifier.verify(before.access_token);
    expect(recorder.to(JWKS_PATH)).toHaveLength(1);

    await lk.keyRing.rotate({ immediate: true });
    const after = await login(lk.app, user.email);

    // Within jose's cooldown (real Date.now, 30 s after its fetch) an unknown kid is not
    // refetched: the new key's token is refused for now (packages/verify/README.md: "at most every 30 s").
    const refusal = await verifier.verify(after.access_token).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(BearerError);
    expect(recorder.to(JWKS_PATH)).toHaveLength(1);

    // 31 s later (jose's clock only; no sleeping): the unknown kid refetches and is accepted.
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 31_000);
    expect((await verifier.verify(after.access_token)).sid).toBe(after.session_id);
    expect(recorder.to(JWKS_PATH)).toHaveLength(2);
    // And the old key's token still passes (from the cache and from a signature check).
    expect((await verifier.verify(before.access_token)).sid).toBe(before.session_id);
    expect((await newVerifier(lk, { cacheSize: 0 }).verify(before.access_token)).sid).toBe(before.session_id);
  });
});

describe('createVerifier: keys and revocations over TLS only', () => {
  const base = { issuer: 'https://auth.example.com', audience: 'https://api.example.com' };

  it.each([
    ['jwksUri', { jwksUri: 'http://auth.example.com/jwks' }],
    ['an http issuer (the derived JWKS URL)', { issuer: 'http://auth.example.com' }],
    ['feedUri', { revocation: { feedUri: 'http://auth.example.com/oauth/revoked-sessions' } }],
    ['a lookalike of localhost', { jwksUri: 'http://localhost.example.com/jwks' }],
  ])('throws a TypeError for a non-loopback http %s', (_label, change) => {
    expect(() => createVerifier({ ...base, ...change })).toThrow(TypeError);
  });

  it.each([
    'https://auth.example.com/jwks',
    'http://localhost/jwks',
    'http://localhost:3000/.well-known/jwks.json',
    'http://127.0.0.1:8080/jwks',
    'http://[::1]:3000/jwks',
  ])('accepts jwksUri %s', (jwksUri) => {
    expect(() => createVerifier({ ...base, jwksUri })).not.toThrow();
  });

  it('accepts an http://localhost issuer (development)', () => {
    expect(() => createVerifier({ issuer: 'http://localhost:3000', audience: 'x' })).not.toThrow();
  });
});
