/**
 * The kit's signature check is the server's: `verifyJwsSignature` in src/lib/crypto.ts (one
 * engine choice for signing and checking, node:crypto on Node and WebCrypto elsewhere).
 */
export {
  type CryptoEngine as SignatureEngine,
  DEFAULT_CRYPTO_ENGINE as DEFAULT_SIGNATURE_ENGINE,
  verifyJwsSignature,
} from '../lib/crypto.js';
