import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { call, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, countingStore, type Latchkey, useDatabase } from '../support/harness.js';

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

const SECOND = 1000;
const DAY = 24 * 3600 * SECOND;

async function liveTokensOf(sessionId: string): Promise<number> {
  const result = await database.current.db.execute(
    sql`SELECT count(*)::int AS n FROM refresh_tokens
        WHERE session_id = ${sessionId} AND rotated_at IS NULL AND revoked_at IS NULL`,
  );
  return Number(rowsOf<{ n: number }>(result)[0]!.n);
}

async function eventsOf(userId: string, type: string): Promise<number> {
  const result = await database.current.db.execute(
    sql`SELECT count(*)::int AS n FROM security_events WHERE user_id = ${userId} AND type = ${type}`,
  );
  return Number(rowsOf<{ n: number }>(result)[0]!.n);
}

async function signedIn(extra: Record<string, unknown> = {}) {
  const user = await registerUser(lk.app);
  return { user, pair: await login(lk.app, user.email, extra) };
}

describe('normal use', () => {
  it('every refresh rotates the token and keeps the session and its claims', async () => {
    const { pair } = await signedIn({ client_id: 'mobile' });
    let token = pair.refresh_token;
    for (let i = 0; i < 3; i++) {
      lk.clock.advance(60 * SECOND);
      const res = await refresh(lk.app, token, { client_id: 'mobile' });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.json.refresh_token).not.toBe(token);
      expect(res.json.session_id).toBe(pair.session_id);
      token = res.json.refresh_token;
    }
    expect(await liveTokensOf(pair.session_id)).toBe(1);
  });

  it('a refresh in the common case costs one store call (one SQL statement)', async () => {
    const counts = new Map<string, number>();
    const counted = await buildLatchkey(database.current, {
      clock: lk.clock,
      wrapStore: (store) => countingStore(store, counts),
    });
    const user = await registerUser(counted.app);
    const pair = await login(counted.app, user.email);
    counts.clear();
    expect((await refresh(counted.app, pair.refresh_token)).status).toBe(200);
    expect(Object.fromEntries(counts)).toEqual({ rotateRefreshToken: 1 });
  });

  it('a refresh token lives 30 days from its last rotation, within the session lifetime', async () => {
    const { pair } = await signedIn({ remember: true });
    lk.clock.advance(29 * DAY);
    const kept = await refresh(lk.app, pair.refresh_token);
    expect(kept.status).toBe(200);
    expect(kept.json.refresh_token_expires_in).toBe(30 * 24 * 3600);
    lk.clock.advance(31 * DAY);
    const idle = await refresh(lk.app, kept.json.refresh_token);
    expect(idle.status).toBe(401);
    expect(idle.json.error).toBe('invalid_grant');
  });

  it('a remembered session ends at its 90-day absolute lifetime however often it refreshes', async () => {
    const { pair } = await signedIn({ remember: true });
    let token = pair.refresh_token;
    for (let day = 20; day < 90; day += 20) {
      lk.clock.advance(20 * DAY);
      const res = await refresh(lk.app, token);
      expect(res.status).toBe(200);
      token = res.json.refresh_token;
    }
    // Day 80: the next token may live only the 10 days left to the session, not 30.
    const last = await refresh(lk.app, token);
    expect(last.json.refresh_token_expires_in).toBe(10 * 24 * 3600);
    lk.clock.advance(10 * DAY + SECOND);
    expect((await refresh(lk.app, last.json.refresh_token)).json.error).toBe('invalid_grant');
  });

  it('a session that is not remembered ends after 24 hours', async () => {
    const { pair } = await signedIn();
    lk.clock.advance(23 * 3600 * SECOND);
    const res = await refresh(lk.app, pair.refresh_token);
    expect(res.status).toBe(200);
    lk.clock.advance(2 * 3600 * SECOND);
    expect((await refresh(lk.app, res.json.refresh_token)).json.error).toBe('invalid_grant');
  });

  it('a refresh token is bound to its client: another client_id gets invalid_grant and revokes nothing', async () => {
    const { pair } = await signedIn({ client_id: 'mobile' });
    const other = await refresh(lk.app, pair.refresh_token, { client_id: 'web' });
    expect(other.status).toBe(401);
    expect(other.json.error).toBe('invalid_grant');
    expect((await refresh(lk.app, pair.refresh_token, { client_id: 'mobile' })).status).toBe(200);
  });
});

describe('malicious reuse', () => {
  it('replaying a rotated token after the grace window revokes the whole session and records it', async () => {
    const { user, pair } = await signedIn();
    const next = await refresh(lk.app, pair.refresh_token);
    lk.clock.advance(11 * SECOND);
    const replay = await refresh(lk.app, pair.refresh_token);
    expect(replay.status).toBe(401);
    expect(replay.json.error).toBe('refresh_token_reused');
    // The legitimate holder's token dies with the family, and so does its access token.
    expect((await refresh(lk.app, next.json.refresh_token)).json.error).toBe('invalid_grant');
    expect((await call(lk.app, '/v1/users/me', { token: next.json.access_token })).status).toBe(401);
    expect(await liveTokensOf(pair.session_id)).toBe(0);
    expect(await eventsOf(user.id, 'refresh_token_reused')).toBe(1);
  });

  it('replaying any earlier token of the family is reuse, not only the last one', async () => {
    const { pair } = await signedIn();
    let token = pair.refresh_token;
    for (let i = 0; i < 3; i++) {
      lk.clock.advance(60 * SECOND);
      token = (await refresh(lk.app, token)).json.refresh_token;
    }
    lk.clock.advance(60 * SECOND);
    expect((await refresh(lk.app, pair.refresh_token)).json.error).toBe('refresh_token_reused');
    expect((await refresh(lk.app, token)).json.error).toBe('invalid_grant');
  });

  it('reuse in one session leaves the user’s other sessions alone', async () => {
    const { user, pair } = await signedIn();
    const other = await login(lk.app, user.email);
    await refresh(lk.app, pair.refresh_token);
    lk.clock.advance(11 * SECOND);
    expect((await refresh(lk.app, pair.refresh_token)).json.error).toBe('refresh_token_reused');
    expect((await refresh(lk.app, other.refresh_token)).status).toBe(200);
  });
});

