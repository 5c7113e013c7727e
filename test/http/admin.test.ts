import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { call, decodeJwtPart, login, refresh, registerUser, type TokenPair } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, uniqueEmail, useDatabase } from '../support/harness.js';
import { totpCode } from '../support/totp.js';

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

const SECOND = 1000;
const STEP = 30 * SECOND;

const USER_FIELDS = [
  'created_at',
  'disabled',
  'disabled_at',
  'email',
  'id',
  'live_sessions',
  'mfa_enabled',
  'name',
  'role',
];

const ANALYTICS_FIELDS = [
  'active_sessions',
  'days',
  'generated_at',
  'logins_by_country',
  'logins_by_device_family',
  'reuse_detections_per_day',
  'session_durations',
  'sessions_created_per_day',
  'since',
  'throttled_per_day',
];

// ---------------------------------------------------------------------------------------------
// Helpers over the HTTP API.
// ---------------------------------------------------------------------------------------------

const claimsOf = (accessToken: string) => decodeJwtPart(accessToken, 1);

/** The TOTP code of `secret` one time step later (each code is accepted once per factor). */
function nextCode(secret: string): string {
  lk.clock.advance(STEP);
  return totpCode(secret, Math.floor(lk.clock.now().getTime() / 1000));
}

interface Account {
  id: string;
  email: string;
}

interface MfaAccount extends Account {
  secret: string;
  /** The aal1 session that activated TOTP, still live. */
  activating: TokenPair;
}

interface AdminSession extends MfaAccount {
  /** An aal2 session, opened by an MFA login. */
  pair: TokenPair;
  token: string;
}

/** A registered user with TOTP active. */
async function userWithMfa(): Promise<MfaAccount> {
  const user = await registerUser(lk.app);
  const activating = await login(lk.app, user.email);
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', {
    method: 'POST',
    token: activating.access_token,
  });
  expect(enrolled.status).toBe(200);
  const secret: string = enrolled.json.secret;
  const activated = await call(lk.app, '/v1/mfa/totp/activate', {
    body: { code: totpCode(secret, Math.floor(lk.clock.now().getTime() / 1000)) },
    token: activating.access_token,
  });
  expect(activated.status).toBe(200);
  return { id: user.id, email: user.email, secret, activating };
}

/** The first step of a login of a user with MFA: the `mfa_token`. */
async function mfaToken(email: string): Promise<string> {
  const res = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
  expect(res.status).toBe(200);
  expect(res.json.mfa_required).toBe(true);
  return res.json.mfa_token;
}

/** A full MFA login with a fresh TOTP code: an aal2 session. */
async function loginWithCode(email: string, secret: string): Promise<TokenPair> {
  const token = await mfaToken(email);
  const res = await call(lk.app, '/v1/auth/login/mfa', {
    body: { mfa_token: token, code: nextCode(secret) },
  });
  expect(res.status).toBe(200);
  expect(claimsOf(res.json.access_token).acr).toBe('aal2');
  return res.json;
}

/** A user with TOTP and an aal2 session; `admin` role granted by the store unless told otherwise. */
async function aal2Session(role: 'admin' | 'user' = 'admin'): Promise<AdminSession> {
  const account = await userWithMfa();
  if (role === 'admin') expect(await lk.store.setUserRole(account.id, 'admin')).toBe(true);
  const pair = await loginWithCode(account.email, account.secret);
  return { ...account, pair, token: pair.access_token };
}

const adminSession = () => aal2Session('admin');

/** A request to /v1/admin/*. */
const admin = (token: string | undefined, path: string, method = 'GET') =>
  call(lk.app, `/v1/admin${path}`, { method, ...(token ? { token } : {}) });

function expectError(
  res: { status: number; json: { error?: string; error_description?: string } },
  status: number,
  error: string,
) {
  expect(res.status).toBe(status);
  expect(res.json.error).toBe(error);
  expect(typeof res.json.error_description).toBe('string');
}

async function expectRefreshRefused(refreshToken: string) {
  const res = await refresh(lk.app, refreshToken);
  expect(res.status).toBe(401);
  expect(res.json.error).toBe('invalid_grant');
}

