import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/database.js';
import { call, decodeJwtPart, login, refresh, registerUser, type TokenPair } from './support/client.js';
import { openTestDatabase, type TestDatabase } from './support/database.js';
import { buildLatchkey, type Latchkey, TestClock } from './support/harness.js';

/**
 * Everything Latchkey needs to keep across a restart lives in the database: users, sessions,
 * refresh-token families (with their rotation history) and the signing keys. A "restart"
 * here closes the database connection, opens it again and builds a new app with a new key
 * ring over it, as the entry point does; only the (test) clock carries over.
 */

const SECOND = 1000;

let dataDir: string;
let database: TestDatabase;
let lk: Latchkey;
const clock = new TestClock();

async function restart(): Promise<void> {
  await database.reopen();
  lk = await buildLatchkey(database, { clock });
}

async function signingKeyCount(): Promise<number> {
  const result = await database.db.execute(sql`SELECT count(*)::int AS n FROM signing_keys`);
  return Number(rowsOf<{ n: number }>(result)[0]!.n);
}

const kidsOf = (jwks: { keys: Array<{ kid: string }> }) => jwks.keys.map((key) => key.kid).sort();

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'latchkey-durability-'));
  database = await openTestDatabase({ dataDir });
  lk = await buildLatchkey(database, { clock });
});

afterAll(async () => {
  await database?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('restart durability of users, sessions and keys', () => {
  let user: { email: string; password: string; id: string };
  let pair: TokenPair;
  /** A pair whose first refresh token was rotated before the restart. */
  let rotated: { original: TokenPair; successor: TokenPair };
  /** A pair rotated just before the restart, still inside the grace window after it. */
  let recent: { original: TokenPair; successor: TokenPair };
  let kidBefore: string;
  let jwksBefore: string[];

  beforeAll(async () => {
    user = await registerUser(lk.app);
    pair = await login(lk.app, user.email, { device_name: 'Ada’s laptop' });
    kidBefore = decodeJwtPart(pair.access_token, 0).kid;
    jwksBefore = kidsOf((await call(lk.app, '/.well-known/jwks.json')).json);

    const first = await login(lk.app, user.email, { device_name: 'phone' });
    const firstNext = await refresh(lk.app, first.refresh_token);
    expect(firstNext.status).toBe(200);
    rotated = { original: first, successor: firstNext.json };

    clock.advance(60 * SECOND);
    const second = await login(lk.app, user.email, { device_name: 'tablet' });
    const secondNext = await refresh(lk.app, second.refresh_token);
    expect(secondNext.status).toBe(200);
    recent = { original: second, successor: secondNext.json };

    await restart();
  });

  it('keeps the user: the same password still logs in', async () => {
    const res = await call(lk.app, '/v1/auth/login', {
      body: { email: user.email, password: user.password },
    });
    expect(res.status).toBe(200);
    expect(decodeJwtPart(res.json.access_token, 1).sub).toBe(user.id);
    expect(res.json.refresh_token).toMatch(/^lkr_/);
  });

  it('keeps the signing key: no new key, the same kid in JWKS and on new tokens', async () => {
    expect(await signingKeyCount()).toBe(1);
    const jwks = await call(lk.app, '/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    expect(kidsOf(jwks.json)).toEqual(jwksBefore);
    expect(jwksBefore).toEqual([kidBefore]);
    const fresh = await login(lk.app, user.email);
    expect(decodeJwtPart(fresh.access_token, 0).kid).toBe(kidBefore);
  });

  it('a pre-restart access token still opens /v1/users/me', async () => {
    const me = await call(lk.app, '/v1/users/me', { token: pair.access_token });
    expect(me.status).toBe(200);
    expect(me.json.user).toMatchObject({ id: user.id, email: user.email });
  });

  it('the pre-restart session is still listed with its device details', async () => {
    const res = await call(lk.app, '/v1/sessions', { token: pair.access_token });
    expect(res.status).toBe(200);
    const mine = res.json.sessions.find((session: { id: string }) => session.id === pair.session_id);
    expect(mine).toMatchObject({ id: pair.session_id, device_name: 'Ada’s laptop', current: true });
    const ids = res.json.sessions.map((session: { id: string }) => session.id);
    expect(ids).toEqual(expect.arrayContaining([rotated.original.session_id, recent.original.session_id]));
  });

  it('a replay inside the grace window across the restart gets the same successor', async () => {
    // Rotated 0 s before the restart on the test clock: still inside the 10 s window.
    const replay = await refresh(lk.app, recent.original.refresh_token);
    expect(replay.status).toBe(200);
    expect(replay.json.refresh_token).toBe(recent.successor.refresh_token);
    expect(replay.json.session_id).toBe(recent.original.session_id);
  });

  it('the pre-restart refresh token still refreshes, and keeps its session', async () => {
    const res = await refresh(lk.app, pair.refresh_token);
    expect(res.status).toBe(200);
    expect(res.json.session_id).toBe(pair.session_id);
    expect(res.json.refresh_token).not.toBe(pair.refresh_token);
    const me = await call(lk.app, '/v1/users/me', { token: res.json.access_token });
    expect(me.status).toBe(200);
    pair = res.json;
  });

  it('a token rotated before the restart and replayed after the grace window is reuse', async () => {
    clock.advance(11 * SECOND);
    const replay = await refresh(lk.app, rotated.original.refresh_token);
    expect(replay.status).toBe(401);
    expect(replay.json.error).toBe('refresh_token_reused');
    // The whole family died: the legitimate successor and its access token too.
    expect((await refresh(lk.app, rotated.successor.refresh_token)).json.error).toBe('invalid_grant');
    const me = await call(lk.app, '/v1/users/me', { token: rotated.successor.access_token });
    expect(me.status).toBe(401);
    expect(me.json.error).toBe('invalid_token');
    // Other sessions of the user live on.
    expect((await call(lk.app, '/v1/users/me', { token: pair.access_token })).status).toBe(200);
  });

  it('a second restart keeps the refreshed session, the revocation and the key', async () => {
    await restart();
    expect(await signingKeyCount()).toBe(1);
    expect(kidsOf((await call(lk.app, '/.well-known/jwks.json')).json)).toEqual([kidBefore]);

    const sessions = await call(lk.app, '/v1/sessions', { token: pair.access_token });
    expect(sessions.status).toBe(200);
    const ids = sessions.json.sessions.map((session: { id: string }) => session.id);
    expect(ids).toContain(pair.session_id);
    expect(ids).not.toContain(rotated.original.session_id);

    expect((await refresh(lk.app, rotated.successor.refresh_token)).json.error).toBe('invalid_grant');
    const next = await refresh(lk.app, pair.refresh_token);
    expect(next.status).toBe(200);
    expect(next.json.session_id).toBe(pair.session_id);
  });

  it('the reuse was recorded as a security event that outlives the restart', async () => {
    const result = await database.db.execute(
      sql`SELECT count(*)::int AS n FROM security_events
          WHERE user_id = ${user.id} AND type = 'refresh_token_reused'`,
    );
    expect(Number(rowsOf<{ n: number }>(result)[0]!.n)).toBe(1);
  });
});
