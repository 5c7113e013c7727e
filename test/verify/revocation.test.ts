import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Verifier } from '../../src/verify/index.js';
import { appFetch, call, decodeJwtPart, login, registerUser, type TokenPair } from '../support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';
import { expectInvalidToken, FEED_PATH, newVerifier, recordingFetch, spySignatureChecks } from './helpers.js';

/**
 * The revoked-sessions feed as `latchkey/verify` uses it, on the injected clock: a revoked
 * session's tokens are refused within `maxDelaySeconds` of the list the verifier holds, the
 * feed is polled on traffic (half the delay: in the background; the whole delay: waited
 * for), with If-None-Match, and an outage costs no request a wait.
 */

const database = useDatabase();
let lk: Latchkey;

beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

afterEach(() => {
  vi.restoreAllMocks();
});

const SECOND = 1000;

/** A user with two live sessions. */
async function userWithTwoSessions(): Promise<{ a: TokenPair; b: TokenPair }> {
  const { email } = await registerUser(lk.app);
  return { a: await login(lk.app, email), b: await login(lk.app, email) };
}

async function revokeFrom(by: TokenPair, sessionId: string) {
  const res = await call(lk.app, `/v1/sessions/${sessionId}`, { method: 'DELETE', token: by.access_token });
  expect(res.status).toBe(204);
}

async function logout(pair: TokenPair) {
  const res = await call(lk.app, '/v1/auth/logout', { method: 'POST', token: pair.access_token });
  expect(res.status).toBe(204);
}

/**
 * Verifies `token` while letting a feed refresh the verification starts in the background
 * finish (refreshRevocations shares the fetch in flight rather than making another).
 */
async function verifyAndSettle(verifier: Verifier, token: string) {
  const verified = verifier.verify(token);
  await verifier.refreshRevocations();
  return verified;
}

const sessionEnded = /session.*ended/i;

describe('a revoked session', () => {
  it('is accepted while the list is fresh and refused once it is 30 s old (the default delay); the other session goes on', async () => {
    const { a, b } = await userWithTwoSessions();
    const recorder = recordingFetch(lk.app);
    const verifier = newVerifier(lk, { fetch: recorder.fetch });
    expect((await verifier.verify(a.access_token)).sid).toBe(a.session_id); // fetches the list, caches a
    expect(recorder.to(FEED_PATH)).toHaveLength(1);

    await revokeFrom(b, a.session_id);
    // The server itself refuses at once.
    expect((await call(lk.app, '/v1/users/me', { token: a.access_token })).status).toBe(401);

    // Within the delay, the kit goes on with the list it has (no feed request under half of it).
    expect((await verifier.verify(a.access_token)).sid).toBe(a.session_id);
    lk.clock.advance(14 * SECOND);
    expect((await verifier.verify(a.access_token)).sid).toBe(a.session_id);
    expect(recorder.to(FEED_PATH)).toHaveLength(1);

    // 30 s after the list was fetched: the verification waits for a new one and refuses, even
    // though the token is in the verified-token cache (no signature check is made).
    lk.clock.advance(16 * SECOND);
    const subtleVerify = spySignatureChecks();
    const refusal = await expectInvalidToken(verifier, a.access_token);
    expect(refusal.description).toMatch(sessionEnded);
    expect(subtleVerify).not.toHaveBeenCalled();
    expect(verifier.cachedTokens).toBe(1);
    expect(recorder.to(FEED_PATH)).toHaveLength(2);

    // The same user's other session is untouched.
    expect((await verifier.verify(b.access_token)).sid).toBe(b.session_id);
  });

  it('is refused at once by a verifier created after the revocation (its first verification waits for the list)', async () => {
    const { a, b } = await userWithTwoSessions();
    await revokeFrom(b, a.session_id);
    const verifier = newVerifier(lk);
    const refusal = await expectInvalidToken(verifier, a.access_token);
    expect(refusal.description).toMatch(sessionEnded);
    expect((await verifier.verify(b.access_token)).sid).toBe(b.session_id);
  });

  it('with maxDelaySeconds: 2 (logout), is refused 2 s after the list was fetched; a 30 s verifier still accepts it', async () => {
    const { a, b } = await userWithTwoSessions();
    const recorder = recordingFetch(lk.app);
    const quick = newVerifier(lk, { fetch: recorder.fetch, revocation: { maxDelaySeconds: 2 } });
    const slow = newVerifier(lk);
    await quick.verify(a.access_token);
    await slow.verify(a.access_token);

    await logout(a);
    expect((await quick.verify(a.access_token)).sid).toBe(a.session_id);
    lk.clock.advance(999);
    expect((await quick.verify(a.access_token)).sid).toBe(a.session_id);
    expect(recorder.to(FEED_PATH)).toHaveLength(1); // under half of 2 s: no request

    lk.clock.advance(1001);
    expect((await expectInvalidToken(quick, a.access_token)).description).toMatch(sessionEnded);
    expect(recorder.to(FEED_PATH)).toHaveLength(2);
    expect((await quick.verify(b.access_token)).sid).toBe(b.session_id);

    // The default delay: 2 s is well within it.
    expect((await slow.verify(a.access_token)).sid).toBe(a.session_id);
  });

  it('refresh-token reuse revokes the session: its access tokens are refused after the delay', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const verifier = newVerifier(lk);
    await verifier.verify(pair.access_token);
    const first = await call(lk.app, '/v1/auth/refresh', { body: { refresh_token: pair.refresh_token } });
    expect(first.status).toBe(200);
    lk.clock.advance(60 * SECOND); // past the reuse grace window
    const replay = await call(lk.app, '/v1/auth/refresh', { body: { refresh_token: pair.refresh_token } });
    expect(replay.status).toBe(401);
    await expectInvalidToken(verifier, pair.access_token);
    await expectInvalidToken(verifier, first.json.access_token);
  });
});

