import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AccessTokenClaims } from '../../src/verify/claims.js';
import { DEFAULT_JWKS_MAX_AGE_SECONDS } from '../../src/verify/key-set.js';
import { VerifiedTokenCache } from '../../src/verify/token-cache.js';
import { call, decodeJwtPart, login, refresh, registerUser, type TokenPair } from '../support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';
import { b64, expectInvalidToken, JWKS_PATH, newVerifier, recordingFetch } from './helpers.js';

/**
 * A key withdrawn by `keys:rotate --now` (a compromised key) must stop verifying in the kit
 * too: the kit refetches the JWKS when its copy is `jwksMaxAgeSeconds` old (30 by default),
 * drops the keys that left it and the cached tokens they signed.
 */

const database = useDatabase();
let lk: Latchkey;

beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

afterEach(() => {
  vi.restoreAllMocks();
});

const kidOf = (token: string): string => decodeJwtPart(token, 0).kid;

async function freshPair(): Promise<TokenPair> {
  const { email } = await registerUser(lk.app);
  return login(lk.app, email);
}

describe('the kit after keys:rotate --now', () => {
  it('refuses a cached token of the withdrawn key once it refetches the JWKS, within 30 s', async () => {
    const recorder = recordingFetch(lk.app);
    const verifier = newVerifier(lk, { fetch: recorder.fetch, revocation: false });
    const pair = await freshPair();
    expect((await verifier.verify(pair.access_token)).sid).toBe(pair.session_id);
    expect(verifier.cachedTokens).toBe(1);
    expect(recorder.to(JWKS_PATH)).toHaveLength(1);

    const { kid: newKid, withdrawn } = await lk.keyRing.rotate({ compromised: true });
    expect(withdrawn).toEqual([kidOf(pair.access_token)]);
    // The server refuses it at once ...
    expect((await call(lk.app, '/v1/users/me', { token: pair.access_token })).status).toBe(401);

    // ... the kit once its copy of the JWKS is 30 s old: that verification waits for the refetch.
    expect(DEFAULT_JWKS_MAX_AGE_SECONDS).toBe(30);
    lk.clock.advance(30_000);
    await expectInvalidToken(verifier, pair.access_token);
    expect(recorder.to(JWKS_PATH)).toHaveLength(2);
    expect(verifier.cachedTokens).toBe(0);
    await expectInvalidToken(verifier, pair.access_token);
    await expectInvalidToken(newVerifier(lk, { revocation: false }), pair.access_token);

    // The session goes on: a refresh gives a token of the new key, which the kit accepts.
    const refreshed = (await refresh(lk.app, pair.refresh_token)).json as TokenPair;
    expect(kidOf(refreshed.access_token)).toBe(newKid);
    expect((await verifier.verify(refreshed.access_token)).sid).toBe(pair.session_id);
  });

  it('refetches in the background from half the max age on: the withdrawn key is dropped without a wait', async () => {
    const recorder = recordingFetch(lk.app);
    const verifier = newVerifier(lk, { fetch: recorder.fetch, revocation: false });
    const pair = await freshPair();
    await verifier.verify(pair.access_token);
    await lk.keyRing.rotate({ compromised: true });

    // Within half the max age: answered from the cache, no request at all.
    lk.clock.advance(14_000);
    expect((await verifier.verify(pair.access_token)).sid).toBe(pair.session_id);
    expect(recorder.to(JWKS_PATH)).toHaveLength(1);

    // Past it: still answered from the cache, while the refetch runs in the background ...
    lk.clock.advance(2_000);
    expect((await verifier.verify(pair.access_token)).sid).toBe(pair.session_id);
    expect(recorder.to(JWKS_PATH)).toHaveLength(2);
    // ... and once it is in, the token is gone from the cache and refused.
    await vi.waitFor(() => expect(verifier.cachedTokens).toBe(0));
    await expectInvalidToken(verifier, pair.access_token);
    expect(recorder.to(JWKS_PATH).length).toBeGreaterThanOrEqual(2);
  });

  it('jwksMaxAgeSeconds sets the delay', async () => {
    const recorder = recordingFetch(lk.app);
    const verifier = newVerifier(lk, { fetch: recorder.fetch, revocation: false, jwksMaxAgeSeconds: 4 });
    const pair = await freshPair();
    await verifier.verify(pair.access_token);
    await lk.keyRing.rotate({ compromised: true });
    lk.clock.advance(1_000);
    expect((await verifier.verify(pair.access_token)).sid).toBe(pair.session_id);
    lk.clock.advance(3_000);
    await expectInvalidToken(verifier, pair.access_token);
  });

  it('while the JWKS cannot be fetched, keeps its last copy: cached tokens go on and no request waits again', async () => {
    const recorder = recordingFetch(lk.app);
    const verifier = newVerifier(lk, { fetch: recorder.fetch, revocation: false });
    const pair = await freshPair();
    await verifier.verify(pair.access_token);
    recorder.failing.add(JWKS_PATH);
    lk.clock.advance(31_000);
    expect((await verifier.verify(pair.access_token)).sid).toBe(pair.session_id);
    expect(recorder.to(JWKS_PATH).map((exchange) => exchange.status)).toEqual([200, 'failed']);
    // The next attempt waits 5 s; meanwhile no request asks (nor waits).
    lk.clock.advance(4_000);
    expect((await verifier.verify(pair.access_token)).sid).toBe(pair.session_id);
    expect(recorder.to(JWKS_PATH)).toHaveLength(2);
    // Back: the next refetch goes through.
    recorder.failing.delete(JWKS_PATH);
    lk.clock.advance(2_000);
    expect((await verifier.verify(pair.access_token)).sid).toBe(pair.session_id);
    await vi.waitFor(() => expect(recorder.to(JWKS_PATH).at(-1)?.status).toBe(200));
  });

  it('a scheduled rotation drops nothing early: the old key stays published while its tokens live', async () => {
    const recorder = recordingFetch(lk.app);
    const verifier = newVerifier(lk, { fetch: recorder.fetch, revocation: false });
    const pair = await freshPair();
    await verifier.verify(pair.access_token);
    const { activatesAt } = await lk.keyRing.rotate();
    lk.clock.advance(activatesAt.getTime() - lk.clock.now().getTime() - 5 * 60_000);
    const late = await login(lk.app, (await registerUser(lk.app)).email);
    expect(kidOf(late.access_token)).toBe(kidOf(pair.access_token));
    await verifier.verify(late.access_token);
    lk.clock.advance(5 * 60_000); // the new key signs; the old one is retired, still published
    expect((await verifier.verify(late.access_token)).sid).toBe(late.session_id);
    expect(recorder.to(JWKS_PATH).length).toBeGreaterThanOrEqual(2);
    expect(verifier.cachedTokens).toBeGreaterThan(0);
  });
});

describe('VerifiedTokenCache.dropSignedBy', () => {
  const claims = (n: number) => ({ exp: 2_000_000_000 + n }) as unknown as AccessTokenClaims;
  const token = (header: Record<string, unknown>, n: number) => `${b64(header)}.${b64({ n })}.c2ln`;

  it('drops the tokens of the withdrawn kids and those without a kid, keeps the rest', () => {
    const cache = new VerifiedTokenCache(100, 5_000);
    const a1 = token({ alg: 'EdDSA', kid: 'a' }, 1);
    const a2 = token({ alg: 'EdDSA', kid: 'a' }, 2);
    const b1 = token({ alg: 'EdDSA', kid: 'b' }, 3);
    const none = token({ alg: 'EdDSA' }, 4);
    for (const [i, t] of [a1, a2, b1, none].entries()) cache.set(t, claims(i));
    cache.dropSignedBy(new Set(['a']));
    expect(cache.size).toBe(1);
    expect(cache.get(b1, 0)).toBeDefined();
    expect(cache.get(a1, 0)).toBeUndefined();
  });
});
