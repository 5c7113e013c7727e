import type { SigningAlgorithm } from './claims.js';

/**
 * The one cryptographic step of verifying an access token: the JWS signature over
 * `header.payload` (RFC 7515 §5.2) with a public key already chosen for the token's `kid`.
 *
 * Where the runtime has `node:crypto` (Node; no import, so the kit still loads on Workers and
 * in browsers), the check is node:crypto's synchronous `verify`: WebCrypto's `subtle.verify`
 * on Node runs every check as a job on libuv's four-thread pool (shared with fs, dns and
 * zlib) and resumes on the event loop, a round trip that costs more than the Ed25519 check
 * itself (`npm run bench`: jose over WebCrypto 0.6 of bare node:crypto). Elsewhere it is
 * WebCrypto. Both take the same keys (CryptoKey) and the same inputs.
 */

interface NodeCrypto {
  verify(algorithm: string | null, data: Uint8Array, key: unknown, signature: Uint8Array): boolean;
  KeyObject: { from(key: CryptoKey): unknown };
}

const nodeCrypto = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;

const keyObjects = new WeakMap<CryptoKey, unknown>();

/** The key's own algorithm must be the token's: RFC 8725 §3.1 (the key decides, not the header). */
function keyFits(alg: SigningAlgorithm, key: CryptoKey): boolean {
  if (key.type !== 'public' || !key.usages.includes('verify')) return false;
  if (alg === 'EdDSA') return key.algorithm.name === 'Ed25519';
  return key.algorithm.name === 'ECDSA' && (key.algorithm as EcKeyAlgorithm).namedCurve === 'P-256';
}

export type SignatureEngine = 'node:crypto' | 'webcrypto';

/** What this runtime uses; the tests run both. */
export const DEFAULT_SIGNATURE_ENGINE: SignatureEngine = nodeCrypto ? 'node:crypto' : 'webcrypto';

/** Ed25519, or ECDSA P-256 with SHA-256 and a 64-byte r || s signature (RFC 7518 §3.4, RFC 8037 §3.1). */
export async function verifyJwsSignature(
  alg: SigningAlgorithm,
  key: CryptoKey,
  signingInput: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
  engine: SignatureEngine = DEFAULT_SIGNATURE_ENGINE,
): Promise<boolean> {
  if (signature.length !== 64 || !keyFits(alg, key)) return false;
  if (engine === 'node:crypto' && nodeCrypto) {
    let keyObject = keyObjects.get(key);
    if (keyObject === undefined) {
      keyObject = nodeCrypto.KeyObject.from(key);
      keyObjects.set(key, keyObject);
    }
    return alg === 'EdDSA'
      ? nodeCrypto.verify(null, signingInput, keyObject, signature)
      : nodeCrypto.verify('sha256', signingInput, { key: keyObject, dsaEncoding: 'ieee-p1363' }, signature);
  }
  return crypto.subtle.verify(
    alg === 'EdDSA' ? { name: 'Ed25519' } : { name: 'ECDSA', hash: 'SHA-256' },
    key,
    signature,
    signingInput,
  );
}
