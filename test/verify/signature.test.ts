import { generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { compactJws, signJws } from '../../src/lib/crypto.js';
import type { SigningAlgorithm } from '../../src/verify/claims.js';
import {
  DEFAULT_SIGNATURE_ENGINE,
  type SignatureEngine,
  verifyJwsSignature,
} from '../../src/verify/signature.js';
import { isLowS, sTwinSignature } from './helpers.js';

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
  const signature = new Uint8Array(Buffer.from(token.slice(dot + 1), 'base64url'));
  return {
    pair,
    input: encoder.encode(token.slice(0, dot)),
    // jose's ES256 s is low or high at random; only the low-S spelling is accepted (see below).
    signature: alg === 'ES256' && !isLowS(signature) ? sTwinSignature(signature) : signature,
  };
}

/** Ed25519's group order L (RFC 8032 §5.1). */
const ED25519_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;

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

  // ECDSA malleability: (r, n − s) verifies wherever (r, s) does. One spelling per token.
  for (const engine of engines) {
    it(`ES256 on ${engine}: refuses the high-S twin of a signature it accepts`, async () => {
      for (let i = 0; i < 8; i++) {
        const { pair, input, signature } = await signedToken('ES256');
        expect(isLowS(signature)).toBe(true);
        expect(await verifyJwsSignature('ES256', pair.publicKey, input, signature, engine)).toBe(true);
        const twin = sTwinSignature(signature);
        expect(isLowS(twin)).toBe(false);
        expect(await verifyJwsSignature('ES256', pair.publicKey, input, twin, engine)).toBe(false);
        // Control: ECDSA itself (WebCrypto, no low-S rule) takes the twin: the refusal is ours.
        expect(
          await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, pair.publicKey, twin, input),
        ).toBe(true);
      }
    });

    // Ed25519 is not malleable that way: S + L is refused by the engine itself (RFC 8032 §5.1.7).
    it(`EdDSA on ${engine}: refuses the signature with S + L`, async () => {
      const { pair, input, signature } = await signedToken('EdDSA');
      const s = BigInt(`0x${Buffer.from(signature.subarray(32)).reverse().toString('hex')}`); // little-endian
      const bumped = signature.slice();
      bumped.set(Buffer.from((s + ED25519_ORDER).toString(16).padStart(64, '0'), 'hex').reverse(), 32);
      expect(await verifyJwsSignature('EdDSA', pair.publicKey, input, signature, engine)).toBe(true);
      expect(await verifyJwsSignature('EdDSA', pair.publicKey, input, bumped, engine)).toBe(false);
    });

    it(`our signer (${engine}) only ever makes low-S ES256 signatures: 200 of 200`, async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      let low = 0;
      for (let i = 0; i < 200; i++) {
        const input = encoder.encode(`header.payload-${i}`);
        const signature = new Uint8Array(await signJws('ES256', privateKey as CryptoKey, input, engine));
        if (isLowS(signature)) low++;
        // Still a signature ECDSA verifies (n − s is as good as s).
        expect(
          await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, signature, input),
        ).toBe(true);
      }
      expect(low).toBe(200);
      const token = await compactJws('ES256', privateKey as CryptoKey, { alg: 'ES256' }, { n: 1 }, engine);
      expect(isLowS(token)).toBe(true);
    });
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
