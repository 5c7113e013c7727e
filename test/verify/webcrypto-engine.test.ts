import { beforeAll, describe, expect, it, vi } from 'vitest';

// As on Workers and in browsers: no node:crypto, so the server and the kit verify with
// WebCrypto. Hoisted above the imports, so every module of this file sees it.
vi.hoisted(() => {
  (process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
});

import { DEFAULT_SIGNATURE_ENGINE } from '../../src/verify/signature.js';
import { decodeJwtPart, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';
import { b64, expectInvalidToken, newVerifier } from './helpers.js';

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
