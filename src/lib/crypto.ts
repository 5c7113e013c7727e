// jose's CryptoKey is the runtime's own, and needs no DOM library in a consumer's types (Node servers).
import { base64url, type CryptoKey, importJWK, type JWK } from 'jose';

/**
 * Small helpers over Web Crypto, the one crypto API that Node and Workers share.
 *
 * This is the one module of the core allowed to detect its runtime (docs/architecture.md;
 * test/architecture/layers.test.ts names it): where the runtime has `node:crypto`, reached
 * through `process.getBuiltinModule` (no import, so Workers and browsers still load this file),
 * the hot helpers (SHA-256, HMAC, JWS signatures and their check) use its synchronous functions
 * (and node:buffer's base64url)
 * instead. WebCrypto on Node runs every call as a job on libuv's thread pool and resumes on the
 * event loop, which costs more main-thread time than the hashing itself and queues behind
 * argon2 (BENCHMARKS.md, "Crypto off the thread pool"). It stays here, not in an adapter the
 * entry injects, because the published kit (`latchkey/verify`) uses it too and has no entry.
 * Same keys (CryptoKey), same bytes out: test/lib-crypto.test.ts and test/verify check both engines.
 */

const encoder = new TextEncoder();

interface NodeCrypto {
  createHash(algorithm: string): { update(data: string): { digest(encoding: 'base64url'): string } };
  createHmac(
    algorithm: string,
    key: unknown,
  ): { update(data: string): { digest(encoding: 'base64url'): string } };
  sign(algorithm: string | null, data: Uint8Array, key: unknown): Uint8Array;
  verify(algorithm: string | null, data: Uint8Array, key: unknown, signature: Uint8Array): boolean;
  KeyObject: { from(key: CryptoKey): unknown };
  createSecretKey(key: Uint8Array): unknown;
  createPrivateKey(key: { key: JWK; format: 'jwk' }): unknown;
}

/** Node's `process`, where the runtime has one: its `getBuiltinModule` (Node 20.16+) reaches node:*. */
const nodeProcess = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;

/** node:crypto where the runtime has it; nothing outside this file touches it. */
const nodeCrypto = nodeProcess?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;

export type CryptoEngine = 'node:crypto' | 'webcrypto';

/** What this runtime uses; the tests run both. */
export const DEFAULT_CRYPTO_ENGINE: CryptoEngine = nodeCrypto ? 'node:crypto' : 'webcrypto';

/**
 * node:crypto's KeyObject of each CryptoKey that has one. A key this file imports from its
 * material (`importHmacKey`, `importPrivateJwk`) gets one made from the same bytes; any other
 * key only if it is extractable. `KeyObject.from` of a non-extractable CryptoKey is deprecated
 * from Node 26 (DEP0204) and may throw in a later Node; such a key takes the WebCrypto path.
 */
const keyObjects = new WeakMap<CryptoKey, unknown>();
function keyObject(node: NodeCrypto, key: CryptoKey): unknown {
  let object = keyObjects.get(key);
  if (object === undefined && key.extractable) {
    object = node.KeyObject.from(key);
    keyObjects.set(key, object);
  }
  return object;
}

/** node:crypto's KeyObject for `key` when this runtime and `engine` use node:crypto and there is one. */
const nodeKeyOf = (key: CryptoKey, engine: CryptoEngine): unknown =>
  engine === 'node:crypto' && nodeCrypto ? keyObject(nodeCrypto, key) : undefined;

/** Whether the node:crypto engine serves `key` (the tests check the server's keys are). */
export const hasNodeKeyObject = (key: CryptoKey): boolean => nodeKeyOf(key, 'node:crypto') !== undefined;

/** A non-extractable HMAC-SHA-256 key from raw bytes, with its KeyObject where node:crypto is. */
export async function importHmacKey(raw: ArrayBuffer | Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  const key = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  if (nodeCrypto) keyObjects.set(key, nodeCrypto.createSecretKey(new Uint8Array(raw)));
  return key;
}

/** A non-extractable private signing key from its JWK, with its KeyObject where node:crypto is. */
export async function importPrivateJwk(jwk: JWK, alg: string): Promise<CryptoKey> {
  const key = (await importJWK(jwk, alg)) as CryptoKey;
  if (nodeCrypto) keyObjects.set(key, nodeCrypto.createPrivateKey({ key: jwk, format: 'jwk' }));
  return key;
}

