import { generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { SigningAlgorithm } from '../../src/verify/claims.js';
import {
  DEFAULT_SIGNATURE_ENGINE,
  type SignatureEngine,
  verifyJwsSignature,
} from '../../src/verify/signature.js';

/**
 * The signature step alone, on both engines: node:crypto (what Node uses) and WebCrypto (what
 * Workers and browsers use) must agree on every input, good and bad.
 */
const engines: SignatureEngine[] = ['node:crypto', 'webcrypto'];
const algorithms: SigningAlgorithm[] = ['EdDSA', 'ES256'];
const encoder = new TextEncoder();

async function signedToken(alg: SigningAlgorithm) {
  const pair = await generateKeyPair(alg, { crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const token = await new SignJWT({ sub: 'user' })
    .setProtectedHeader({ alg, typ: 'at+jwt' })
    .sign(pair.privateKey);
  const dot = token.lastIndexOf('.');
  return {
    pair,
    input: encoder.encode(token.slice(0, dot)),
    signature: new Uint8Array(Buffer.from(token.slice(dot + 1), 'base64url')),
  };
}

describe('verifyJwsSignature', () => {
  it('uses node:crypto on Node', () => {
    expect(DEFAULT_SIGNATURE_ENGINE).toBe('node:crypto');
  });

  for (const alg of algorithms) {
    for (const engine of engines) {
      describe(`${alg} on ${engine}`, () => {
        it('accepts the signature jose made, and refuses it on any other input', async () => {
          const { pair, input, signature } = await signedToken(alg);
          expect(await verifyJwsSignature(alg, pair.publicKey, input, signature, engine)).toBe(true);
          const tampered = input.slice();
          tampered[tampered.length - 1]! ^= 1;
          expect(await verifyJwsSignature(alg, pair.publicKey, tampered, signature, engine)).toBe(false);
          const flipped = signature.slice();
          flipped[10]! ^= 0x40;
          expect(await verifyJwsSignature(alg, pair.publicKey, input, flipped, engine)).toBe(false);
        });

        it('refuses another key of the same algorithm', async () => {
          const { input, signature } = await signedToken(alg);
          const other = await signedToken(alg);
          expect(await verifyJwsSignature(alg, other.pair.publicKey, input, signature, engine)).toBe(false);
        });

        it('refuses a signature of the wrong length (a DER ECDSA signature, a truncated one)', async () => {
          const { pair, input, signature } = await signedToken(alg);
          expect(await verifyJwsSignature(alg, pair.publicKey, input, signature.slice(0, 63), engine)).toBe(
            false,
          );
          const longer = new Uint8Array(72);
          longer.set(signature);
          expect(await verifyJwsSignature(alg, pair.publicKey, input, longer, engine)).toBe(false);
        });

        it('refuses a key of the other algorithm: the key decides (RFC 8725 §3.1)', async () => {
          const { input, signature } = await signedToken(alg);
          const other = await signedToken(alg === 'EdDSA' ? 'ES256' : 'EdDSA');
          expect(await verifyJwsSignature(alg, other.pair.publicKey, input, signature, engine)).toBe(false);
        });

        it('refuses a private key, or a key not meant for verifying', async () => {
          const { pair, input, signature } = await signedToken(alg);
          expect(await verifyJwsSignature(alg, pair.privateKey, input, signature, engine)).toBe(false);
        });
      });
    }
  }

  it('refuses an ECDSA key on another curve for ES256', async () => {
    const p384 = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, [
      'sign',
      'verify',
    ]);
    const input = encoder.encode('a.b');
    const signature = new Uint8Array(
      await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, p384.privateKey, input),
    );
    for (const engine of engines) {
      expect(await verifyJwsSignature('ES256', p384.publicKey, input, signature.slice(0, 64), engine)).toBe(
        false,
      );
    }
  });
});
