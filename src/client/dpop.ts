/**
 * DPoP (RFC 9449) for `@latchkey/client`: a key the client holds, and the proof JWTs it signs
 * with it for every request (RFC 9449 §4). WebCrypto only, no dependency: the key pair is made
 * non-extractable (§2: the private key must never leave the device), and in a browser it is
 * kept in IndexedDB, whose structured clone keeps a CryptoKey non-extractable across reloads.
 * Elsewhere the app passes its key pair, or a signer over a platform keystore.
 */

/** The proof algorithms Latchkey accepts (RFC 9449 §4.2 `alg`: asymmetric only). */
export type DpopAlgorithm = 'ES256' | 'ES384' | 'EdDSA' | 'PS256' | 'RS256';

/** A public key as a JWK: only its public members go into a proof's header (RFC 9449 §4.2 `jwk`). */
export interface DpopPublicJwk {
  kty: string;
  crv?: string | undefined;
  x?: string | undefined;
  y?: string | undefined;
  n?: string | undefined;
  e?: string | undefined;
}

/**
 * A key kept outside WebCrypto, e.g. in the Secure Enclave or the Android Keystore: the
 * client hands `sign` the bytes of each proof's JWS signing input (RFC 7515 §5.1) and puts what
 * it answers in the proof. For ES256 that is the 64-byte `r‖s` of RFC 7518 §3.4; a DER-encoded
 * ECDSA signature (what iOS and Android answer) is converted.
 */
export interface DpopSigner {
  /** ES256 by default. PS256 and RS256 must hash with SHA-256. */
  alg?: DpopAlgorithm | undefined;
  publicJwk: DpopPublicJwk;
  sign(data: Uint8Array): Promise<Uint8Array | ArrayBuffer> | Uint8Array | ArrayBuffer;
  /**
   * SHA-256, for the `ath` of calls with an access token, where there is no `crypto.subtle`
   * (React Native: expo-crypto's `digest`, say).
   */
  sha256?: ((data: Uint8Array) => Promise<Uint8Array | ArrayBuffer>) | undefined;
}

/**
 * A WebCrypto key pair (`CryptoKeyPair`: ECDSA P-256 or P-384, Ed25519, RSA-PSS or
 * RSASSA-PKCS1-v1_5 with SHA-256), typed by its shape so that the package's types need no DOM
 * library. Make its private key non-extractable.
 */
export interface DpopKeyPair {
  readonly privateKey: { readonly algorithm: { readonly name: string } };
  readonly publicKey: { readonly algorithm: { readonly name: string } };
}

/**
 * `true`: a non-extractable ES256 key pair made by the client, kept in IndexedDB where there is
 * one (a browser: a reload keeps the binding), else in memory (lost with the process);
 * or the app's key pair or signer (or a promise of one).
 */
export type DpopOption = boolean | DpopKeyPair | DpopSigner | Promise<DpopKeyPair | DpopSigner>;

/** A resolved key: what `signProof` signs with. */
export interface DpopKey {
  /** The proof's header, encoded once: `typ`, `alg`, `jwk` (RFC 9449 §4.2). */
  header: string;
  sign(data: Uint8Array): Promise<Uint8Array>;
  sha256(data: Uint8Array): Promise<Uint8Array | ArrayBuffer>;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** base64url without padding (RFC 7515 §2): no btoa, which some React Native engines lack. */
export function base64url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]!;
    if (i + 1 < bytes.length) out += ALPHABET[(n >> 6) & 63]!;
    if (i + 2 < bytes.length) out += ALPHABET[n & 63]!;
  }
  return out;
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const encodeJson = (value: unknown) => base64url(utf8(JSON.stringify(value)));
const subtle = () => {
  const crypto = globalThis.crypto?.subtle;
  if (!crypto) throw new Error('DPoP needs WebCrypto (crypto.subtle), or a DpopSigner');
  return crypto;
};

/**
 * An ECDSA signature as JWS wants it (RFC 7518 §3.4: `r‖s`, each `size` bytes), from the DER
 * `SEQUENCE { INTEGER r, INTEGER s }` platform keystores answer; anything else unchanged.
 */
export function joseSignature(signature: Uint8Array, size: number): Uint8Array {
  if (signature.length === 2 * size || signature[0] !== 0x30 || signature.length > 2 * size + 9)
    return signature;
  const out = new Uint8Array(2 * size);
  let at = signature[1] === 0x81 ? 3 : 2;
  for (const half of [0, size]) {
    const length = signature[at + 1] ?? 0;
    if (signature[at] !== 0x02 || length > size + 1) return signature;
    let integer = signature.subarray(at + 2, at + 2 + length);
    while (integer.length > size && integer[0] === 0) integer = integer.subarray(1);
    if (integer.length > size) return signature;
    out.set(integer, half + size - integer.length);
    at += 2 + length;
  }
  return out;
}