async function expectAccessRefused(accessToken: string) {
  const res = await call(lk.app, '/v1/users/me', { token: accessToken });
  expect(res.status).toBe(401);
  expect(res.json.error).toBe('invalid_token');
}

async function expectAccessWorks(accessToken: string) {
  expect((await call(lk.app, '/v1/users/me', { token: accessToken })).status).toBe(200);
}

const passwordLogin = (email: string, password = PASSWORD) =>
  call(lk.app, '/v1/auth/login', { body: { email, password } });

/** The user's security events of one type, oldest first, read from the database. */
async function eventsOf(userId: string, type: string) {
  const result = await database.current.db.execute(
    sql`SELECT session_id, details FROM security_events
        WHERE user_id = ${userId} AND type = ${type} ORDER BY created_at`,
  );
  return rowsOf<{ session_id: string | null; details: Record<string, unknown> | null }>(result);
}

/** Exactly one event of `type` on the target's log, naming the admin and its session. */
async function expectAdminEvent(
  target: Account,
  type: string,
  by: AdminSession,
  details: Record<string, unknown> = {},
) {
  const events = await eventsOf(target.id, type);
  expect(events).toHaveLength(1);
  expect(events[0]!.details).toEqual({
    admin_id: by.id,
    admin_session_id: by.pair.session_id,
    ...details,
  });
  return events[0]!;
}

async function adminEventCount(userId: string): Promise<number> {
  const result = await database.current.db.execute(
    sql`SELECT count(*)::int AS n FROM security_events WHERE user_id = ${userId} AND type LIKE 'admin%'`,
  );
  return Number(rowsOf<{ n: number }>(result)[0]!.n);
}

/** A prefix of emails that only this call hands out, and `count` users under it (a., b., …). */
async function usersUnder(count: number) {
  const prefix = `${uniqueEmail('search').split('@')[0]}.`;
  const users: Account[] = [];
  for (const letter of 'abcdefghij'.slice(0, count)) {
    users.push(await registerUser(lk.app, `${prefix}${letter}@example.com`));
  }
  return { prefix, users };
}

// ---------------------------------------------------------------------------------------------

describe('the guard', () => {
  let target: MfaAccount;
  let targetSession: TokenPair;
  const routes = (): [string, string][] => [
    ['GET', '/users'],
    ['GET', `/users/${target.id}`],
    ['GET', `/users/${target.id}/sessions`],
    ['DELETE', `/users/${target.id}/sessions/${targetSession.session_id}`],
    ['POST', `/users/${target.id}/sessions/revoke-all`],
    ['POST', `/users/${target.id}/disable`],
    ['POST', `/users/${target.id}/enable`],
    ['DELETE', `/users/${target.id}/mfa`],
    ['GET', '/analytics'],
  ];

  beforeAll(async () => {
    target = await userWithMfa();
    targetSession = await loginWithCode(target.email, target.secret);
  });

  it('refuses a request without a Bearer token, or with a garbage one: 401 invalid_token', async () => {
    for (const [method, path] of routes()) {
      const missing = await admin(undefined, path, method);
      expectError(missing, 401, 'invalid_token');
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
      expectError(await admin('not-a-jwt', path, method), 401, 'invalid_token');
    }
  });

  it('asks an admin at aal1 for acr_values="aal2" (RFC 9470)', async () => {
    const user = await registerUser(lk.app);
    await lk.store.setUserRole(user.id, 'admin');
    const pair = await login(lk.app, user.email);
    expect(claimsOf(pair.access_token).acr).toBe('aal1');
    for (const [method, path] of routes()) {
      const res = await admin(pair.access_token, path, method);
      expectError(res, 401, 'insufficient_user_authentication');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="insufficient_user_authentication"/);
      expect(res.headers.get('www-authenticate')).toContain('acr_values="aal2"');
    }
  });

  it('refuses an aal2 session of a user who is not an admin: 403 forbidden', async () => {
    const user = await aal2Session('user');
    for (const [method, path] of routes()) {
      expectError(await admin(user.token, path, method), 403, 'forbidden');
    }
  });

  it('changed nothing for the target while refusing', async () => {
    await expectAccessWorks(targetSession.access_token);
    const me = await call(lk.app, '/v1/users/me', { token: targetSession.access_token });
    expect(me.json.user.mfa_enabled).toBe(true);
    expect((await refresh(lk.app, targetSession.refresh_token)).status).toBe(200);
    expect(await adminEventCount(target.id)).toBe(0);
  });

  it('reads the role on every request: a demoted admin is refused at once with the same token', async () => {
    const boss = await adminSession();
    expect((await admin(boss.token, '/users?limit=1')).status).toBe(200);
    expect(await lk.store.setUserRole(boss.id, 'user')).toBe(true);
    expectError(await admin(boss.token, '/users?limit=1'), 403, 'forbidden');
  });

  it('refuses a disabled admin: 403 forbidden, and the admin disabled by another has no session left', async () => {
    // An account disabled behind the API's back keeps its session: the role check still refuses it.
    const stale = await adminSession();
    await database.current.db.execute(
      sql`UPDATE users SET disabled_at = ${lk.clock.now().toISOString()} WHERE id = ${stale.id}`,
    );
    expectError(await admin(stale.token, '/users?limit=1'), 403, 'forbidden');

    // Through the API, disabling revokes the sessions: the token is refused before the role check.
    const boss = await adminSession();
    const other = await adminSession();
    expect((await admin(boss.token, `/users/${other.id}/disable`, 'POST')).status).toBe(200);
    expectError(await admin(other.token, '/users?limit=1'), 401, 'invalid_token');
  });
});

