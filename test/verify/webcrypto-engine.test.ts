import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Latchkey } from '../support/harness.js';

// As on Workers and in browsers: no node:crypto, so the server and the kit verify with
// WebCrypto. The suite runs without isolation (vitest.config.ts): an earlier file in this
// worker may have loaded these modules with node:crypto, so they are loaded afresh once it is
// hidden; and it comes back, with the modules forgotten again, when this file ends, so that no
// later file runs on WebCrypto by accident.
const getBuiltinModule = process.getBuiltinModule;
(process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
vi.resetModules();
afterAll(() => {
  process.getBuiltinModule = getBuiltinModule;
  vi.resetModules();
});

const { DEFAULT_SIGNATURE_ENGINE } = await import('../../src/verify/signature.js');
const { call, decodeJwtPart, login, registerUser } = await import('../support/client.js');
const { buildLatchkey, useDatabase } = await import('../support/harness.js');
const { accessTokensOfOneSession, b64, expectInvalidToken, isLowS, newVerifier, sSpellings } = await import(
  './helpers.js'
);

const database = useDatabase();
let lk: Latchkey;
let es: Latchkey;

beforeAll(async () => {
  lk = await buildLatchkey(database.current);
  es = await buildLatchkey(database.current, { clock: lk.clock, env: { SIGNING_ALG: 'ES256' } });
});

describe('the kit and the server on WebCrypto', () => {
  it('runs without node:crypto', () => {
    expect(DEFAULT_SIGNATURE_ENGINE).toBe('webcrypto');
  });

  it('accepts EdDSA and ES256 tokens, on the kit and on the server', async () => {
    const { email } = await registerUser(lk.app);
    for (const server of [lk, es]) {
      const pair = await login(server.app, email);
      expect((await newVerifier(server, { revocation: false }).verify(pair.access_token)).sub).toBeTruthy();
      const me = await server.app.request('/v1/users/me', {
        headers: { authorization: `Bearer ${pair.access_token}` },
      });
      expect(me.status).toBe(200);
    }
  });

  it('refuses a tampered payload, a relabelled algorithm and an expired token', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const verifier = newVerifier(lk, { revocation: false, cacheSize: 0 });
    const [h, p, s] = pair.access_token.split('.');
    await expectInvalidToken(
      verifier,
      `${h}.${b64({ ...decodeJwtPart(pair.access_token, 1), sub: 'someone-else' })}.${s}`,
    );
    await expectInvalidToken(
      verifier,
      `${b64({ ...decodeJwtPart(pair.access_token, 0), alg: 'ES256' })}.${p}.${s}`,
    );
    lk.clock.advance(906_000);
    await expectInvalidToken(verifier, pair.access_token);
  });
});

describe('ES256 on WebCrypto: one spelling per token (low S)', () => {
  it('the high-S twin of a valid token is refused by the server and by the kit', async () => {
    const { email } = await registerUser(es.app);
    const pair = await login(es.app, email);
    const { low, high } = sSpellings(pair.access_token);
    expect(low).toBe(pair.access_token);
    for (const token of [low, high]) {
      const res = await call(es.app, '/v1/users/me', { token });
      expect(res.status).toBe(token === low ? 200 : 401);
    }
    const verifier = newVerifier(es, { revocation: false });
    expect((await verifier.verify(low)).sid).toBe(pair.session_id);
    await expectInvalidToken(verifier, high);
    await expectInvalidToken(newVerifier(es, { revocation: false, cacheSize: 0 }), high);
  });

  it('every ES256 access token the server signs with WebCrypto has a low S: 200 of 200', async () => {
    const { email } = await registerUser(es.app);
    const { tokens } = await accessTokensOfOneSession(es.app, email, 200);
    expect(new Set(tokens).size).toBe(200);
    expect(tokens.filter((token) => isLowS(token))).toHaveLength(200);
  });
});
