import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTHeaderParameters,
} from 'jose';
import type { SigningAlgorithm } from '../config.js';
import { decryptString, encryptString, type MasterKeys } from '../lib/crypto.js';
import { MINUTE, SECOND } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import type { Store, StoredSigningKey } from '../ports/store.js';

export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ['EdDSA', 'ES256'];

export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  key: CryptoKey;
}

export interface KeyRing {
  /**
   * Creates the first key (or one of a newly configured algorithm) when there is none, and
   * checks the current key opens with this master secret: a wrong MASTER_SECRET fails here,
   * at start, not at the first login.
   */
  ensureSigningKey(): Promise<void>;
  /**
   * Adds a new key that signs from now on and retires every other key; retired keys stay
   * published while tokens they signed live.
   */
  rotate(): Promise<string>;
  signingKey(): Promise<SigningKey>;
  verificationKey(header: Pick<JWTHeaderParameters, 'kid' | 'alg'>): Promise<CryptoKey | undefined>;
  jwks(): Promise<{ keys: JWK[] }>;
}

interface LoadedKeys {
  at: number;
  keys: StoredSigningKey[];
}

/**
 * Signing keys live in the database, private halves sealed with AES-256-GCM under a key
 * derived from the master secret (the sealed value is bound to its `kid`). Each instance
 * caches the ring briefly and reloads on an unknown `kid`, so a rotation made by one
 * instance (or `npm run keys:rotate`) reaches the others within `cacheTtlMs`.
 */
export function createKeyRing(options: {
  store: Store;
  clock: Clock;
  masterKeys: MasterKeys;
  alg: SigningAlgorithm;
  /** Keys retired less than this long ago are still published: tokens they signed may live. */
  accessTokenTtlMs: number;
  cacheTtlMs?: number;
}): KeyRing {
  const { store, clock, masterKeys, alg } = options;
  const cacheTtlMs = options.cacheTtlMs ?? MINUTE;
  const publishAfterRetirementMs = options.accessTokenTtlMs + MINUTE;
  let loaded: LoadedKeys | undefined;
  let lastForcedReload = 0;
  const privateKeys = new Map<string, Promise<CryptoKey>>();
  const publicKeys = new Map<string, Promise<CryptoKey>>();

  const load = async (force = false): Promise<StoredSigningKey[]> => {
    const now = clock.now().getTime();
    if (!force && loaded && now - loaded.at < cacheTtlMs) return loaded.keys;
    loaded = { at: now, keys: await store.listSigningKeys() };
    return loaded.keys;
  };

  const currentKey = (keys: StoredSigningKey[]) =>
    keys.find((key) => key.retiredAt === null && key.alg === alg);

  const isPublished = (key: StoredSigningKey, now: Date) =>
    key.retiredAt === null || now.getTime() - key.retiredAt.getTime() < publishAfterRetirementMs;

  const createKey = async (): Promise<StoredSigningKey> => {
    const pair = await generateKeyPair(alg, {
      crv: alg === 'EdDSA' ? 'Ed25519' : 'P-256',
      extractable: true,
    });
    const publicJwk = await exportJWK(pair.publicKey);
    const kid = await calculateJwkThumbprint(publicJwk); // RFC 7638
    const privateJwk = await exportJWK(pair.privateKey);
    return {
      kid,
      alg,
      publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
      privateKeySealed: await encryptString(
        masterKeys.encryptionKey,
        JSON.stringify(privateJwk),
        `signing-key:${kid}`,
      ),
      encryptionKeyId: masterKeys.encryptionKeyId,
      createdAt: clock.now(),
      retiredAt: null,
    };
  };

  const openPrivateKey = (stored: StoredSigningKey): Promise<CryptoKey> => {
    let key = privateKeys.get(stored.kid);
    if (!key) {
      key = (async () => {
        if (stored.encryptionKeyId !== masterKeys.encryptionKeyId) {
          throw new Error(`signing key ${stored.kid} was sealed under another MASTER_SECRET`);
        }
        const jwk = JSON.parse(
          await decryptString(masterKeys.encryptionKey, stored.privateKeySealed, `signing-key:${stored.kid}`),
        ) as JWK;
        return (await importJWK(jwk, stored.alg)) as CryptoKey;
      })();
      key.catch(() => privateKeys.delete(stored.kid));
      privateKeys.set(stored.kid, key);
    }
    return key;
  };

  const openPublicKey = (stored: StoredSigningKey): Promise<CryptoKey> => {
    let key = publicKeys.get(stored.kid);
    if (!key) {
      key = importJWK(stored.publicJwk as JWK, stored.alg) as Promise<CryptoKey>;
      publicKeys.set(stored.kid, key);
    }
    return key;
  };

  const ensureSigningKey = async (): Promise<void> => {
    let current = currentKey(await load(true));
    if (!current) {
      // Keys of another algorithm stay: instances still configured for it keep signing.
      await store.addSigningKey(await createKey(), { onlyIfNone: true, retire: 'same-alg' });
      current = currentKey(await load(true));
    }
    if (!current) throw new Error('no signing key after creating one');
    await openPrivateKey(current);
  };

  return {
    ensureSigningKey,

    async rotate() {
      const key = await createKey();
      await store.addSigningKey(key, { onlyIfNone: false, retire: 'all' });
      await load(true);
      return key.kid;
    },

    async signingKey() {
      // Another instance may have rotated (or an operator retired this algorithm): look
      // again, and make a key of our algorithm rather than fail the login.
      let current = currentKey(await load());
      if (!current) current = currentKey(await load(true));
      if (!current) {
        await ensureSigningKey();
        current = currentKey(await load());
      }
      if (!current) throw new Error('no signing key');
      return { kid: current.kid, alg, key: await openPrivateKey(current) };
    },

    async verificationKey({ kid, alg: headerAlg }) {
      if (!kid) return undefined;
      const now = clock.now();
      let stored = (await load()).find((key) => key.kid === kid);
      // An unknown kid forces a reload (a rotation by another instance), at most once a
      // second: junk kids cannot turn into a query per request, nor hold back a real new kid long.
      if (!stored && now.getTime() - lastForcedReload >= SECOND) {
        lastForcedReload = now.getTime();
        stored = (await load(true)).find((key) => key.kid === kid);
      }
      // RFC 8725 §3.1: the key decides the algorithm, never the token's header alone.
      if (!stored || stored.alg !== headerAlg || !isPublished(stored, now)) return undefined;
      return openPublicKey(stored);
    },

    async jwks() {
      const now = clock.now();
      const keys = (await load()).filter((key) => isPublished(key, now));
      return { keys: keys.map((key) => key.publicJwk as JWK) };
    },
  };
}
