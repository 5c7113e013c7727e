import { createHmac, createPublicKey, verify as cryptoVerify, type JsonWebKey as NodeJwk } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/database.js';
import { decryptString, deriveMasterKeys } from '../src/lib/crypto.js';
import { DEFAULT_KEY_CACHE_TTL_MS, type SigningKey } from '../src/services/key-ring.js';
import { call, decodeJwtPart, login, refresh, registerUser, type TokenPair } from './support/client.js';
import type { TestDatabase } from './support/database.js';
import {
  buildLatchkey,
  type Latchkey,
  TEST_MASTER_SECRET,
  TestClock,
  useDatabase,
} from './support/harness.js';
import { accessTokensOfOneSession, isLowS, sSpellings } from './verify/helpers.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const ACCESS_TOKEN_TTL_MS = 900 * SECOND;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

type JwkWithKid = JWK & { kid: string };

async function jwksOf(lk: Latchkey): Promise<JwkWithKid[]> {
  const res = await call(lk.app, '/.well-known/jwks.json');
  expect(res.status).toBe(200);
  return res.json.keys;
}

const kidOf = (token: string): string => decodeJwtPart(token, 0).kid;

async function me(lk: Latchkey, token: string) {
  return call(lk.app, '/v1/users/me', { token });
}

async function expectInvalidToken(lk: Latchkey, token: string) {
  const res = await me(lk, token);
  expect(res.status).toBe(401);
  expect(res.json.error).toBe('invalid_token');
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
}

interface SigningKeyRow {
  kid: string;
  alg: string;
  private_key_sealed: string;
  public_jwk: Record<string, unknown> | string;
  retired_at: unknown;
}

async function signingKeyRows(database: TestDatabase): Promise<SigningKeyRow[]> {
  const result = await database.db.execute(
    sql`SELECT kid, alg, private_key_sealed, public_jwk, retired_at FROM signing_keys ORDER BY created_at, kid`,
  );
  return rowsOf<SigningKeyRow>(result).map((row) => ({
    ...row,
    public_jwk: typeof row.public_jwk === 'string' ? JSON.parse(row.public_jwk) : row.public_jwk,
  }));
}

async function signedIn(lk: Latchkey): Promise<{ id: string; email: string; pair: TokenPair }> {
  const user = await registerUser(lk.app);
  return { ...user, pair: await login(lk.app, user.email) };
}