async function keyOf(source: DpopKeyPair | DpopSigner): Promise<DpopKey> {
  let alg: DpopAlgorithm;
  let jwk: DpopPublicJwk;
  let sign: (data: Uint8Array) => Promise<Uint8Array>;
  let sha256: DpopKey['sha256'] = (data) => subtle().digest('SHA-256', data as BufferSource);
  if ('sign' in source) {
    alg = source.alg ?? 'ES256';
    jwk = source.publicJwk;
    const size = alg === 'ES256' ? 32 : alg === 'ES384' ? 48 : 0;
    sha256 = source.sha256 ?? sha256;
    sign = async (data) => {
      const signature = new Uint8Array(await source.sign(data));
      return size ? joseSignature(signature, size) : signature;
    };
  } else {
    const algorithm = source.privateKey.algorithm as { name: string; namedCurve?: string };
    const name = algorithm.name;
    const p384 = algorithm.namedCurve === 'P-384';
    const found = (
      {
        ECDSA: p384 ? 'ES384' : 'ES256',
        Ed25519: 'EdDSA',
        'RSA-PSS': 'PS256',
        'RSASSA-PKCS1-v1_5': 'RS256',
      } as const
    )[name as 'ECDSA'];
    if (!found || (name === 'ECDSA' && !p384 && algorithm.namedCurve !== 'P-256'))
      throw new Error(`DPoP: no proof algorithm for a ${name} key`);
    alg = found;
    // RFC 7518 §3.4, §3.5; RFC 8037 §3.1 (Ed25519 takes no parameters).
    const params = { name, hash: p384 ? 'SHA-384' : 'SHA-256', saltLength: 32 };
    jwk = (await subtle().exportKey('jwk', source.publicKey as CryptoKey)) as DpopPublicJwk;
    sign = async (data) =>
      new Uint8Array(await subtle().sign(params, source.privateKey as CryptoKey, data as BufferSource));
  }
  // Public members only (RFC 9449 §4.2: the header's `jwk` must not hold a private key).
  const { kty, crv, x, y, n, e } = jwk;
  return { header: encodeJson({ typ: 'dpop+jwt', alg, jwk: { kty, crv, x, y, n, e } }), sign, sha256 };
}

/** A new ES256 key pair whose private key cannot be exported (RFC 9449 §2, §11.2). */
const generate = () =>
  subtle().generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
    'verify',
  ]) as Promise<CryptoKeyPair>;

const DATABASE = 'latchkey-dpop';
const STORE = 'keys';

/** One IndexedDB request as a promise. */
function done<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/**
 * The key pair stored under `name` in IndexedDB (database `latchkey-dpop`, store `keys`), made
 * and stored at the first call. The CryptoKeyPair itself is stored: its private key stays
 * non-extractable, and script can use it but never read it. Two tabs making one at once keep
 * the first one stored (`add` refuses the second).
 */
async function indexedDbKeyPair(name: string): Promise<CryptoKeyPair> {
  const open = indexedDB.open(DATABASE, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  const db = await done(open);
  const read = () => done<CryptoKeyPair | undefined>(db.transaction(STORE).objectStore(STORE).get(name));
  try {
    const stored = await read();
    if (stored) return stored;
    const pair = await generate();
    try {
      await done(db.transaction(STORE, 'readwrite').objectStore(STORE).add(pair, name));
      return pair;
    } catch {
      return (await read()) ?? pair;
    }
  } finally {
    db.close();
  }
}

/** The key of the `dpop` option: resolved once, at the first proof. */
export async function resolveKey(option: Exclude<DpopOption, false>, name: string): Promise<DpopKey> {
  if (option !== true) return keyOf(await option);
  if (typeof indexedDB === 'undefined') return keyOf(await generate());
  // IndexedDB may be there and refuse (private modes, storage blocked): a key for this page then.
  return keyOf(await indexedDbKeyPair(name).catch(generate));
}

let counter = 0;

/**
 * One DPoP proof (RFC 9449 §4.2): `jti` random, `htm` the method, `htu` the URL without query
 * and fragment (§4.2, §4.3 item 9), `iat` now; `ath` with an access token (§7), `nonce` the
 * server's latest (§8, §9).
 */
export async function signProof(
  key: DpopKey,
  htm: string,
  url: string,
  iat: number,
  accessToken?: string,
  nonce?: string,
): Promise<string> {
  const htu = new URL(url);
  htu.search = htu.hash = '';
  const claims = {
    jti: globalThis.crypto?.randomUUID?.() ?? `${iat}.${++counter}.${Math.random()}`,
    htm: htm.toUpperCase(),
    htu: htu.href,
    iat: Math.floor(iat / 1000),
    // `ath`: base64url(SHA-256(the access token's ASCII)), RFC 9449 §4.2.
    ...(accessToken ? { ath: base64url(new Uint8Array(await key.sha256(utf8(accessToken)))) } : {}),
    ...(nonce ? { nonce } : {}),
  };
  const input = `${key.header}.${encodeJson(claims)}`;
  return `${input}.${base64url(await key.sign(utf8(input)))}`;
}