describe('polling the feed', () => {
  it('asks nothing within half the delay, then asks with If-None-Match and gets a 304 while the list is unchanged', async () => {
    const { a } = await userWithTwoSessions();
    const recorder = recordingFetch(lk.app);
    const verifier = newVerifier(lk, { fetch: recorder.fetch });
    const feed = () => recorder.to(FEED_PATH);

    await verifier.verify(a.access_token);
    expect(feed()).toHaveLength(1);
    expect(feed()[0]).toMatchObject({ ifNoneMatch: null, status: 200 });
    const etag = feed()[0]!.etag;
    expect(etag).toMatch(/^"[^"]+"$/);

    // Many verifications (of several tokens) over 14.9 s: no request.
    const { a: other } = await userWithTwoSessions();
    for (let i = 0; i < 10; i++) {
      lk.clock.advance(1490);
      await verifier.verify(a.access_token);
      await verifier.verify(other.access_token);
    }
    expect(feed()).toHaveLength(1);

    // Half the delay: one request in the background, conditional, answered 304.
    lk.clock.advance(100);
    await verifyAndSettle(verifier, a.access_token);
    expect(feed()).toHaveLength(2);
    expect(feed()[1]).toMatchObject({ ifNoneMatch: etag, status: 304 });

    // The list is fresh again: another 15 s without a request.
    lk.clock.advance(14_999);
    await verifier.verify(a.access_token);
    expect(feed()).toHaveLength(2);

    // A revocation changes the list: the next request is a 200 with a new ETag.
    const { a: gone, b: remover } = await userWithTwoSessions();
    await revokeFrom(remover, gone.session_id);
    lk.clock.advance(1);
    await verifyAndSettle(verifier, a.access_token);
    expect(feed()).toHaveLength(3);
    expect(feed()[2]).toMatchObject({ ifNoneMatch: etag, status: 200 });
    expect(feed()[2]!.etag).not.toBe(etag);
    // The background refresh has the new list: the revoked session is refused now.
    await expectInvalidToken(verifier, gone.access_token);
  });

  it('verifications at once share one feed request', async () => {
    const { a, b } = await userWithTwoSessions();
    const recorder = recordingFetch(lk.app);
    const verifier = newVerifier(lk, { fetch: recorder.fetch });
    await Promise.all([a, b, a, b, a].map((pair) => verifier.verify(pair.access_token)));
    expect(recorder.to(FEED_PATH)).toHaveLength(1);
  });
});