describe('key rotation', () => {
  const database = useDatabase();
  let lk: Latchkey;
  beforeAll(async () => {
    lk = await buildLatchkey(database.current);
  });

  it('new tokens carry the new kid, JWKS lists both keys, and old tokens keep working', async () => {
    const { id, pair } = await signedIn(lk);
    const oldKid = kidOf(pair.access_token);
    expect((await jwksOf(lk)).map((key) => key.kid)).toEqual([oldKid]);

    const newKid = (await lk.keyRing.rotate({ immediate: true })).kid;
    expect(newKid).not.toBe(oldKid);

    const after = await login(lk.app, (await me(lk, pair.access_token)).json.user.email);
    expect(kidOf(after.access_token)).toBe(newKid);
    expect(decodeJwtPart(after.access_token, 0)).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });

    const kids = (await jwksOf(lk)).map((key) => key.kid);
    expect(kids.sort()).toEqual([oldKid, newKid].sort());

    const old = await me(lk, pair.access_token);
    expect(old.status).toBe(200);
    expect(old.json.user.id).toBe(id);
    expect((await me(lk, after.access_token)).status).toBe(200);

    const rows = await signingKeyRows(database.current);
    expect(rows.find((row) => row.kid === oldKid)!.retired_at).not.toBeNull();
    expect(rows.find((row) => row.kid === newKid)!.retired_at).toBeNull();
  });

  it('a retired key stays in JWKS while its tokens may live, then leaves it', async () => {
    const { pair } = await signedIn(lk);
    const oldKid = kidOf(pair.access_token);
    const oldKey = await lk.keyRing.signingKey();
    expect(oldKey.kid).toBe(oldKid);
    const newKid = (await lk.keyRing.rotate({ immediate: true })).kid;

    // Control: right after the rotation, the retired key's signature is still good.
    const signedByOld = (payload: Record<string, unknown>) =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: oldKey.alg, typ: 'at+jwt', kid: oldKid })
        .sign(oldKey.key);
    expect((await me(lk, await signedByOld(decodeJwtPart(pair.access_token, 1)))).status).toBe(200);

    // Just inside access-token lifetime + 2 minutes (a stale key-ring cache, clock skew, a margin): still published.
    lk.clock.advance(ACCESS_TOKEN_TTL_MS + 2 * MINUTE - 5 * SECOND);
    expect((await jwksOf(lk)).map((key) => key.kid)).toContain(oldKid);

    lk.clock.advance(10 * SECOND);
    const kids = (await jwksOf(lk)).map((key) => key.kid);
    expect(kids).not.toContain(oldKid);
    expect(kids).toEqual([newKid]);

    // A token freshly made with the retired private key (say, a leaked one) is no longer accepted.
    const { pair: fresh } = await signedIn(lk);
    expect(kidOf(fresh.access_token)).toBe(newKid);
    expect((await me(lk, fresh.access_token)).status).toBe(200);
    await expectInvalidToken(lk, await signedByOld(decodeJwtPart(fresh.access_token, 1)));
  });

  it('a rotation by one instance reaches another within its cache lifetime', async () => {
    const other = await buildLatchkey(database.current, { clock: lk.clock });
    const { email } = await signedIn(lk);
    const beforeKid = kidOf((await login(other.app, email)).access_token);

    const newKid = (await lk.keyRing.rotate({ immediate: true })).kid;
    const fromRotator = await login(lk.app, email);
    expect(kidOf(fromRotator.access_token)).toBe(newKid);
    // The other instance has not reloaded yet, but verifies the unknown kid by reloading at once.
    expect((await me(other, fromRotator.access_token)).status).toBe(200);

    lk.clock.advance(MINUTE + SECOND);
    const fromOther = await login(other.app, email);
    expect(kidOf(fromOther.access_token)).toBe(newKid);
    expect(newKid).not.toBe(beforeKid);
    expect((await me(lk, fromOther.access_token)).status).toBe(200);
  });

  it('junk kids cannot hold back a real new kid for more than a second', async () => {
    const other = await buildLatchkey(database.current, { clock: lk.clock });
    const { email } = await signedIn(lk);
    const pair = await login(lk.app, email);
    lk.clock.advance(2 * SECOND);
    const junk = `${b64({ ...decodeJwtPart(pair.access_token, 0), kid: 'junk' })}.${pair.access_token.split('.').slice(1).join('.')}`;
    await expectInvalidToken(other, junk);
    const newKid = (await lk.keyRing.rotate({ immediate: true })).kid;
    const fresh = await login(lk.app, email);
    expect(kidOf(fresh.access_token)).toBe(newKid);
    lk.clock.advance(SECOND);
    expect((await me(other, fresh.access_token)).status).toBe(200);
  });

  it('a restarted key ring keeps signing with the current key instead of making one', async () => {
    const current = await lk.keyRing.signingKey();
    const countBefore = (await signingKeyRows(database.current)).length;
    const again = await buildLatchkey(database.current, { clock: lk.clock });
    expect((await again.keyRing.signingKey()).kid).toBe(current.kid);
    expect((await signingKeyRows(database.current)).length).toBe(countBefore);
  });
});

