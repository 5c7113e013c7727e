import { type CryptoEngine, DEFAULT_CRYPTO_ENGINE, isLowS, keyObject, nodeCrypto } from '../lib/crypto.js';
import type { SigningAlgorithm } from './claims.js';

/**
 * The one cryptographic step of verifying an access token: the JWS signature over
 * `header.payload` (RFC 7515 §5.2) with a public key already chosen for the token's `kid`.
 *
 * Where the runtime has `node:crypto` (Node; reached without an import by src/lib/crypto.ts,
 * so the kit still loads on Workers and in browsers), the check is node:crypto's synchronous `verify`: WebCrypto's `subtle.verify`
 * on Node runs every check as a job on libuv's four-thread pool (shared with fs, dns and
 * zlib) and resumes on the event loop, a round trip that costs more than the Ed25519 check
 * itself (`npm run bench`: jose over WebCrypto 0.6 of bare node:crypto). Elsewhere it is
 * WebCrypto. Both take the same keys (CryptoKey) and the same inputs.
 */

/** The key's own algorithm must be the token's: RFC 8725 §3.1 (the key decides, not the header). */
function keyFits(alg: SigningAlgorithm, key: CryptoKey): boolean {
  if (key.type !== 'public' || !key.usages.includes('verify')) return false;
  if (alg === 'EdDSA') return key.algorithm.name === 'Ed25519';
  return key.algorithm.name === 'ECDSA' && (key.algorithm as EcKeyAlgorithm).namedCurve === 'P-256';
}

export type SignatureEngine = CryptoEngine;

/** What this runtime uses (the same choice as src/lib/crypto.ts); the tests run both. */
export const DEFAULT_SIGNATURE_ENGINE: SignatureEngine = DEFAULT_CRYPTO_ENGINE;

/**
 * Ed25519, or ECDSA P-256 with SHA-256 and a 64-byte r || s signature (RFC 7518 §3.4, RFC 8037
 * §3.1). ES256 only in its low-S spelling (src/lib/crypto.ts `isLowS`): its twin (r, n − s) is
 * just as valid to ECDSA, and a token must have one spelling. Ed25519 needs no such rule: both
 * engines refuse S >= L (RFC 8032 §5.1.7), test/verify/signature.test.ts checks it.
 */
export async function verifyJwsSignature(
  alg: SigningAlgorithm,
  key: CryptoKey,
  signingInput: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
  engine: SignatureEngine = DEFAULT_SIGNATURE_ENGINE,
): Promise<boolean> {
  if (signature.length !== 64 || !keyFits(alg, key)) return false;
  if (alg === 'ES256' && !isLowS(signature)) return false;
  if (engine === 'node:crypto' && nodeCrypto) {
    const publicKey = keyObject(nodeCrypto, key);
    return alg === 'EdDSA'
      ? nodeCrypto.verify(null, signingInput, publicKey, signature)
      : nodeCrypto.verify('sha256', signingInput, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  }
  return crypto.subtle.verify(
    alg === 'EdDSA' ? { name: 'Ed25519' } : { name: 'ECDSA', hash: 'SHA-256' },
    key,
    signature,
    signingInput,
  );
}