export const randomBytes = (length: number): Uint8Array<ArrayBuffer> =>
  crypto.getRandomValues(new Uint8Array(new ArrayBuffer(length)));

interface NodeBufferClass {
  from(text: string, encoding: 'utf8'): { toString(encoding: 'base64url'): string };
  from(bytes: ArrayBufferLike, offset: number, length: number): { toString(encoding: 'base64url'): string };
}

/**
 * node:buffer's Buffer where the runtime has it (reached like node:crypto): its base64url is
 * native, jose's goes through `btoa` a chunk of characters at a time (an access token is ~700
 * characters of it, a few per cent of a refresh's CPU).
 */
const NodeBuffer = (nodeProcess?.getBuiltinModule?.('node:buffer') as { Buffer: NodeBufferClass } | undefined)
  ?.Buffer;

/** base64url (RFC 4648 §5, no padding) of a string's UTF-8 bytes, or of bytes. */
const base64urlOf = (input: string | Uint8Array): string => {
  if (!NodeBuffer) return base64url.encode(input);
  return typeof input === 'string'
    ? NodeBuffer.from(input, 'utf8').toString('base64url')
    : NodeBuffer.from(input.buffer, input.byteOffset, input.byteLength).toString('base64url');
};

export const randomToken = (bytes = 32): string => base64urlOf(randomBytes(bytes));

/** RFC 4648 §5 base64url without padding (WebAuthn's encoding of bytes in JSON). */
export const base64UrlEncode = (bytes: Uint8Array): string => base64url.encode(bytes);
/** Throws on anything that is not base64url. */
export const base64UrlDecode = (text: string): Uint8Array<ArrayBuffer> =>
  base64url.decode(text) as Uint8Array<ArrayBuffer>;

/** Constant time in the length (OWASP ASVS V6.2.1): the lengths themselves are not secret. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Two strings compared as UTF-8 bytes, in constant time (see `equalBytes`). */
export const constantTimeEqual = (a: string, b: string): boolean =>
  equalBytes(encoder.encode(a), encoder.encode(b));

export async function sha256Base64url(value: string, engine = DEFAULT_CRYPTO_ENGINE): Promise<string> {
  if (engine === 'node:crypto' && nodeCrypto)
    return nodeCrypto.createHash('sha256').update(value).digest('base64url');
  const digest = await crypto.subtle.digest('SHA-256', encoder.encode(value));
  return base64urlOf(new Uint8Array(digest));
}

export async function hmacSha256Base64url(
  key: CryptoKey,
  value: string,
  engine = DEFAULT_CRYPTO_ENGINE,
): Promise<string> {
  const nodeKey = nodeKeyOf(key, engine);
  if (nodeKey !== undefined)
    return nodeCrypto!.createHmac('sha256', nodeKey).update(value).digest('base64url');
  const mac = await crypto.subtle.sign('HMAC', key, encoder.encode(value));
  return base64urlOf(new Uint8Array(mac));
}

/**
 * ECDSA signatures are malleable: if (r, s) verifies, so does (r, n − s) (SEC 1 §4.1.4 puts
 * no bound on s beyond 0 < s < n). Two spellings of one ES256 token would defeat anything
 * keyed on the token string (the kit's cache, a denylist, logs), so Latchkey signs and accepts
 * only the "low-S" one, s <= n/2 (the rule Bitcoin adopted for the same reason, BIP 62 / BIP 146).
 */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
/** floor(n / 2), big-endian: the largest s accepted. */
const P256_HALF_ORDER = Uint8Array.from(
  '7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8'.match(/../g)!,
  (byte) => Number.parseInt(byte, 16),
);

/** Whether a 64-byte ES256 signature (r || s, RFC 7518 §3.4) has s <= n/2. */
export function isLowS(signature: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) {
    const byte = signature[32 + i]!;
    const limit = P256_HALF_ORDER[i]!;
    if (byte !== limit) return byte < limit;
  }
  return true;
}

const hexOf = (bytes: Uint8Array) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');