describe('scheduled rotation (npm run keys:rotate)', () => {
  const database = useDatabase();
  let lk: Latchkey;
  let other: Latchkey;
  beforeAll(async () => {
    lk = await buildLatchkey(database.current);
    other = await buildLatchkey(database.current, { clock: lk.clock });
  });

  it('publishes the new key before it signs, switches every instance on time, then drops the old key', async () => {
    const { email } = await signedIn(lk);
    const oldKid = kidOf((await login(lk.app, email)).access_token);
    const prePublicationMs = lk.config.keyPrepublicationSeconds * SECOND;
    expect(prePublicationMs).toBe(3600 * SECOND); // the default

    const { kid: newKid, activatesAt } = await lk.keyRing.rotate();
    expect(activatesAt.getTime()).toBe(lk.clock.now().getTime() + prePublicationMs);
    // Published at once, on both instances once their caches reload ...
    expect((await jwksOf(lk)).map((key) => key.kid).sort()).toEqual([oldKid, newKid].sort());
    lk.clock.advance(MINUTE + SECOND);
    expect((await jwksOf(other)).map((key) => key.kid)).toContain(newKid);
    // ... but nothing is signed with it before the period ends.
    lk.clock.advance(prePublicationMs - MINUTE - 2 * SECOND);
    expect(kidOf((await login(lk.app, email)).access_token)).toBe(oldKid);
    expect(kidOf((await login(other.app, email)).access_token)).toBe(oldKid);
    const lastOld = await login(other.app, email);

    lk.clock.advance(SECOND); // the activation instant
    expect(kidOf((await login(lk.app, email)).access_token)).toBe(newKid);
    expect(kidOf((await login(other.app, email)).access_token)).toBe(newKid);

    // The old key stays published while the last token it signed lives, then leaves.
    lk.clock.advance(ACCESS_TOKEN_TTL_MS - SECOND);
    expect((await me(lk, lastOld.access_token)).status).toBe(200);
    expect((await jwksOf(lk)).map((key) => key.kid)).toContain(oldKid);
    lk.clock.advance(lk.keyRing.retiredKeyRetentionMs - ACCESS_TOKEN_TTL_MS + 2 * SECOND);
    expect((await jwksOf(lk)).map((key) => key.kid)).toEqual([newKid]);
  });

  it('JWKS caches expire well within the pre-publication period, and within 30 s', async () => {
    const res = await call(lk.app, '/.well-known/jwks.json');
    const maxAge = Number(res.headers.get('cache-control')?.match(/max-age=(\d+)/)?.[1]);
    expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(lk.config.keyPrepublicationSeconds / 2);
    // A key withdrawn by keys:rotate --now leaves HTTP caches of the JWKS within this.
    expect(maxAge).toBe(30);
    const short = await buildLatchkey(database.current, { env: { KEY_PREPUBLICATION: '40' } });
    expect(short.keyRing.jwksMaxAgeSeconds).toBe(20);
    const none = await buildLatchkey(database.current, { env: { KEY_PREPUBLICATION: '0' } });
    expect(none.keyRing.jwksMaxAgeSeconds).toBe(0);
  });

  it('two rotations in a row: each key signs in its turn and exactly one key signs at any time', async () => {
    const { email } = await signedIn(lk);
    const first = await lk.keyRing.rotate();
    lk.clock.advance(10 * MINUTE);
    const second = await lk.keyRing.rotate();
    // The first key signs from its activation until the second one starts.
    lk.clock.advance(first.activatesAt.getTime() - lk.clock.now().getTime());
    expect(kidOf((await login(lk.app, email)).access_token)).toBe(first.kid);
    lk.clock.advance(second.activatesAt.getTime() - lk.clock.now().getTime());
    expect(kidOf((await login(lk.app, email)).access_token)).toBe(second.kid);
  });

  it('an emergency rotation (--now) signs at once and cancels a pending one', async () => {
    const { email } = await signedIn(lk);
    const pending = await lk.keyRing.rotate();
    const emergency = await lk.keyRing.rotate({ immediate: true });
    expect(kidOf((await login(lk.app, email)).access_token)).toBe(emergency.kid);
    lk.clock.advance(pending.activatesAt.getTime() - lk.clock.now().getTime() + SECOND);
    expect(kidOf((await login(lk.app, email)).access_token)).toBe(emergency.kid);
  });
});

