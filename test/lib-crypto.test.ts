import { compactVerify, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  type CryptoEngine,
  compactJws,
  DEFAULT_CRYPTO_ENGINE,
  hmacSha256Base64url,
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
    const key = await crypto.subtle.importKey(
      'raw',
      new Uint8Array(32).fill(7),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
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
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: false });
      for (const engine of engines) {
        const token = await compactJws(
          alg,
          privateKey as CryptoKey,
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
});
