import { compactVerify, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  type CryptoEngine,
  compactJws,
  DEFAULT_CRYPTO_ENGINE,
  deriveMasterKeys,
  hasNodeKeyObject,
  hmacSha256Base64url,
  importHmacKey,
  importPrivateJwk,
  sha256Base64url,
} from '../src/lib/crypto.js';

/**
 * src/lib/crypto.ts has two engines: node:crypto's synchronous functions where the runtime
 * has them (Node), WebCrypto elsewhere (Workers). Both must give the same bytes and
 * signatures any JOSE library accepts.
 */
const engines: CryptoEngine[] = ['node:crypto', 'webcrypto'];

describe('the two crypto engines', () => {
  it('node:crypto is the default on Node', () => {
    expect(DEFAULT_CRYPTO_ENGINE).toBe('node:crypto');
  });

  it('SHA-256 and HMAC-SHA-256 give the same base64url on both', async () => {
    const key = await importHmacKey(new Uint8Array(32).fill(7));
    expect(key.extractable).toBe(false);
    expect(hasNodeKeyObject(key)).toBe(true);
    for (const value of ['', 'lkr_abc', 'ünïcödé ✓']) {
      const [nodeHash, webHash] = await Promise.all(engines.map((engine) => sha256Base64url(value, engine)));
      expect(nodeHash).toBe(webHash);
      const [nodeMac, webMac] = await Promise.all(
        engines.map((engine) => hmacSha256Base64url(key, value, engine)),
      );
      expect(nodeMac).toBe(webMac);
    }
    // RFC 6234 test vector for "abc".
    expect(await sha256Base64url('abc', 'node:crypto')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  });

  for (const alg of ['EdDSA', 'ES256'] as const) {
    it(`${alg}: a compact JWS from either engine verifies with jose, with a 64-byte signature`, async () => {
      const pair = await generateKeyPair(alg, { extractable: true });
      const privateKey = await importPrivateJwk(await exportJWK(pair.privateKey), alg);
      const publicKey = pair.publicKey;
      expect(privateKey.extractable).toBe(false);
      expect(hasNodeKeyObject(privateKey)).toBe(true);
      for (const engine of engines) {
        const token = await compactJws(
          alg,
          privateKey,
          { alg, typ: 'at+jwt', kid: 'k1' },
          { sub: 'u1', n: 1 },
          engine,
        );
        const { payload, protectedHeader } = await compactVerify(token, publicKey, { algorithms: [alg] });
        expect(protectedHeader).toEqual({ alg, typ: 'at+jwt', kid: 'k1' });
        expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({ sub: 'u1', n: 1 });
        expect(Buffer.from(token.split('.')[2]!, 'base64url')).toHaveLength(64);
      }
    });
  }

  it("the server's HMAC keys, derived from the master secret, are served by node:crypto", async () => {
    const keys = await deriveMasterKeys('a master secret of at least thirty-two characters');
    for (const key of [keys.refreshSuccessorKey, keys.recoveryCodeKey, keys.dpopNonceKey]) {
      expect(key.extractable).toBe(false);
      expect(hasNodeKeyObject(key)).toBe(true);
    }
  });

  /**
   * `KeyObject.from` of a non-extractable CryptoKey is deprecated from Node 26 (DEP0204) and
   * may throw in a later Node: a key not imported here (its material unknown) is never passed
   * to it, and takes WebCrypto with the same bytes out.
   */
  it('a non-extractable key made elsewhere takes WebCrypto on either engine, with the same result', async () => {
    const raw = new Uint8Array(32).fill(9);
    const foreign = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
    ]);
    expect(hasNodeKeyObject(foreign)).toBe(false);
    const ours = await importHmacKey(raw);
    const expected = await hmacSha256Base64url(ours, 'value', 'node:crypto');
    for (const engine of engines) expect(await hmacSha256Base64url(foreign, 'value', engine)).toBe(expected);

    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: false });
    expect(hasNodeKeyObject(privateKey as CryptoKey)).toBe(false);
    const token = await compactJws(
      'EdDSA',
      privateKey as CryptoKey,
      { alg: 'EdDSA' },
      { n: 1 },
      'node:crypto',
    );
    await expect(compactVerify(token, publicKey, { algorithms: ['EdDSA'] })).resolves.toBeDefined();
    // An extractable public key (as jose imports a JWKS) is served by node:crypto.
    expect(hasNodeKeyObject(publicKey as CryptoKey)).toBe(true);
  });
});
