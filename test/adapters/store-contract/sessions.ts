import { describe, expect, it } from 'vitest';
import { refreshTokenExpiry, type SessionPolicy } from '../../../src/domain/session-policy.js';
import {
  all,
  CLIENT_ID,
  createUser,
  DAY,
  device,
  isLive,
  later,
  minutes,
  type NewSession,
  newSession,
  newTokenHash,
  type OpenSubjects,
  openSession,
  REFRESH_TTL_MS,
  refreshUntilRefused,
  rotate,
  signal,
  tally,
  testMoment,
} from './fixtures.js';

/**
 * Sessions and refresh tokens: the rotation that survives a replay storm, revocation that
 * a racing rotation cannot outlive, and the session limit under parallel logins.
 */
export function sessionsContract(open: OpenSubjects) {
  describe('refresh rotation (RFC 9700 §4.14.2)', () => {
    it('a refresh token presented N times at once is rotated once: one grant, one live successor', async () => {
      const { store, parallel } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      const session = await openSession(store, user, now);

      // Three storms in a row: the winner's successor is the next storm's presented token.
      let presented = session.tokenHash;
      const everyHash = [presented];
      for (let storm = 0; storm < 3; storm++) {
        const at = later(now, minutes(storm + 1));
        const attempts = await all(parallel, () => rotate(store, presented, at));
        everyHash.push(...attempts.map((attempt) => attempt.successorHash));
        const winners = attempts.filter((attempt) => attempt.grant !== undefined);
        expect(winners).toHaveLength(1);
        expect(winners[0]!.grant).toMatchObject({ sessionId: session.sessionId, userId: user.id });

        const rows = await store.findRefreshTokens(everyHash);
        // The losers inserted nothing; the presented token is rotated; the session has one head.
        expect(rows).toHaveLength(storm + 2);
        expect(rows.find((row) => row.tokenHash === presented)?.rotatedAt).toEqual(at);
        expect(rows.filter(isLive).map((row) => row.tokenHash)).toEqual([winners[0]!.successorHash]);
        const sessions = await store.listSessions(user.id, at);
        expect(sessions.map((view) => view.id)).toEqual([session.sessionId]);
        presented = winners[0]!.successorHash;
      }
    });

    it('a rotated token replayed later is refused and inserts nothing (the family is not forked)', async () => {
      const { store } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      const session = await openSession(store, user, now);
      const first = await rotate(store, session.tokenHash, now);
      expect(first.grant).toBeDefined();

      const replay = await rotate(store, session.tokenHash, later(now, minutes(1)));
      expect(replay.grant).toBeUndefined();
      expect(await store.findRefreshTokens([replay.successorHash])).toEqual([]);
      expect(await store.isSessionLive(session.sessionId, user.id, later(now, minutes(1)))).toBe(true);
    });

    it('a token presented by another client, or after its expiry, is not rotated', async () => {
      const { store } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      const session = await openSession(store, user, now);
      const base = {
        presentedHash: session.tokenHash,
        now,
        notAfter: later(now, REFRESH_TTL_MS),
        device: device(null),
      };
      const otherClient = await store.rotateRefreshToken({
        ...base,
        clientId: 'another-client',
        successorHash: newTokenHash(),
      });
      expect(otherClient).toBeUndefined();
      const expired = await store.rotateRefreshToken({
        ...base,
        clientId: CLIENT_ID,
        successorHash: newTokenHash(),
        now: later(session.tokenExpiresAt, 1),
      });
      expect(expired).toBeUndefined();
      const [row] = await store.findRefreshTokens([session.tokenHash]);
      expect(row && isLive(row)).toBe(true);
    });

    it('a rotation records the refreshing device on the successor and reports the previous one', async () => {
      const { store } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      // A session shorter than the refresh-token lifetime, so that its end caps a token.
      const session = await openSession(store, user, now, {
        remembered: true,
        acr: 'aal2',
        amr: ['pwd', 'otp'],
        sessionExpiresAt: later(now, 20 * DAY),
      });

      const [opened] = await store.findRefreshTokens([session.tokenHash]);
      expect(opened).toMatchObject({
        tokenHash: session.tokenHash,
        sessionId: session.sessionId,
        userId: user.id,
        clientId: CLIENT_ID,
        acr: 'aal2',
        amr: ['pwd', 'otp'],
        remembered: true,
        authTime: now,
        issuedAt: now,
        expiresAt: session.tokenExpiresAt,
        rotatedAt: null,
        revokedAt: null,
        ipAddress: '203.0.113.7',
        userAgent: 'ContractSuite/1.0 (first device)',
      });

      const at = later(now, minutes(5));
      const successorHash = newTokenHash();
      const grant = await store.rotateRefreshToken({
        presentedHash: session.tokenHash,
        successorHash,
        clientId: CLIENT_ID,
        now: at,
        notAfter: later(at, REFRESH_TTL_MS),
        device: device('198.51.100.9', 'ContractSuite/2.0 (new browser)'),
      });
      expect(grant).toMatchObject({
        sessionId: session.sessionId,
        acr: 'aal2',
        amr: ['pwd', 'otp'],
        remembered: true,
        authTime: now,
        expiresAt: later(at, REFRESH_TTL_MS),
        previousDevice: { ipAddress: '203.0.113.7', userAgent: 'ContractSuite/1.0 (first device)' },
      });
      const [successor] = await store.findRefreshTokens([successorHash]);
      expect(successor).toMatchObject({
        issuedAt: at,
        ipAddress: '198.51.100.9',
        userAgent: 'ContractSuite/2.0 (new browser)',
      });

      // A token never outlives its session; absent device facts keep the session's.
      const nearEnd = later(now, 7 * DAY); // + the token lifetime is past the session's end
      const keptHash = newTokenHash();
      const kept = await store.rotateRefreshToken({
        presentedHash: successorHash,
        successorHash: keptHash,
        clientId: CLIENT_ID,
        now: nearEnd,
        notAfter: later(nearEnd, REFRESH_TTL_MS),
        device: device(null, null),
      });
      expect(kept?.expiresAt).toEqual(session.sessionExpiresAt);
      // The store's LEAST(...) and the domain's rule agree on both sides of the cap.
      const ttl = { refreshTokenTtlMs: REFRESH_TTL_MS } as SessionPolicy;
      expect(kept?.expiresAt).toEqual(refreshTokenExpiry(nearEnd, session.sessionExpiresAt, ttl));
      expect(grant?.expiresAt).toEqual(refreshTokenExpiry(at, session.sessionExpiresAt, ttl));
      expect(kept?.previousDevice).toEqual({
        ipAddress: '198.51.100.9',
        userAgent: 'ContractSuite/2.0 (new browser)',
      });
      const [keptRow] = await store.findRefreshTokens([keptHash]);
      expect(keptRow).toMatchObject({
        ipAddress: '198.51.100.9',
        userAgent: 'ContractSuite/2.0 (new browser)',
      });
    });
  });

  describe('step-up racing rotation', () => {
    it('a step-up and a replay storm of the live token at once: the session keeps exactly one live token', async () => {
      const { store, parallel } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      const session = await openSession(store, user, now);
      const stepUpHash = newTokenHash();

      const [raised, attempts] = await Promise.all([
        store.reauthenticateSession({
          sessionId: session.sessionId,
          userId: user.id,
          tokenHash: stepUpHash,
          assurance: { acr: 'aal2', amr: ['pwd', 'otp'], authTime: now },
          now,
          notAfter: later(now, REFRESH_TTL_MS),
        }),
        all(parallel, () => rotate(store, session.tokenHash, now)),
      ]);

      // Never a fork: one live token, the step-up's if it went through, else the rotation's.
      // (That the step-up can miss a live session here is a known bug: see store-contract.test.ts.)
      const rotated = attempts.filter((attempt) => attempt.grant);
      expect(rotated.length).toBeLessThanOrEqual(1);
      if (raised) expect(raised).toMatchObject({ sessionId: session.sessionId, acr: 'aal2' });
      else expect(rotated).toHaveLength(1);
      const rows = await store.findRefreshTokens([
        session.tokenHash,
        stepUpHash,
        ...attempts.map((attempt) => attempt.successorHash),
      ]);
      expect(rows).toHaveLength(1 + (raised ? 1 : 0) + rotated.length);
      expect(rows.filter(isLive).map((row) => row.tokenHash)).toEqual([
        raised ? stepUpHash : rotated[0]!.successorHash,
      ]);
      expect(await store.listSessions(user.id, now)).toMatchObject([
        { id: session.sessionId, acr: raised ? 'aal2' : 'aal1' },
      ]);
    });
  });

  describe('revocation that a racing rotation cannot outlive', () => {
    it('revokeSession while the client keeps refreshing: no token of the session stays live', async () => {
      const { store } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      // Several sessions, each revoked on its own while its client refreshes: the revocation
      // lands at a different point of each client's rotations (a race is won by timing).
      const targets: NewSession[] = [];
      for (let i = 0; i < 8; i++) targets.push(await openSession(store, user, now));
      const bystander = await openSession(store, user, now);

      const race = (target: NewSession, i: number) => {
        const underway = signal();
        return Promise.all([
          refreshUntilRefused(store, target.tokenHash, now, {
            limit: 200,
            onRotation: (count) => count === 1 + (i % 3) && underway.resolve(),
          }),
          underway.promise.then(() =>
            store.revokeSession({
              sessionId: target.sessionId,
              userId: user.id,
              now,
              reason: 'revoked_by_user',
            }),
          ),
        ]);
      };
      const [other, ...outcomes] = await Promise.all([
        refreshUntilRefused(store, bystander.tokenHash, now, { limit: 20 }),
        ...targets.map(race),
      ]);

      for (const [i, [client, revoked]] of outcomes.entries()) {
        const target = targets[i]!;
        expect(revoked).toBe(true);
        // The client was cut off by the revocation, not by the test's bound.
        expect(client.refused).toBe(true);
        const rows = await store.findRefreshTokens([target.tokenHash, ...client.offered]);
        expect(rows.length).toBe(client.rotations + 1);
        // Every token of the session is revoked, successors inserted during the revocation included.
        expect(rows.filter((row) => row.revokedAt === null)).toEqual([]);
        expect((await rotate(store, client.held, now)).grant).toBeUndefined();
        expect(await store.isSessionLive(target.sessionId, user.id, now)).toBe(false);
      }

      // Each revocation was scoped to its session: the bystander rotated on and is live.
      expect(other.refused).toBe(false);
      const sessions = await store.listSessions(user.id, now);
      expect(sessions.map((view) => view.id)).toEqual([bystander.sessionId]);
    });

    it('revokeUserSessions while every device refreshes: only the kept session is live afterwards', async () => {
      const { store } = open();
      // One revocation, one moment: a few rounds, the revocation landing later in each.
      for (let round = 0; round < 3; round++) {
        const now = testMoment();
        const user = await createUser(store, now);
        const sessions: NewSession[] = [];
        for (let i = 0; i < 9; i++) sessions.push(await openSession(store, user, now));
        const [kept, ...others] = sessions;

        const underway = signal();
        let started = 0;
        const [revokedCount, ...clients] = await Promise.all([
          underway.promise.then(() =>
            store.revokeUserSessions({
              userId: user.id,
              now,
              reason: 'revoke_all',
              exceptSessionId: kept!.sessionId,
            }),
          ),
          refreshUntilRefused(store, kept!.tokenHash, now, { limit: 20 }),
          ...others.map((session) =>
            refreshUntilRefused(store, session.tokenHash, now, {
              limit: 200,
              onRotation: (count) => count === 1 + round && ++started === others.length && underway.resolve(),
            }),
          ),
        ]);

        expect(revokedCount).toBe(others.length);
        const [keptClient, ...cutOff] = clients;
        expect(keptClient!.refused).toBe(false);
        for (const [i, client] of cutOff.entries()) {
          expect(client.refused).toBe(true);
          const rows = await store.findRefreshTokens([others[i]!.tokenHash, ...client.offered]);
          expect(rows.filter((row) => row.revokedAt === null)).toEqual([]);
        }
        expect((await store.listSessions(user.id, now)).map((view) => view.id)).toEqual([kept!.sessionId]);
      }
    });

    it('a revocation racing a replay storm of the same token leaves nothing live', async () => {
      const { store, parallel } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      const session = await openSession(store, user, now);

      const [attempts] = await Promise.all([
        all(parallel, () => rotate(store, session.tokenHash, now)),
        store.revokeSession({ sessionId: session.sessionId, now, reason: 'reuse_detected' }),
      ]);

      expect(attempts.filter((attempt) => attempt.grant).length).toBeLessThanOrEqual(1);
      const rows = await store.findRefreshTokens([
        session.tokenHash,
        ...attempts.map((attempt) => attempt.successorHash),
      ]);
      expect(rows.filter((row) => row.revokedAt === null)).toEqual([]);
      expect(await store.isSessionLive(session.sessionId, user.id, now)).toBe(false);
    });
  });

  describe('the session limit under parallel logins', () => {
    const maxSessions = 3;

    it("N logins at once with onLimit 'evict': the user ends with at most the limit, the rest evicted", async () => {
      const { store, parallel } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      const attempts = Array.from({ length: parallel }, () => newSession(user.id, now));

      const results = await Promise.all(
        attempts.map((session) =>
          store.openSession(session, {
            maxSessions,
            verifiedPasswordHash: user.passwordHash,
            onLimit: 'evict',
          }),
        ),
      );

      const evicted = new Set<string>();
      for (const result of results) {
        if (typeof result === 'string') throw new Error(`a login was refused: ${result}`);
        for (const id of result.evictedSessionIds) evicted.add(id);
      }
      const live = (await store.listSessions(user.id, now)).map((view) => view.id);
      expect(live).toHaveLength(maxSessions);
      // Each login that was evicted was evicted once, and never one that is still live.
      expect(evicted.size).toBe(parallel - maxSessions);
      for (const id of live) expect(evicted.has(id)).toBe(false);
      const rows = await store.findRefreshTokens(attempts.map((session) => session.tokenHash));
      expect(rows.filter(isLive)).toHaveLength(maxSessions);
    });

    it("N logins at once with onLimit 'reject': exactly the free places open, the others are 'limit_reached'", async () => {
      const { store, parallel } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      const existing = await openSession(store, user, now);
      const attempts = Array.from({ length: parallel }, () => newSession(user.id, now));

      const results = await Promise.all(
        attempts.map((session) =>
          store.openSession(session, {
            maxSessions,
            verifiedPasswordHash: user.passwordHash,
            onLimit: 'reject',
          }),
        ),
      );

      const opened = attempts.filter((_, i) => typeof results[i] !== 'string');
      expect(opened).toHaveLength(maxSessions - 1);
      expect(tally(results.map((result) => (typeof result === 'string' ? result : 'opened')))).toEqual(
        new Map([
          ['opened', maxSessions - 1],
          ['limit_reached', parallel - maxSessions + 1],
        ]),
      );
      for (const result of results)
        if (typeof result !== 'string') expect(result.evictedSessionIds).toEqual([]);
      const live = (await store.listSessions(user.id, now)).map((view) => view.id).sort();
      expect(live).toEqual([existing.sessionId, ...opened.map((session) => session.sessionId)].sort());
    });
  });

  describe('a login held at the session limit is finished once', () => {
    it('one limit_token used N times at once: one session opened, one device signed out', async () => {
      const { store, parallel } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      const maxSessions = 3;
      const existing: NewSession[] = [];
      for (let i = 0; i < maxSessions; i++) existing.push(await openSession(store, user, now));
      const holdId = crypto.randomUUID();
      const holdHash = newTokenHash();
      await store.createLoginHold({
        id: holdId,
        tokenHash: holdHash,
        userId: user.id,
        clientId: CLIENT_ID,
        deviceName: 'phone',
        remembered: false,
        delivery: 'body',
        acr: 'aal1',
        amr: ['pwd'],
        authTime: now,
        ipAddress: '203.0.113.50',
        userAgent: 'ContractSuite/1.0 (held)',
        createdAt: now,
        expiresAt: later(now, minutes(5)),
      });
      expect(await store.findLoginHold(holdHash, now)).toMatchObject({ id: holdId, userId: user.id });

      // The attacker names a different device to sign out in each request.
      const at = later(now, minutes(1));
      const sessions = Array.from({ length: parallel }, () =>
        newSession(user.id, at, { deviceName: 'phone' }),
      );
      const results = await all(parallel, (i) =>
        store.completeLoginHold({
          holdId,
          revokeSessionId: existing[i % maxSessions]!.sessionId,
          session: sessions[i]!,
          maxSessions,
          now: at,
        }),
      );
      const outcomes = results.map((result) => (typeof result === 'string' ? result : 'ok'));

      expect(tally(outcomes)).toEqual(
        new Map([
          ['ok', 1],
          ['invalid_hold', parallel - 1],
        ]),
      );
      const winner = outcomes.indexOf('ok');
      const signedOut = existing[winner % maxSessions]!.sessionId;
      const live = (await store.listSessions(user.id, at)).map((view) => view.id).sort();
      expect(live).toEqual(
        [
          ...existing.map((session) => session.sessionId).filter((id) => id !== signedOut),
          sessions[winner]!.sessionId,
        ].sort(),
      );
      expect(await store.findLoginHold(holdHash, at)).toBeUndefined();
      expect(await store.dropLoginHold(holdId, at)).toBe(false);
    });

    it('a held login finished while other logins race at the limit: the limit is never exceeded', async () => {
      const { store, parallel } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      const maxSessions = 3;
      const existing: NewSession[] = [];
      for (let i = 0; i < maxSessions; i++) existing.push(await openSession(store, user, now));
      const holdId = crypto.randomUUID();
      await store.createLoginHold({
        id: holdId,
        tokenHash: newTokenHash(),
        userId: user.id,
        clientId: CLIENT_ID,
        deviceName: null,
        remembered: false,
        delivery: 'body',
        acr: 'aal1',
        amr: ['pwd'],
        authTime: now,
        ipAddress: null,
        userAgent: null,
        createdAt: now,
        expiresAt: later(now, minutes(5)),
      });
      const held = newSession(user.id, now);

      const [finished, ...logins] = await Promise.all([
        store.completeLoginHold({
          holdId,
          revokeSessionId: existing[0]!.sessionId,
          session: held,
          maxSessions,
          now,
        }),
        ...Array.from({ length: parallel }, () =>
          store.openSession(newSession(user.id, now), {
            maxSessions,
            verifiedPasswordHash: user.passwordHash,
            onLimit: 'reject',
          }),
        ),
      ]);

      // The hold signs one device out and takes its place in one step: no login slips in between.
      expect(finished).toEqual({ emailVerified: false });
      expect(logins).toEqual(Array.from({ length: parallel }, () => 'limit_reached'));
      const live = (await store.listSessions(user.id, now)).map((view) => view.id).sort();
      expect(live).toEqual([existing[1]!.sessionId, existing[2]!.sessionId, held.sessionId].sort());
    });

    it('a hold whose named session is gone changes nothing and stays usable', async () => {
      const { store } = open();
      const now = testMoment();
      const user = await createUser(store, now);
      const live = await openSession(store, user, now);
      const holdId = crypto.randomUUID();
      const holdHash = newTokenHash();
      await store.createLoginHold({
        id: holdId,
        tokenHash: holdHash,
        userId: user.id,
        clientId: CLIENT_ID,
        deviceName: null,
        remembered: false,
        delivery: 'cookie',
        acr: 'aal1',
        amr: ['pwd'],
        authTime: now,
        ipAddress: null,
        userAgent: null,
        createdAt: now,
        expiresAt: later(now, minutes(5)),
      });
      const session = newSession(user.id, now);
      const input = { holdId, session, maxSessions: 1, now };
      expect(await store.completeLoginHold({ ...input, revokeSessionId: crypto.randomUUID() })).toBe(
        'no_such_session',
      );
      expect(await store.findLoginHold(holdHash, now)).toBeDefined();
      expect(await store.completeLoginHold({ ...input, revokeSessionId: live.sessionId })).toEqual({
        emailVerified: false,
      });
      expect((await store.listSessions(user.id, now)).map((view) => view.id)).toEqual([session.sessionId]);
    });
  });
}
