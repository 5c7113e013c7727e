import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTHeaderParameters,
} from 'jose';
import type { SigningAlgorithm } from '../config.js';
import { decryptString, encryptString, importPrivateJwk, type MasterKeys } from '../lib/crypto.js';
import { MINUTE, SECOND } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import type { Maintenance, SigningKeyStore, StoredSigningKey } from '../ports/store.js';

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
   * Adds a new key, published at once and signing after the pre-publication period (at once
   * with `immediate`); every other key stops signing when it starts, and stays published
   * while tokens it signed may live.
   *
   * `compromised` (`keys:rotate --now`): the new key signs at once and every other key is
   * withdrawn at once, deleted with its private half: no longer published, and the tokens
   * it signed are refused (on this instance now, on the others within `cacheTtlMs`). Clients
   * refresh and get tokens of the new key; refresh tokens are not signed, so sessions go on.
   */
  rotate(options?: {
    immediate?: boolean;
    compromised?: boolean;
  }): Promise<{ kid: string; activatesAt: Date; withdrawn: string[] }>;
  signingKey(): Promise<SigningKey>;
  verificationKey(header: Pick<JWTHeaderParameters, 'kid' | 'alg'>): Promise<CryptoKey | undefined>;
  jwks(): Promise<{ keys: JWK[] }>;
  /**
   * How long caches may keep the JWKS: at most half the pre-publication period, so every
   * cache holds a new key well before it signs; and at most 30 s, so a key withdrawn by
   * `keys:rotate --now` leaves caches soon (the kit refetches as often: src/verify/verifier.ts).
   */
  readonly jwksMaxAgeSeconds: number;
  /** Keys retired longer ago than this signed no token that is still alive: cleanup drops them. */
  readonly retiredKeyRetentionMs: number;
}

interface LoadedKeys {
  at: number;
  keys: StoredSigningKey[];
}

/**
 * How long an instance trusts its copy of the ring (DEFAULT_KEY_CACHE_TTL_MS): a key withdrawn
 * by `keys:rotate --now` elsewhere stops verifying and signing here within this time. One
 * small query (a row per key) per interval and instance.
 */
export const DEFAULT_KEY_CACHE_TTL_MS = 5 * SECOND;

/**
 * Signing keys live in the database, private halves sealed with AES-256-GCM under a key
 * derived from the master secret (the sealed value is bound to its `kid`). Each instance
 * caches the ring briefly and reloads on an unknown `kid`, so a rotation made by one
 * instance (or `npm run keys:rotate`) reaches the others within `cacheTtlMs` (5 s).
 */
export function createKeyRing(options: {
  store: SigningKeyStore & Pick<Maintenance, 'deleteExpiredBatch'>;
  clock: Clock;
  masterKeys: MasterKeys;
  alg: SigningAlgorithm;
  /** Keys retired less than this long ago are still published: tokens they signed may live. */
  accessTokenTtlMs: number;
  /** How long `rotate()` publishes a new key before it signs (KEY_PREPUBLICATION). */
  prePublicationMs: number;
  cacheTtlMs?: number;
}): KeyRing {
  const { store, clock, masterKeys, alg, prePublicationMs } = options;
  const cacheTtlMs = options.cacheTtlMs ?? DEFAULT_KEY_CACHE_TTL_MS;
  // An instance may sign with a retired key until its cache reloads, and verifiers allow 5 s
  // of clock skew: keep the key published a token lifetime plus both, plus a margin (a token
  // lifetime plus 2 minutes, as when the cache lived a minute).
  const publishAfterRetirementMs = options.accessTokenTtlMs + Math.max(cacheTtlMs, MINUTE) + MINUTE;
  let loaded: LoadedKeys | undefined;
  let lastForcedReload = 0;
  const privateKeys = new Map<string, Promise<CryptoKey>>();
  const publicKeys = new Map<string, Promise<CryptoKey>>();

  const load = async (force = false): Promise<StoredSigningKey[]> => {
    const now = clock.now().getTime();
    if (!force && loaded && now - loaded.at < cacheTtlMs) return loaded.keys;
    loaded = { at: now, keys: await store.listSigningKeys() };
    // A key gone from the ring (withdrawn, or cleaned up) leaves memory too.
    const kids = new Set(loaded.keys.map((key) => key.kid));
    for (const cache of [privateKeys, publicKeys]) {
      for (const kid of cache.keys()) if (!kids.has(kid)) cache.delete(kid);
    }
    return loaded.keys;
  };

  const signsAt = (key: StoredSigningKey, at: Date) =>
    key.activatesAt <= at && (key.retiredAt === null || key.retiredAt > at);

  /** The key of our algorithm that signs now: the latest activated one not yet retired. */
  const currentKey = (keys: StoredSigningKey[]): StoredSigningKey | undefined => {
    const now = clock.now();
    let current: StoredSigningKey | undefined;
    for (const key of keys) {
      if (key.alg !== alg || !signsAt(key, now)) continue;
      if (!current || key.activatesAt > current.activatesAt) current = key;
    }
    return current;
  };

  const isPublished = (key: StoredSigningKey, now: Date) =>
    key.retiredAt === null || now.getTime() - key.retiredAt.getTime() < publishAfterRetirementMs;

  const createKey = async (activatesAt: Date): Promise<StoredSigningKey> => {
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
      activatesAt,
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
        return importPrivateJwk(jwk, stored.alg);
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
      // A first key has no tokens to wait for: it signs at once.
      await store.addSigningKey(await createKey(clock.now()), { onlyIfNone: true, retire: 'same-alg' });
      current = currentKey(await load(true));
    }
    if (!current) throw new Error('no signing key after creating one');
    await openPrivateKey(current);
  };

  /**
   * Deletes every key but `kid`: all of them are retired by now (addSigningKey retired those
   * still signing), and cleanup's delete of keys retired before a cutoff is the delete wanted,
   * with the cutoff now instead of a token lifetime ago. A key created after `now` (an
   * instance of another algorithm healing) is not retired and stays.
   */
  const withdrawAllBut = async (kid: string, now: Date): Promise<string[]> => {
    const cutoff = new Date(now.getTime() + 1); // retired_at < cutoff: retired at or before now
    const doomed = (await store.listSigningKeys()).filter(
      (key) => key.kid !== kid && key.retiredAt !== null && key.retiredAt < cutoff,
    );
    // Rows another instance's cleanup holds are skipped (SKIP LOCKED): look again.
    for (let round = 0; round < 5; round++) {
      while ((await store.deleteExpiredBatch('signing_keys', cutoff, 100)) > 0) {}
      const kids = new Set((await store.listSigningKeys()).map((key) => key.kid));
      if (!doomed.some((key) => kids.has(key.kid))) return doomed.map((key) => key.kid);
    }
    throw new Error('the previous signing keys could not all be deleted: run keys:rotate --now again');
  };

  return {
    ensureSigningKey,

    async rotate({ immediate = false, compromised = false } = {}) {
      const now = clock.now();
      const activatesAt = new Date(now.getTime() + (immediate || compromised ? 0 : prePublicationMs));
      const key = await createKey(activatesAt);
      // Every key that would still sign (the current one, a pending one) stops at activatesAt.
      await store.addSigningKey(key, { onlyIfNone: false, retire: 'all' });
      const withdrawn = compromised ? await withdrawAllBut(key.kid, now) : [];
      await load(true);
      return { kid: key.kid, activatesAt, withdrawn };
    },

    jwksMaxAgeSeconds: Math.min(30, Math.floor(prePublicationMs / SECOND / 2)),
    retiredKeyRetentionMs: publishAfterRetirementMs,

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