describe('GET /v1/admin/users', () => {
  it('shows each user with the documented fields', async () => {
    const boss = await adminSession();
    const email = uniqueEmail('named');
    const registeredAt = lk.clock.now();
    const created = await call(lk.app, '/v1/auth/register', {
      body: { email, password: PASSWORD, name: 'Ada' },
    });
    expect(created.status).toBe(201);
    const id: string = created.json.user.id;

    const res = await admin(boss.token, `/users?q=${encodeURIComponent(email)}`);
    expect(res.status).toBe(200);
    expect(res.json.next_cursor).toBeNull();
    expect(res.json.users).toHaveLength(1);
    const [user] = res.json.users;
    expect(Object.keys(user).sort()).toEqual(USER_FIELDS);
    expect(user).toEqual({
      id,
      email,
      name: 'Ada',
      role: 'user',
      mfa_enabled: false,
      disabled: false,
      disabled_at: null,
      created_at: registeredAt.toISOString(),
      live_sessions: 0,
    });

    const self = await admin(boss.token, `/users?q=${boss.id}`);
    expect(self.json.users).toEqual([
      expect.objectContaining({ id: boss.id, email: boss.email, role: 'admin', mfa_enabled: true }),
    ]);
  });

  it('counts live sessions in live_sessions, here and in GET /users/:id, without revoked ones', async () => {
    const boss = await adminSession();
    const target = await registerUser(lk.app);
    const first = await login(lk.app, target.email);
    await login(lk.app, target.email);
    await login(lk.app, target.email);
    const count = async () => {
      const found = await admin(boss.token, `/users?q=${target.id}`);
      const one = await admin(boss.token, `/users/${target.id}`);
      expect(found.json.users[0].live_sessions).toBe(one.json.user.live_sessions);
      return one.json.user.live_sessions;
    };
    expect(await count()).toBe(3);
    expect(
      (await admin(boss.token, `/users/${target.id}/sessions/${first.session_id}`, 'DELETE')).status,
    ).toBe(204);
    expect(await count()).toBe(2);
  });

  it('finds by email prefix, case-insensitively, in email order', async () => {
    const boss = await adminSession();
    const { prefix, users } = await usersUnder(3);
    const res = await admin(boss.token, `/users?q=${encodeURIComponent(prefix.toUpperCase())}`);
    expect(res.status).toBe(200);
    expect(res.json.users.map((user: Account) => user.email)).toEqual(users.map((user) => user.email));
    expect(res.json.next_cursor).toBeNull();

    const narrower = await admin(boss.token, `/users?q=${encodeURIComponent(`${prefix}B`)}`);
    expect(narrower.json.users.map((user: Account) => user.id)).toEqual([users[1]!.id]);

    const none = await admin(boss.token, `/users?q=${encodeURIComponent(`${prefix}z`)}`);
    expect(none.status).toBe(200);
    expect(none.json).toEqual({ users: [], next_cursor: null });
  });

  it('takes % and _ in the prefix literally', async () => {
    const boss = await adminSession();
    const base = uniqueEmail('like').split('@')[0]!;
    const underscore = await registerUser(lk.app, `${base}_1@example.com`);
    const percent = await registerUser(lk.app, `${base}%1@example.com`);
    const plain = await registerUser(lk.app, `${base}x1@example.com`);

    const byUnderscore = await admin(boss.token, `/users?q=${encodeURIComponent(`${base}_`)}`);
    expect(byUnderscore.json.users.map((user: Account) => user.id)).toEqual([underscore.id]);
    const byPercent = await admin(boss.token, `/users?q=${encodeURIComponent(`${base}%`)}`);
    expect(byPercent.json.users.map((user: Account) => user.id)).toEqual([percent.id]);
    const all = await admin(boss.token, `/users?q=${encodeURIComponent(base)}`);
    expect(all.json.users.map((user: Account) => user.id).sort()).toEqual(
      [underscore.id, percent.id, plain.id].sort(),
    );
  });

  it('finds a user by exact id, in any case', async () => {
    const boss = await adminSession();
    const user = await registerUser(lk.app);
    for (const q of [user.id, user.id.toUpperCase()]) {
      const res = await admin(boss.token, `/users?q=${q}`);
      expect(res.status).toBe(200);
      expect(res.json.users.map((found: Account) => found.id)).toEqual([user.id]);
    }
    const unknown = await admin(boss.token, `/users?q=${crypto.randomUUID()}`);
    expect(unknown.json).toEqual({ users: [], next_cursor: null });
  });

  it('pages by email with next_cursor, without gaps or repeats', async () => {
    const boss = await adminSession();
    const { prefix, users } = await usersUnder(5);
    const q = encodeURIComponent(prefix);

    const first = await admin(boss.token, `/users?q=${q}&limit=2`);
    expect(first.json.users.map((user: Account) => user.id)).toEqual([users[0]!.id, users[1]!.id]);
    expect(typeof first.json.next_cursor).toBe('string');
    const second = await admin(boss.token, `/users?q=${q}&limit=2&cursor=${first.json.next_cursor}`);
    expect(second.json.users.map((user: Account) => user.id)).toEqual([users[2]!.id, users[3]!.id]);
    const third = await admin(boss.token, `/users?q=${q}&limit=2&cursor=${second.json.next_cursor}`);
    expect(third.json.users.map((user: Account) => user.id)).toEqual([users[4]!.id]);
    expect(third.json.next_cursor).toBeNull();

    // A page that ends exactly at the last match has no next page either.
    const exact = await admin(boss.token, `/users?q=${q}&limit=5`);
    expect(exact.json.users).toHaveLength(5);
    expect(exact.json.next_cursor).toBeNull();
  });

  it('without q, pages through every user in email order', async () => {
    const boss = await adminSession();
    await usersUnder(3);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await admin(boss.token, `/users?limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.json.users.length).toBeLessThanOrEqual(7);
      seen.push(...res.json.users.map((user: Account) => user.id));
      cursor = res.json.next_cursor;
    } while (cursor);
    const expected = rowsOf<{ id: string }>(
      await database.current.db.execute(sql`SELECT id FROM users ORDER BY email`),
    ).map((row) => row.id);
    expect(seen).toEqual(expected);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it.each([
    ['limit=0', 'limit=0'],
    ['limit=101', 'limit=101'],
    ['limit=abc', 'limit=abc'],
    ['limit=1.5', 'limit=1.5'],
    ['limit=-1', 'limit=-1'],
    ['a q of 321 characters', `q=${'a'.repeat(321)}`],
  ])('answers 400 invalid_request to %s', async (_label, query) => {
    const boss = await adminSession();
    expectError(await admin(boss.token, `/users?${query}`), 400, 'invalid_request');
  });

  it('accepts limit 1 and 100', async () => {
    const boss = await adminSession();
    const one = await admin(boss.token, '/users?limit=1');
    expect(one.status).toBe(200);
    expect(one.json.users).toHaveLength(1);
    expect((await admin(boss.token, '/users?limit=100')).status).toBe(200);
  });

  it.each([
    ['not base64url', '***'],
    ['not UTF-8', Buffer.from([0xff, 0xfe]).toString('base64url')],
  ])('answers 400 invalid_request to a cursor that is %s', async (_label, cursor) => {
    const boss = await adminSession();
    expectError(
      await admin(boss.token, `/users?cursor=${encodeURIComponent(cursor)}`),
      400,
      'invalid_request',
    );
  });
});

describe('GET /v1/admin/users/:id', () => {
  it('returns the user', async () => {
    const boss = await adminSession();
    const target = await userWithMfa();
    const res = await admin(boss.token, `/users/${target.id}`);
    expect(res.status).toBe(200);
    expect(Object.keys(res.json)).toEqual(['user']);
    expect(Object.keys(res.json.user).sort()).toEqual(USER_FIELDS);
    expect(res.json.user).toMatchObject({
      id: target.id,
      email: target.email,
      role: 'user',
      mfa_enabled: true,
      disabled: false,
      disabled_at: null,
    });
  });

  it.each([
    ['an unknown id', () => crypto.randomUUID()],
    ['a malformed id', () => 'not-a-uuid'],
    ['an email', () => 'someone@example.com'],
  ])('answers 404 not_found to %s', async (_label, id) => {
    const boss = await adminSession();
    expectError(await admin(boss.token, `/users/${encodeURIComponent(id())}`), 404, 'not_found');
  });
});

describe('GET /v1/admin/users/:id/sessions', () => {
  it("lists the user's live sessions, none marked current", async () => {
    const boss = await adminSession();
    const target = await registerUser(lk.app);
    const laptop = await login(lk.app, target.email, { device_name: 'Laptop', remember: true });
    lk.clock.advance(10 * SECOND);
    const phone = await login(lk.app, target.email, { device_name: 'Phone' });

    const res = await admin(boss.token, `/users/${target.id}/sessions`);
    expect(res.status).toBe(200);
    const sessions = res.json.sessions;
    expect(sessions.map((session: { id: string }) => session.id)).toEqual([
      phone.session_id,
      laptop.session_id,
    ]);
    expect(sessions[0]).toMatchObject({
      device_name: 'Phone',
      current: false,
      remembered: false,
      acr: 'aal1',
    });
    expect(sessions[1]).toMatchObject({
      device_name: 'Laptop',
      current: false,
      remembered: true,
      acr: 'aal1',
    });
    for (const session of sessions) {
      expect(session).toHaveProperty('created_at');
      expect(session).toHaveProperty('last_active_at');
      expect(session).toHaveProperty('expires_at');
    }
  });

  it("marks the admin's own session current when listing the admin", async () => {
    const boss = await adminSession();
    const res = await admin(boss.token, `/users/${boss.id}/sessions`);
    expect(res.status).toBe(200);
    const byId = new Map(res.json.sessions.map((session: { id: string }) => [session.id, session]));
    expect(byId.get(boss.pair.session_id)).toMatchObject({ current: true, acr: 'aal2' });
    expect(byId.get(boss.activating.session_id)).toMatchObject({ current: false });
  });

  it('answers 404 for an unknown or malformed user id', async () => {
    const boss = await adminSession();
    expectError(await admin(boss.token, `/users/${crypto.randomUUID()}/sessions`), 404, 'not_found');
    expectError(await admin(boss.token, '/users/nope/sessions'), 404, 'not_found');
  });
});

describe('DELETE /v1/admin/users/:id/sessions/:session_id', () => {
  it('revokes that session only, and records admin_session_revoked naming the admin', async () => {
    const boss = await adminSession();
    const target = await registerUser(lk.app);
    const doomed = await login(lk.app, target.email);
    const kept = await login(lk.app, target.email);

    const res = await admin(boss.token, `/users/${target.id}/sessions/${doomed.session_id}`, 'DELETE');
    expect(res.status).toBe(204);
    expect(res.json).toBeUndefined();

    await expectRefreshRefused(doomed.refresh_token);
    await expectAccessRefused(doomed.access_token);
    await expectAccessWorks(kept.access_token);
    expect((await refresh(lk.app, kept.refresh_token)).status).toBe(200);

    const event = await expectAdminEvent(target, 'admin_session_revoked', boss);
    expect(event.session_id).toBe(doomed.session_id);
    const listed = await admin(boss.token, `/users/${target.id}/sessions`);
    expect(listed.json.sessions.map((session: { id: string }) => session.id)).toEqual([kept.session_id]);
  });

  it('answers 404 to an unknown, malformed, already revoked or other user’s session, and records nothing', async () => {
    const boss = await adminSession();
    const target = await registerUser(lk.app);
    const other = await registerUser(lk.app);
    const session = await login(lk.app, target.email);
    const othersSession = await login(lk.app, other.email);

    for (const path of [
      `/users/${target.id}/sessions/${crypto.randomUUID()}`,
      `/users/${target.id}/sessions/not-a-uuid`,
      `/users/${target.id}/sessions/${othersSession.session_id}`,
      `/users/${crypto.randomUUID()}/sessions/${session.session_id}`,
    ]) {
      expectError(await admin(boss.token, path, 'DELETE'), 404, 'not_found');
    }
    await expectAccessWorks(othersSession.access_token);
    await expectAccessWorks(session.access_token);
    expect(await adminEventCount(target.id)).toBe(0);
    expect(await adminEventCount(other.id)).toBe(0);

    const path = `/users/${target.id}/sessions/${session.session_id}`;
    expect((await admin(boss.token, path, 'DELETE')).status).toBe(204);
    expectError(await admin(boss.token, path, 'DELETE'), 404, 'not_found');
    expect(await eventsOf(target.id, 'admin_session_revoked')).toHaveLength(1);
  });
});

describe('POST /v1/admin/users/:id/sessions/revoke-all', () => {
  it('revokes every session, answers the count, and records admin_sessions_revoked', async () => {
    const boss = await adminSession();
    const target = await registerUser(lk.app);
    const pairs = [
      await login(lk.app, target.email),
      await login(lk.app, target.email),
      await login(lk.app, target.email),
    ];

    const res = await admin(boss.token, `/users/${target.id}/sessions/revoke-all`, 'POST');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ revoked: 3 });
    for (const pair of pairs) {
      await expectRefreshRefused(pair.refresh_token);
      await expectAccessRefused(pair.access_token);
    }
    await expectAdminEvent(target, 'admin_sessions_revoked', boss, { revoked: 3 });
    expect((await admin(boss.token, `/users/${target.id}`)).json.user.live_sessions).toBe(0);
    // The account itself is untouched: the user logs in again.
    expect((await passwordLogin(target.email)).status).toBe(200);
  });

  it('answers revoked 0 for a user without sessions, and 404 for an unknown user', async () => {
    const boss = await adminSession();
    const target = await registerUser(lk.app);
    const res = await admin(boss.token, `/users/${target.id}/sessions/revoke-all`, 'POST');
    expect(res.json).toEqual({ revoked: 0 });
    await expectAdminEvent(target, 'admin_sessions_revoked', boss, { revoked: 0 });
    expectError(
      await admin(boss.token, `/users/${crypto.randomUUID()}/sessions/revoke-all`, 'POST'),
      404,
      'not_found',
    );
  });
});

describe('POST /v1/admin/users/:id/disable and /enable', () => {
  it('disables: revokes every session, refuses the right password with 403 account_disabled', async () => {
    const boss = await adminSession();
    const target = await registerUser(lk.app);
    const pairs = [await login(lk.app, target.email), await login(lk.app, target.email)];
    const disabledAt = lk.clock.now();

    const res = await admin(boss.token, `/users/${target.id}/disable`, 'POST');
    expect(res.status).toBe(200);
    expect(res.json.revoked).toBe(2);
    expect(Object.keys(res.json.user).sort()).toEqual(USER_FIELDS);
    expect(res.json.user).toMatchObject({
      id: target.id,
      disabled: true,
      disabled_at: disabledAt.toISOString(),
      live_sessions: 0,
    });
    for (const pair of pairs) {
      await expectRefreshRefused(pair.refresh_token);
      await expectAccessRefused(pair.access_token);
    }

    expectError(await passwordLogin(target.email), 403, 'account_disabled');
    // Only who knows the password learns that the account is disabled.
    expectError(await passwordLogin(target.email, 'not the password at all'), 401, 'invalid_credentials');
    await expectAdminEvent(target, 'admin_user_disabled', boss, { revoked: 2 });
    expect((await admin(boss.token, `/users/${target.id}`)).json.user.disabled).toBe(true);
  });

  it('refuses the pending second step of an MFA login once the user is disabled', async () => {
    const boss = await adminSession();
    const target = await userWithMfa();
    const token = await mfaToken(target.email);
    expect((await admin(boss.token, `/users/${target.id}/disable`, 'POST')).status).toBe(200);
    const res = await call(lk.app, '/v1/auth/login/mfa', {
      body: { mfa_token: token, code: nextCode(target.secret) },
    });
    // Disabling ended the pending challenge itself (issue #15 §6), not only the login it would open.
    expectError(res, 401, 'invalid_mfa_token');
    expect((await admin(boss.token, `/users/${target.id}`)).json.user.live_sessions).toBe(0);
  });

  it('disabling again answers 200 with revoked 0 and records no second event', async () => {
    const boss = await adminSession();
    const target = await registerUser(lk.app);
    await login(lk.app, target.email);
    const first = await admin(boss.token, `/users/${target.id}/disable`, 'POST');
    expect(first.json.revoked).toBe(1);
    lk.clock.advance(60 * SECOND);
    const again = await admin(boss.token, `/users/${target.id}/disable`, 'POST');
    expect(again.status).toBe(200);
    expect(again.json.revoked).toBe(0);
    expect(again.json.user.disabled).toBe(true);
    expect(again.json.user.disabled_at).toBe(first.json.user.disabled_at);
    await expectAdminEvent(target, 'admin_user_disabled', boss, { revoked: 1 });
  });

  it('an admin cannot disable themselves: 400 invalid_request', async () => {
    const boss = await adminSession();
    expectError(await admin(boss.token, `/users/${boss.id}/disable`, 'POST'), 400, 'invalid_request');
    await expectAccessWorks(boss.token);
    expect(await adminEventCount(boss.id)).toBe(0);
  });

  it('an admin cannot disable themselves with their id in upper case either', async () => {
    const boss = await adminSession();
    const res = await admin(boss.token, `/users/${boss.id.toUpperCase()}/disable`, 'POST');
    expectError(res, 400, 'invalid_request');
    await expectAccessWorks(boss.token);
    expect(await adminEventCount(boss.id)).toBe(0);
  });

  it('answers 404 to an unknown or malformed id', async () => {
    const boss = await adminSession();
    for (const action of ['disable', 'enable']) {
      expectError(
        await admin(boss.token, `/users/${crypto.randomUUID()}/${action}`, 'POST'),
        404,
        'not_found',
      );
      expectError(await admin(boss.token, `/users/nope/${action}`, 'POST'), 404, 'not_found');
    }
  });

  it('enables: login works again, old sessions stay dead, and the user sees both events', async () => {
    const boss = await adminSession();
    const target = await registerUser(lk.app);
    const before = await login(lk.app, target.email);
    expect((await admin(boss.token, `/users/${target.id}/disable`, 'POST')).status).toBe(200);
    lk.clock.advance(60 * SECOND); // the user's log is newest first: keep the two events apart

    const res = await admin(boss.token, `/users/${target.id}/enable`, 'POST');
    expect(res.status).toBe(200);
    expect(Object.keys(res.json)).toEqual(['user']);
    expect(res.json.user).toMatchObject({
      id: target.id,
      disabled: false,
      disabled_at: null,
      live_sessions: 0,
    });
    await expectAdminEvent(target, 'admin_user_enabled', boss);

    await expectRefreshRefused(before.refresh_token);
    const after = await login(lk.app, target.email);
    const log = await call(lk.app, '/v1/users/me/events?limit=100', { token: after.access_token });
    expect(log.status).toBe(200);
    const adminEvents = log.json.events.filter((event: { type: string }) => event.type.startsWith('admin_'));
    expect(adminEvents.map((event: { type: string }) => event.type)).toEqual([
      'admin_user_enabled',
      'admin_user_disabled',
    ]);
    for (const event of adminEvents) expect(event.details.admin_id).toBe(boss.id);
  });

  it('enabling a user who is not disabled changes nothing and records nothing', async () => {
    const boss = await adminSession();
    const target = await registerUser(lk.app);
    const res = await admin(boss.token, `/users/${target.id}/enable`, 'POST');
    expect(res.status).toBe(200);
    expect(res.json.user.disabled).toBe(false);
    expect(await adminEventCount(target.id)).toBe(0);
  });
});

describe('DELETE /v1/admin/users/:id/mfa', () => {
  it('removes the factor, revokes every session, and records admin_mfa_reset', async () => {
    const boss = await adminSession();
    const target = await userWithMfa();
    const aal2 = await loginWithCode(target.email, target.secret);

    const res = await admin(boss.token, `/users/${target.id}/mfa`, 'DELETE');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ revoked: 2 });
    for (const pair of [target.activating, aal2]) {
      await expectRefreshRefused(pair.refresh_token);
      await expectAccessRefused(pair.access_token);
    }
    await expectAdminEvent(target, 'admin_mfa_reset', boss, { revoked: 2 });

    // The password alone opens a session again.
    const again = await passwordLogin(target.email);
    expect(again.status).toBe(200);
    expect(again.json.mfa_required).toBeUndefined();
    expect(claimsOf(again.json.access_token)).toMatchObject({ acr: 'aal1', amr: ['pwd'] });
    const me = await call(lk.app, '/v1/users/me', { token: again.json.access_token });
    expect(me.json.user.mfa_enabled).toBe(false);
    expect((await admin(boss.token, `/users/${target.id}`)).json.user.mfa_enabled).toBe(false);
    const factors = rowsOf<{ n: number }>(
      await database.current.db.execute(
        sql`SELECT (SELECT count(*) FROM mfa_factors WHERE user_id = ${target.id})
                 + (SELECT count(*) FROM recovery_codes WHERE user_id = ${target.id}) AS n`,
      ),
    );
    expect(Number(factors[0]!.n)).toBe(0);
  });

  it('answers 409 mfa_not_enabled for a user without MFA, 404 for an unknown user', async () => {
    const boss = await adminSession();
    const target = await registerUser(lk.app);
    const session = await login(lk.app, target.email);
    expectError(await admin(boss.token, `/users/${target.id}/mfa`, 'DELETE'), 409, 'mfa_not_enabled');
    await expectAccessWorks(session.access_token);
    expect(await adminEventCount(target.id)).toBe(0);
    expectError(await admin(boss.token, `/users/${crypto.randomUUID()}/mfa`, 'DELETE'), 404, 'not_found');
    expectError(await admin(boss.token, '/users/nope/mfa', 'DELETE'), 404, 'not_found');
  });
});

describe('GET /v1/admin/analytics', () => {
  it('answers the documented report, 30 days by default', async () => {
    const boss = await adminSession();
    const res = await admin(boss.token, '/analytics');
    expect(res.status).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(ANALYTICS_FIELDS);
    expect(res.json.days).toBe(30);
    expect(res.json.sessions_created_per_day).toHaveLength(30);
    expect(res.json.generated_at).toBe(lk.clock.now().toISOString());

    const week = await admin(boss.token, '/analytics?days=7');
    expect(week.status).toBe(200);
    expect(week.json.days).toBe(7);
    expect(week.json.sessions_created_per_day).toHaveLength(7);
    expect((await admin(boss.token, '/analytics?days=1')).status).toBe(200);
    expect((await admin(boss.token, '/analytics?days=90')).status).toBe(200);
  });

  it.each(['0', '91', 'abc', '1.5', '-3'])('answers 400 invalid_request to days=%s', async (days) => {
    const boss = await adminSession();
    expectError(await admin(boss.token, `/analytics?days=${days}`), 400, 'invalid_request');
  });
});