describe('a feed outage', () => {
  it('goes on with the last list, tells onError, and waits before asking again', async () => {
    const { a, b: remover } = await userWithTwoSessions();
    const { a: duringOutage, b: live } = await userWithTwoSessions();
    const recorder = recordingFetch(lk.app);
    const onError = vi.fn();
    const verifier = newVerifier(lk, { fetch: recorder.fetch, revocation: { onError } });
    const feed = () => recorder.to(FEED_PATH);
    for (const pair of [a, duringOutage, live]) await verifier.verify(pair.access_token);

    // Before the outage: a is revoked and the verifier learns it.
    await revokeFrom(remover, a.session_id);
    lk.clock.advance(30 * SECOND);
    await expectInvalidToken(verifier, a.access_token);
    expect(feed()).toHaveLength(2);

    // The feed goes down; another session is revoked meanwhile.
    recorder.failing.add(FEED_PATH);
    await revokeFrom(live, duringOutage.session_id);
    lk.clock.advance(30 * SECOND);
    // The list is too old: this verification waits for the feed, which fails; it succeeds
    // anyway with the last list.
    expect((await verifier.verify(live.access_token)).sid).toBe(live.session_id);
    expect(feed()).toHaveLength(3);
    expect(feed()[2]!.status).toBe('failed');
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError.mock.calls[0]![0]).toBeInstanceOf(TypeError);

    // The last list still refuses a; the feed could not tell about the other revocation.
    await expectInvalidToken(verifier, a.access_token);
    expect((await verifier.verify(duringOutage.access_token)).sid).toBe(duringOutage.session_id);
    // The next attempt waits 5 s: none of these verifications asks the feed.
    for (let i = 0; i < 5; i++) {
      lk.clock.advance(999);
      await verifier.verify(live.access_token);
    }
    expect(feed()).toHaveLength(3);

    // 5 s after the failure: one attempt, in the background (the verification does not wait).
    lk.clock.advance(5);
    expect((await verifyAndSettle(verifier, live.access_token)).sid).toBe(live.session_id);
    expect(feed()).toHaveLength(4);
    expect(onError).toHaveBeenCalledTimes(2);
    await verifier.verify(live.access_token);
    expect(feed()).toHaveLength(4);

    // The feed is back: the next attempt (5 s later) gets the list with the other revocation.
    recorder.failing.delete(FEED_PATH);
    lk.clock.advance(5 * SECOND);
    await verifyAndSettle(verifier, live.access_token);
    expect(feed()).toHaveLength(5);
    expect(feed()[4]!.status).toBe(200);
    await expectInvalidToken(verifier, duringOutage.access_token);
    expect((await verifier.verify(live.access_token)).sid).toBe(live.session_id);
    expect(onError).toHaveBeenCalledTimes(2);
  });

  it('an answer that is not 200/304 or not a feed is an outage too', async () => {
    const { a } = await userWithTwoSessions();
    const onError = vi.fn();
    const bodies = [
      new Response('{"error":"temporarily_unavailable"}', { status: 503 }),
      new Response('{"revoked_sessions":"nope"}', { status: 200 }),
      new Response('not json', { status: 200 }),
    ];
    for (const body of bodies) {
      const verifier = newVerifier(lk, {
        fetch: (url, init) =>
          new URL(url).pathname === FEED_PATH ? Promise.resolve(body) : appFetch(lk.app)(url, init),
        revocation: { onError },
      });
      expect((await verifier.verify(a.access_token)).sid).toBe(a.session_id);
    }
    expect(onError).toHaveBeenCalledTimes(3);
  });
});

describe('an onError that throws', () => {
  // Regression: an exception of the caller's onError once escaped poll(), so the promise
  // ready() returns rejected (its contract: never). A verification waiting for the feed then
  // failed with the callback's error (a 500 through the middleware) instead of going on with
  // the last list, and a background refresh left the rejection unhandled (by default, Node
  // exits on that).
  it('still verifies with the last list when the feed is down, waiting or in the background', async () => {
    const { a } = await userWithTwoSessions();
    const recorder = recordingFetch(lk.app);
    recorder.failing.add(FEED_PATH);
    const verifier = newVerifier(lk, {
      fetch: recorder.fetch,
      revocation: {
        onError: () => {
          throw new Error('the logger threw');
        },
      },
    });
    // The first verification waits for the feed (no list yet), which fails.
    expect((await verifier.verify(a.access_token)).sid).toBe(a.session_id);
    // 5 s later a retry runs in the background, fails again: nothing is left unhandled.
    lk.clock.advance(5_000);
    expect((await verifyAndSettle(verifier, a.access_token)).sid).toBe(a.session_id);
    expect(recorder.to(FEED_PATH).map((exchange) => exchange.status)).toEqual(['failed', 'failed']);
  });
});

describe('revocation: false', () => {
  it('never asks the feed, and accepts a revoked session until exp (+5 s)', async () => {
    const { a, b } = await userWithTwoSessions();
    const recorder = recordingFetch(lk.app);
    const verifier = newVerifier(lk, { fetch: recorder.fetch, revocation: false, cacheSize: 0 });
    await verifier.verify(a.access_token);
    await revokeFrom(b, a.session_id);
    await verifier.refreshRevocations();

    const exp: number = decodeJwtPart(a.access_token, 1).exp;
    lk.clock.advance(60 * SECOND);
    expect((await verifier.verify(a.access_token)).sid).toBe(a.session_id);
    lk.clock.advance(exp * SECOND - lk.clock.now().getTime() + 4_999);
    expect((await verifier.verify(a.access_token)).sid).toBe(a.session_id);
    lk.clock.advance(1);
    expect((await expectInvalidToken(verifier, a.access_token)).description).toMatch(/expired/);

    expect(recorder.to(FEED_PATH)).toHaveLength(0);
    expect(recorder.exchanges.every((exchange) => exchange.path !== FEED_PATH)).toBe(true);
  });
});