describe('grace window', () => {
  it('a replay inside the window gets the same successor and forks nothing', async () => {
    const { pair } = await signedIn();
    const first = await refresh(lk.app, pair.refresh_token);
    lk.clock.advance(5 * SECOND);
    const second = await refresh(lk.app, pair.refresh_token);
    expect(second.status).toBe(200);
    expect(second.json.refresh_token).toBe(first.json.refresh_token);
    expect(await liveTokensOf(pair.session_id)).toBe(1);
    expect((await refresh(lk.app, first.json.refresh_token)).status).toBe(200);
  });

  it('a late replay inside the window gets the live token when the successor already rotated', async () => {
    const { pair } = await signedIn();
    const first = await refresh(lk.app, pair.refresh_token);
    lk.clock.advance(2 * SECOND);
    const second = await refresh(lk.app, first.json.refresh_token);
    lk.clock.advance(2 * SECOND);
    const late = await refresh(lk.app, pair.refresh_token);
    expect(late.status).toBe(200);
    expect(late.json.refresh_token).toBe(second.json.refresh_token);
    expect(await liveTokensOf(pair.session_id)).toBe(1);
  });

  it('a zero grace window makes every replay reuse', async () => {
    const strict = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { REFRESH_REUSE_GRACE: '0' },
    });
    const user = await registerUser(strict.app);
    const pair = await login(strict.app, user.email);
    await refresh(strict.app, pair.refresh_token);
    lk.clock.advance(1);
    expect((await refresh(strict.app, pair.refresh_token)).json.error).toBe('refresh_token_reused');
  });
});

describe('concurrent reuse', () => {
  it('16 parallel refreshes of one token all get the same successor; exactly one token stays valid', async () => {
    const { pair } = await signedIn();
    const results = await Promise.all(Array.from({ length: 16 }, () => refresh(lk.app, pair.refresh_token)));
    expect(results.map((res) => res.status)).toEqual(Array(16).fill(200));
    const successors = new Set(results.map((res) => res.json.refresh_token));
    expect(successors.size).toBe(1);
    expect(await liveTokensOf(pair.session_id)).toBe(1);
    const [successor] = [...successors];
    expect((await refresh(lk.app, successor as string)).status).toBe(200);
  });

  it('parallel refreshes along a chain never leave two live tokens', async () => {
    const { pair } = await signedIn();
    const first = await refresh(lk.app, pair.refresh_token);
    const results = await Promise.all([
      ...Array.from({ length: 6 }, () => refresh(lk.app, pair.refresh_token)),
      ...Array.from({ length: 6 }, () => refresh(lk.app, first.json.refresh_token)),
    ]);
    expect(results.every((res) => res.status === 200)).toBe(true);
    expect(await liveTokensOf(pair.session_id)).toBe(1);
    // A replay of the first token ordered before the second one's rotation commits is
    // rightly answered with the second token, live when it was read; one ordered after gets
    // the third. So the answers name at most two tokens, the live one and the one just
    // before it, and each still leads to the session: no fork, nothing lost.
    const holders = [...new Set(results.map((res) => res.json.refresh_token as string))];
    expect(holders.length).toBeLessThanOrEqual(2);
    const again = await Promise.all(holders.map((token) => refresh(lk.app, token)));
    expect(again.map((res) => res.status)).toEqual(holders.map(() => 200));
    expect(await liveTokensOf(pair.session_id)).toBe(1);
  });

  it('a revocation racing parallel refreshes leaves no live token behind', async () => {
    const { pair } = await signedIn();
    const requests = [
      ...Array.from({ length: 12 }, () => refresh(lk.app, pair.refresh_token)),
      call(lk.app, `/v1/sessions/${pair.session_id}`, { method: 'DELETE', token: pair.access_token }),
    ];
    await Promise.all(requests);
    expect(await liveTokensOf(pair.session_id)).toBe(0);
  });
});

describe('fail to save', () => {
  it('when the rotation cannot be written the old token still works and nothing is half-written', async () => {
    const { pair } = await signedIn();
    const broken = await buildLatchkey(database.current, {
      clock: lk.clock,
      wrapStore: (store) => ({
        ...store,
        rotateRefreshToken: () =>
          Promise.reject(Object.assign(new Error('connection lost'), { code: 'ECONNRESET' })),
      }),
    });
    const failed = await refresh(broken.app, pair.refresh_token);
    expect(failed.status).toBe(503);
    expect(failed.json.error).toBe('temporarily_unavailable');
    expect(JSON.stringify(failed.json)).not.toMatch(/at |Error:/);
    expect((await refresh(lk.app, pair.refresh_token)).status).toBe(200);
    expect(await liveTokensOf(pair.session_id)).toBe(1);
  });
});