/** The low-S spelling of a 64-byte ES256 signature: s replaced with n − s when s > n/2. */
export function lowS(signature: Uint8Array): Uint8Array {
  if (isLowS(signature)) return signature;
  const s = BigInt(`0x${hexOf(signature.subarray(32))}`);
  const flipped = (P256_ORDER - s).toString(16).padStart(64, '0');
  const out = new Uint8Array(64);
  out.set(signature.subarray(0, 32));
  for (let i = 0; i < 32; i++) out[32 + i] = Number.parseInt(flipped.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * A JWS signature over `signingInput` (RFC 7515 §5.1): Ed25519, or ECDSA P-256 with SHA-256
 * as the 64-byte r || s that JWS wants (RFC 7518 §3.4), never DER, always low-S (see `isLowS`):
 * node:crypto and WebCrypto pick s at random between the two.
 */
export async function signJws(
  alg: 'EdDSA' | 'ES256',
  key: CryptoKey,
  signingInput: Uint8Array<ArrayBuffer>,
  engine = DEFAULT_CRYPTO_ENGINE,
): Promise<Uint8Array> {
  const privateKey = nodeKeyOf(key, engine);
  if (privateKey !== undefined) {
    return alg === 'EdDSA'
      ? nodeCrypto!.sign(null, signingInput, privateKey)
      : lowS(nodeCrypto!.sign('sha256', signingInput, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
  }
  const signature = new Uint8Array(
    await crypto.subtle.sign(
      alg === 'EdDSA' ? { name: 'Ed25519' } : { name: 'ECDSA', hash: 'SHA-256' },
      key,
      signingInput,
    ),
  );
  return alg === 'EdDSA' ? signature : lowS(signature);
}

/** The key's own algorithm must be the token's: RFC 8725 §3.1 (the key decides, not the header). */
function keyFits(alg: 'EdDSA' | 'ES256', key: CryptoKey): boolean {
  if (key.type !== 'public' || !key.usages.includes('verify')) return false;
  if (alg === 'EdDSA') return key.algorithm.name === 'Ed25519';
  return key.algorithm.name === 'ECDSA' && (key.algorithm as EcKeyAlgorithm).namedCurve === 'P-256';
}

/**
 * The one cryptographic step of verifying an access token: the JWS signature over
 * `header.payload` (RFC 7515 §5.2) with a public key already chosen for the token's `kid`.
 * Ed25519, or ECDSA P-256 with SHA-256 and a 64-byte r || s signature (RFC 7518 §3.4, RFC 8037
 * §3.1). ES256 only in its low-S spelling (`isLowS`): its twin (r, n − s) is just as valid to
 * ECDSA, and a token must have one spelling. Ed25519 needs no such rule: both engines refuse
 * S >= L (RFC 8032 §5.1.7), test/verify/signature.test.ts checks it.
 */
export async function verifyJwsSignature(
  alg: 'EdDSA' | 'ES256',
  key: CryptoKey,
  signingInput: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
  engine = DEFAULT_CRYPTO_ENGINE,
): Promise<boolean> {
  if (signature.length !== 64 || !keyFits(alg, key)) return false;
  if (alg === 'ES256' && !isLowS(signature)) return false;
  const publicKey = nodeKeyOf(key, engine);
  if (publicKey !== undefined) {
    return alg === 'EdDSA'
      ? nodeCrypto!.verify(null, signingInput, publicKey, signature)
      : nodeCrypto!.verify('sha256', signingInput, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  }
  return crypto.subtle.verify(
    alg === 'EdDSA' ? { name: 'Ed25519' } : { name: 'ECDSA', hash: 'SHA-256' },
    key,
    signature,
    signingInput,
  );
}

/** A compact JWS (RFC 7515 §7.1) of a JSON header and payload. */
export async function compactJws(
  alg: 'EdDSA' | 'ES256',
  key: CryptoKey,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  engine = DEFAULT_CRYPTO_ENGINE,
): Promise<string> {
  const signingInput = `${base64urlOf(JSON.stringify(header))}.${base64urlOf(JSON.stringify(payload))}`;
  const signature = await signJws(alg, key, encoder.encode(signingInput), engine);
  return `${signingInput}.${base64urlOf(signature)}`;
}

/**
 * Checks presented secrets against configured ones (client secrets, the metrics token).
 * They are kept only as HMACs under a key made at start, and a presented secret is checked
 * with WebCrypto's HMAC verify, which compares in constant time (OWASP ASVS V6.2.1); an
 * unknown id costs the same check. Built lazily, on first use.
 */
export function secretChecker(
  secrets: Map<string, string>,
): (id: string, secret: string) => Promise<boolean> {
  let ready: Promise<{ key: CryptoKey; macs: Map<string, ArrayBuffer>; unknown: ArrayBuffer }> | undefined;
  const prepare = async () => {
    const key = await crypto.subtle.importKey(
      'raw',
      randomBytes(32),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
    const macs = new Map<string, ArrayBuffer>();
    for (const [id, secret] of secrets)
      macs.set(id, await crypto.subtle.sign('HMAC', key, encoder.encode(secret)));
    return { key, macs, unknown: await crypto.subtle.sign('HMAC', key, randomBytes(32)) };
  };
  return async (id, secret) => {
    ready ??= prepare();
    const { key, macs, unknown } = await ready;
    const mac = macs.get(id);
    const ok = await crypto.subtle.verify('HMAC', key, mac ?? unknown, encoder.encode(secret));
    return ok && mac !== undefined;
  };
}

export interface MasterKeys {
  /** HMAC key that derives a refresh token's successor from the token itself. */
  refreshSuccessorKey: CryptoKey;
  /** HMAC key (a pepper) for recovery codes: a leaked table cannot be brute-forced offline. */
  recoveryCodeKey: CryptoKey;
  /** AES-256-GCM key that encrypts private signing keys (and later TOTP secrets) at rest. */
  encryptionKey: CryptoKey;
  /** Names the master secret that made `encryptionKey`, so it can be rotated later. */
  encryptionKeyId: string;
  /** HMAC key of the DPoP nonces this server hands out (RFC 9449 §8), the same on every instance. */
  dpopNonceKey: CryptoKey;
}

async function hkdfBits(master: CryptoKey, info: string, bits = 256): Promise<ArrayBuffer> {
  return crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: encoder.encode('latchkey'), info: encoder.encode(info) },
    master,
    bits,
  );
}

/** Derives every purpose key from the master secret with HKDF (RFC 5869), one label per purpose. */
export async function deriveMasterKeys(masterSecret: string): Promise<MasterKeys> {
  const master = await crypto.subtle.importKey('raw', encoder.encode(masterSecret), 'HKDF', false, [
    'deriveBits',
  ]);
  const hmacKey = async (label: string) => importHmacKey(await hkdfBits(master, label));
  const refreshSuccessorKey = await hmacKey('latchkey/refresh-successor/v1');
  const recoveryCodeKey = await hmacKey('latchkey/recovery-code/v1');
  const dpopNonceKey = await hmacKey('latchkey/dpop-nonce/v1');
  const encryptionKey = await crypto.subtle.importKey(
    'raw',
    await hkdfBits(master, 'latchkey/encryption/v1'),
    { name: 'AES-GCM' },
    false,
    ['encrypt', 'decrypt'],
  );
  const encryptionKeyId = base64url.encode(
    new Uint8Array(await hkdfBits(master, 'latchkey/encryption-key-id/v1', 64)),
  );
  return { refreshSuccessorKey, recoveryCodeKey, encryptionKey, encryptionKeyId, dpopNonceKey };
}

/** AES-256-GCM with a random 96-bit nonce; `context` is bound as additional data. */
export async function encryptString(key: CryptoKey, plaintext: string, context: string): Promise<string> {
  const iv = randomBytes(12);
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: encoder.encode(context) },
    key,
    encoder.encode(plaintext),
  );
  return `${base64url.encode(iv)}.${base64url.encode(new Uint8Array(sealed))}`;
}

export async function decryptString(key: CryptoKey, sealed: string, context: string): Promise<string> {
  const [iv, data] = sealed.split('.');
  if (!iv || !data) throw new Error('sealed value is malformed');
  const opened = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: new Uint8Array(base64url.decode(iv)), additionalData: encoder.encode(context) },
    key,
    new Uint8Array(base64url.decode(data)),
  );
  return new TextDecoder().decode(opened);
}