describe('a compromised key (keys:rotate --now)', () => {
  const database = useDatabase();
  let lk: Latchkey;
  let other: Latchkey;
  beforeAll(async () => {
    lk = await buildLatchkey(database.current, {
      env: { INTROSPECTION_CLIENTS: 'orders-api:orders-api-secret-0123456789abcdefghijklmnop' },
    });
    // Another instance over the same database (stateless instances behind a load balancer).
    other = await buildLatchkey(database.current, { clock: lk.clock });
  });

  const introspect = (token: string) =>
    call(lk.app, '/oauth/introspect', {
      method: 'POST',
      rawBody: new URLSearchParams({ token }).toString(),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('orders-api:orders-api-secret-0123456789abcdefghijklmnop').toString('base64')}`,
      },
    });

  it('stops verifying at once: its tokens refused, gone from the JWKS and the ring; sessions go on', async () => {
    const { email, pair } = await signedIn(lk);
    const oldKid = kidOf(pair.access_token);
    const oldKey = await lk.keyRing.signingKey();
    expect((await me(lk, pair.access_token)).status).toBe(200);
    expect((await me(other, pair.access_token)).status).toBe(200); // the other instance's cache is warm
    expect((await introspect(pair.access_token)).json.active).toBe(true);

    const { kid: newKid, withdrawn } = await lk.keyRing.rotate({ compromised: true });
    expect(withdrawn).toEqual([oldKid]);

    // Same clock, same instance: refused on the Bearer routes and by introspection.
    await expectInvalidToken(lk, pair.access_token);
    expect((await introspect(pair.access_token)).json).toEqual({ active: false });
    // Nor can the stolen private key make new ones.
    const forged = await new SignJWT({ ...decodeJwtPart(pair.access_token, 1), jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: oldKey.alg, typ: 'at+jwt', kid: oldKid })
      .sign(oldKey.key);
    await expectInvalidToken(lk, forged);
    // No longer published, and gone from the database with its private half.
    expect((await jwksOf(lk)).map((key) => key.kid)).toEqual([newKid]);
    expect((await signingKeyRows(database.current)).map((row) => row.kid)).toEqual([newKid]);

    // The other instance: within its key cache (5 s), then refused there too, and it signs
    // with the new key.
    expect(DEFAULT_KEY_CACHE_TTL_MS).toBe(5 * SECOND);
    lk.clock.advance(DEFAULT_KEY_CACHE_TTL_MS);
    await expectInvalidToken(other, pair.access_token);
    await expectInvalidToken(other, forged);
    expect((await jwksOf(other)).map((key) => key.kid)).toEqual([newKid]);
    expect(kidOf((await login(other.app, email)).access_token)).toBe(newKid);

    // The price: the access token ended early. The session goes on: its refresh token gets
    // an access token of the new key.
    const refreshed = await refresh(lk.app, pair.refresh_token);
    expect(refreshed.status).toBe(200);
    expect(kidOf(refreshed.json.access_token)).toBe(newKid);
    expect((await me(lk, refreshed.json.access_token)).status).toBe(200);
    expect((await me(other, refreshed.json.access_token)).status).toBe(200);
  });

  it('withdraws every other key too: a pending one and one retired by a scheduled rotation', async () => {
    const scheduled = await lk.keyRing.rotate();
    lk.clock.advance(scheduled.activatesAt.getTime() - lk.clock.now().getTime() - MINUTE);
    const { pair } = await signedIn(lk); // signed by the key about to retire
    const before = kidOf(pair.access_token);
    lk.clock.advance(MINUTE);
    const { pair: second } = await signedIn(lk);
    expect(kidOf(second.access_token)).toBe(scheduled.kid);
    const pending = await lk.keyRing.rotate();
    // The retired key and its tokens still live, as a scheduled rotation wants.
    expect((await me(lk, pair.access_token)).status).toBe(200);
    expect((await jwksOf(lk)).map((key) => key.kid).sort()).toEqual(
      [before, scheduled.kid, pending.kid].sort(),
    );

    const { kid, withdrawn } = await lk.keyRing.rotate({ compromised: true });
    expect(withdrawn.sort()).toEqual([before, scheduled.kid, pending.kid].sort());
    expect((await jwksOf(lk)).map((key) => key.kid)).toEqual([kid]);
    await expectInvalidToken(lk, pair.access_token);
    await expectInvalidToken(lk, second.access_token);
    // The cancelled pending key never signs either.
    lk.clock.advance(pending.activatesAt.getTime() - lk.clock.now().getTime() + SECOND);
    expect(kidOf((await signedIn(lk)).pair.access_token)).toBe(kid);
  });

  it('an ordinary rotation keeps its overlap: the old key is published a token lifetime + 2 minutes', () => {
    expect(lk.keyRing.retiredKeyRetentionMs).toBe(ACCESS_TOKEN_TTL_MS + 2 * MINUTE);
  });
});

describe('private keys at rest', () => {
  const database = useDatabase();
  let lk: Latchkey;
  beforeAll(async () => {
    lk = await buildLatchkey(database.current);
    await lk.keyRing.rotate({ immediate: true });
  });

  it('are sealed: no JWK field, no private scalar, not the public key either', async () => {
    const masterKeys = await deriveMasterKeys(TEST_MASTER_SECRET);
    const rows = await signingKeyRows(database.current);
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      const publicJwk = row.public_jwk as JwkWithKid;
      expect(publicJwk.d).toBeUndefined();
      expect(publicJwk.kid).toBe(row.kid);
      expect(row.private_key_sealed).not.toContain('"d":');
      expect(row.private_key_sealed).not.toContain('"kty"');
      expect(row.private_key_sealed).not.toContain(publicJwk.x as string);
      expect(() => JSON.parse(row.private_key_sealed)).toThrow();

      // It is the private key, encrypted: opening it with the master key gives the JWK.
      const privateJwk = JSON.parse(
        await decryptString(masterKeys.encryptionKey, row.private_key_sealed, `signing-key:${row.kid}`),
      ) as JWK;
      expect(privateJwk.x).toBe(publicJwk.x);
      expect(typeof privateJwk.d).toBe('string');
      expect(row.private_key_sealed).not.toBe(JSON.stringify(privateJwk));
      expect(row.private_key_sealed).not.toContain(privateJwk.d as string);
      expect(row.private_key_sealed).not.toContain(
        Buffer.from(privateJwk.d as string, 'base64url').toString('base64'),
      );
    }
  });

  it('are bound to their kid: a sealed value does not open under another kid', async () => {
    const masterKeys = await deriveMasterKeys(TEST_MASTER_SECRET);
    const [first, second] = await signingKeyRows(database.current);
    await expect(
      decryptString(masterKeys.encryptionKey, first!.private_key_sealed, `signing-key:${second!.kid}`),
    ).rejects.toThrow();
  });

  it('a key ring with another MASTER_SECRET fails at start, clearly, and makes no key of its own', async () => {
    await expect(
      buildLatchkey(database.current, {
        clock: lk.clock,
        env: { MASTER_SECRET: 'another-master-secret-that-is-long-enough-0123456789' },
      }),
    ).rejects.toThrow(/sealed under another MASTER_SECRET/);
    const rows = await signingKeyRows(database.current);
    expect(rows).toHaveLength(2);
    const active = rows.filter((row) => row.retired_at === null);
    expect(active).toHaveLength(1);
    expect((await lk.keyRing.signingKey()).kid).toBe(active[0]!.kid);
  });
});

describe('ES256', () => {
  const database = useDatabase();
  const clock = new TestClock();
  let eddsa: Latchkey;
  let es: Latchkey;
  let eddsaPair: TokenPair;
  let email: string;
  beforeAll(async () => {
    eddsa = await buildLatchkey(database.current, { clock });
    ({ email, pair: eddsaPair } = await signedIn(eddsa));
    es = await buildLatchkey(database.current, { clock, env: { SIGNING_ALG: 'ES256' } });
  });

  it('ensureSigningKey adds an ES256 key when the configured algorithm has none', async () => {
    const rows = await signingKeyRows(database.current);
    const active = rows.filter((row) => row.retired_at === null && row.alg === 'ES256');
    expect(active).toHaveLength(1);
    expect(active[0]!.public_jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(rows.map((row) => row.alg).sort()).toEqual(['ES256', 'EdDSA']);
  });

  it('tokens have header alg ES256, verify on /v1/users/me and against JWKS with node:crypto', async () => {
    const pair = await login(es.app, email);
    const header = decodeJwtPart(pair.access_token, 0);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    expect((await me(es, pair.access_token)).status).toBe(200);

    const jwk = (await jwksOf(es)).find((key) => key.kid === header.kid);
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect(jwk!.d).toBeUndefined();
    const [h, p, s] = pair.access_token.split('.');
    const key = createPublicKey({ key: jwk as NodeJwk, format: 'jwk' });
    const signature = Buffer.from(s!, 'base64url');
    expect(signature).toHaveLength(64); // JWS ES256 is r || s, not DER
    expect(
      cryptoVerify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, signature),
    ).toBe(true);
  });

  it('the EdDSA key stays published and its tokens keep working after the switch', async () => {
    const kids = (await jwksOf(es)).map((key) => key.kid);
    expect(kids).toContain(kidOf(eddsaPair.access_token));
    expect(kids).toHaveLength(2);
    expect((await me(es, eddsaPair.access_token)).status).toBe(200);
  });

  it('the high-S twin (r, n − s) of a valid ES256 token is refused: one spelling per token', async () => {
    const pair = await login(es.app, email);
    const { low, high } = sSpellings(pair.access_token);
    expect(low).toBe(pair.access_token); // what we sign is the low-S spelling
    expect((await me(es, low)).status).toBe(200);
    await expectInvalidToken(es, high);
    await expectInvalidToken(eddsa, high); // any instance: the ES256 key is in the shared ring
    expect((await me(es, low)).status).toBe(200);
  });

  it('every ES256 access token we issue has a low S: 200 of 200 (a login, then refreshes)', async () => {
    const { tokens, last } = await accessTokensOfOneSession(es.app, email, 200);
    expect(new Set(tokens).size).toBe(200);
    expect(tokens.filter((token) => isLowS(token))).toHaveLength(200);
    expect((await me(es, last.access_token)).status).toBe(200);
  });

  it('an EdDSA-signed token relabelled ES256 is refused: the key decides the algorithm', async () => {
    const [, p, s] = eddsaPair.access_token.split('.');
    const header = { ...decodeJwtPart(eddsaPair.access_token, 0), alg: 'ES256' };
    await expectInvalidToken(es, `${b64(header)}.${p}.${s}`);
  });

  it('during a rolling switch of algorithm, instances of both algorithms keep signing', async () => {
    clock.advance(61 * SECOND); // past both key rings' caches
    expect((await login(eddsa.app, email)).access_token).toBeTruthy();
    expect((await login(es.app, email)).access_token).toBeTruthy();
    // A restarted EdDSA instance does not retire the ES256 key either.
    const restarted = await buildLatchkey(database.current, { clock });
    clock.advance(61 * SECOND);
    const pair = await login(es.app, email);
    expect(decodeJwtPart(pair.access_token, 0).alg).toBe('ES256');
    expect((await me(restarted, pair.access_token)).status).toBe(200);
  });

  it('keys:rotate (an operator decision) retires every other key, and a stale instance heals', async () => {
    await es.keyRing.rotate({ immediate: true });
    const active = (await signingKeyRows(database.current)).filter((row) => row.retired_at === null);
    expect(active.map((row) => row.alg)).toEqual(['ES256']);
    // The EdDSA instance finds no key of its algorithm: it makes one rather than fail logins.
    clock.advance(61 * SECOND);
    const pair = await login(eddsa.app, email);
    expect(decodeJwtPart(pair.access_token, 0).alg).toBe('EdDSA');
  });
});

describe('forged and mis-issued access tokens', () => {
  const database = useDatabase();
  let lk: Latchkey;
  let pair: TokenPair;
  let claims: Record<string, unknown>;
  let real: SigningKey;
  let publicJwk: JwkWithKid;

  beforeAll(async () => {
    lk = await buildLatchkey(database.current);
    ({ pair } = await signedIn(lk));
    claims = decodeJwtPart(pair.access_token, 1);
    real = await lk.keyRing.signingKey();
    publicJwk = (await jwksOf(lk)).find((key) => key.kid === real.kid)!;
  });

  const signWithRealKey = (payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    new SignJWT(payload)
      .setProtectedHeader({ alg: real.alg, typ: 'at+jwt', kid: real.kid, ...header })
      .sign(real.key);

  it('control: the same claims signed with the real key and the right header are accepted', async () => {
    expect((await me(lk, await signWithRealKey(claims))).status).toBe(200);
  });

  it('alg "none" is refused', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      await expectInvalidToken(lk, `${b64({ alg, typ: 'at+jwt', kid: real.kid })}.${b64(claims)}.`);
    }
    const [, , signature] = pair.access_token.split('.');
    await expectInvalidToken(
      lk,
      `${b64({ alg: 'none', typ: 'at+jwt', kid: real.kid })}.${b64(claims)}.${signature}`,
    );
  });

  it('HS256 signed with the public key as the HMAC secret is refused', async () => {
    const secrets = [
      Buffer.from(publicJwk.x as string, 'base64url'),
      Buffer.from(publicJwk.x as string),
      Buffer.from(JSON.stringify(publicJwk)),
      Buffer.from(
        createPublicKey({ key: publicJwk as NodeJwk, format: 'jwk' }).export({
          type: 'spki',
          format: 'pem',
        }),
      ),
    ];
    for (const secret of secrets) {
      for (const header of [
        { alg: 'HS256', typ: 'at+jwt', kid: real.kid },
        { alg: 'HS256', typ: 'at+jwt' },
      ]) {
        const input = `${b64(header)}.${b64(claims)}`;
        const mac = createHmac('sha256', secret).update(input).digest('base64url');
        await expectInvalidToken(lk, `${input}.${mac}`);
      }
    }
  });

  it('a token signed by a key that is not in the ring is refused, whatever kid or jwk it names', async () => {
    const attacker = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const attackerJwk = await exportJWK(attacker.publicKey);
    const headers = [
      { alg: 'EdDSA', typ: 'at+jwt', kid: real.kid },
      { alg: 'EdDSA', typ: 'at+jwt', kid: 'attacker-key' },
      { alg: 'EdDSA', typ: 'at+jwt' },
      { alg: 'EdDSA', typ: 'at+jwt', jwk: attackerJwk },
      { alg: 'EdDSA', typ: 'at+jwt', kid: real.kid, jwk: attackerJwk },
    ];
    for (const header of headers) {
      await expectInvalidToken(
        lk,
        await new SignJWT(claims).setProtectedHeader(header).sign(attacker.privateKey),
      );
    }
  });

  it('a tampered payload under the real signature is refused', async () => {
    const [h, , s] = pair.access_token.split('.');
    await expectInvalidToken(lk, `${h}.${b64({ ...claims, acr: 'aal2', amr: ['pwd', 'otp'] })}.${s}`);
  });

  it.each([
    ['typ "JWT"', { typ: 'JWT' }],
    ['typ "application/jwt"', { typ: 'application/jwt' }],
    ['no typ', { typ: undefined }],
    ['no kid', { kid: undefined }],
    ['an unknown kid', { kid: 'no-such-key' }],
  ])('the real key with %s in the header is refused', async (_label, header) => {
    await expectInvalidToken(lk, await signWithRealKey(claims, header));
  });

  it.each([
    ['another issuer', { iss: 'https://evil.example.com' }],
    ['another audience', { aud: 'https://api.other.example.com' }],
    ['an audience list without ours', { aud: ['https://a.example.com', 'https://b.example.com'] }],
    ['an expiry in the past', { exp: Math.floor(Date.UTC(2029, 0, 1) / 1000) }],
    ['a session that does not exist', { sid: crypto.randomUUID() }],
    ['another user for the session', { sub: crypto.randomUUID() }],
    ['an unknown acr', { acr: 'aal3' }],
    ['a non-string sid', { sid: 42 }],
    ['amr not a list', { amr: 'pwd' }],
  ])('the real key with %s is refused', async (_label, change) => {
    await expectInvalidToken(lk, await signWithRealKey({ ...claims, ...change }));
  });

  it.each(['sid', 'sub', 'iss', 'aud', 'exp', 'iat', 'jti', 'client_id', 'auth_time', 'acr', 'amr'])(
    'the real key without the %s claim is refused',
    async (claim) => {
      const { [claim]: _dropped, ...rest } = claims;
      await expectInvalidToken(lk, await signWithRealKey(rest));
    },
  );

  it('a token of a revoked session is refused though its signature is good', async () => {
    const { pair: other } = await signedIn(lk);
    expect((await me(lk, other.access_token)).status).toBe(200);
    const out = await call(lk.app, '/v1/auth/logout', { body: { refresh_token: other.refresh_token } });
    expect(out.status).toBe(204);
    await expectInvalidToken(lk, other.access_token);
  });
});
