import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { call, decodeJwtPart, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import { base32Decode, totp } from '../support/totp.js';

/**
 * Issue #15 §6: a credential obtained half-way (a held login's `limit_token`, an `mfa_token`,
 * a pending TOTP enrolment) dies with a password change, an MFA reset or disable, and an
 * account disable. §8: an access token never outlives its session; a long email is no 500.
 */
const database = useDatabase();
const NEW_PASSWORD = 'an entirely new passphrase 77';

async function pendingRows(userId: string) {
  const count = async (table: string) =>
    Number(
      rowsOf<{ n: number }>(
        await database.current.db.execute(
          sql`SELECT count(*)::int AS n FROM ${sql.identifier(table)} WHERE user_id = ${userId} AND consumed_at IS NULL`,
        ),
      )[0]?.n,
    );
  return { holds: await count('login_holds'), challenges: await count('mfa_challenges') };
}

async function withMfa(lk: Latchkey) {
  const { email, id } = await registerUser(lk.app);
  const pair = await login(lk.app, email);
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
  const secret: string = enrolled.json.secret;
  const codeAt = () => totp(base32Decode(secret), Math.floor(lk.clock.now().getTime() / 1000));
  expect(
    (await call(lk.app, '/v1/mfa/totp/activate', { body: { code: codeAt() }, token: pair.access_token }))
      .status,
  ).toBe(200);
  lk.clock.advance(30_000);
  return { email, id, pair, codeAt };
}

describe('pending credentials die with the account change that should end them', () => {
  it('a limit_token obtained before a password change cannot finish the login afterwards', async () => {
    const lk = await buildLatchkey(database.current, {
      env: { SESSION_LIMIT_POLICY: 'reject', MAX_SESSIONS_PER_USER: '1' },
    });
    const { email, id } = await registerUser(lk.app);
    const owner = await login(lk.app, email);
    // Someone who knows the password is held at the limit...
    const held = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
    expect(held.status).toBe(409);
    expect((await pendingRows(id)).holds).toBe(1);
    // ...the owner changes the password...
    const changed = await call(lk.app, '/v1/users/me/password', {
      body: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      token: owner.access_token,
    });
    expect(changed.status).toBe(204);
    expect(await pendingRows(id)).toEqual({ holds: 0, challenges: 0 });
    // ...and the held login can no longer evict the owner.
    const finish = await call(lk.app, '/v1/auth/login/session-limit', {
      body: { limit_token: held.json.limit_token, revoke_session_id: owner.session_id },
    });
    expect(finish.status).toBe(401);
    expect(finish.json.error).toBe('invalid_limit_token');
    expect((await call(lk.app, '/v1/users/me', { token: owner.access_token })).status).toBe(200);
  });

  it('an mfa_token obtained before the account was disabled does not work after it is enabled again', async () => {
    const lk = await buildLatchkey(database.current);
    const user = await withMfa(lk);
    const first = await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
    expect(first.json.mfa_required).toBe(true);
    expect((await pendingRows(user.id)).challenges).toBe(1);
    expect(await lk.store.disableUser({ userId: user.id, now: lk.clock.now() })).toEqual({ revoked: 1 });
    expect(await pendingRows(user.id)).toEqual({ holds: 0, challenges: 0 });
    expect(await lk.store.enableUser(user.id)).toBe('ok');
    const second = await call(lk.app, '/v1/auth/login/mfa', {
      body: { mfa_token: first.json.mfa_token, code: user.codeAt() },
    });
    expect(second.status).toBe(401);
    expect(second.json.error).toBe('invalid_mfa_token');
  });

  it('an MFA reset and an MFA disable end the mfa_tokens and held logins of the user', async () => {
    const lk = await buildLatchkey(database.current, {
      env: { SESSION_LIMIT_POLICY: 'reject', MAX_SESSIONS_PER_USER: '1' },
    });
    const user = await withMfa(lk);
    // A second-step challenge, and a held login at aal2 (the user is at the limit of 1).
    const challenge = await call(lk.app, '/v1/auth/login', {
      body: { email: user.email, password: PASSWORD },
    });
    const other = await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
    const held = await call(lk.app, '/v1/auth/login/mfa', {
      body: { mfa_token: other.json.mfa_token, code: user.codeAt() },
    });
    expect(held.status).toBe(409);
    expect(await pendingRows(user.id)).toEqual({ holds: 1, challenges: 1 });
    expect(await lk.store.resetMfa({ userId: user.id, now: lk.clock.now() })).toMatchObject({ revoked: 1 });
    expect(await pendingRows(user.id)).toEqual({ holds: 0, challenges: 0 });
    expect(challenge.json.mfa_token).toMatch(/^lkm_/);

    // The same for the user's own MFA disable (a pending enrolment goes too).
    const again = await withMfa(lk);
    await call(lk.app, '/v1/auth/login', { body: { email: again.email, password: PASSWORD } });
    expect((await pendingRows(again.id)).challenges).toBe(1);
    await lk.store.disableTotp({
      userId: again.id,
      now: lk.clock.now(),
      keepSessionId: again.pair.session_id,
    });
    expect(await pendingRows(again.id)).toEqual({ holds: 0, challenges: 0 });
  });
});

describe('an access token never outlives its session (issue #15 §8)', () => {
  it('a session ending in 2 minutes gets access tokens that end with it', async () => {
    const lk = await buildLatchkey(database.current, {
      env: { SESSION_TTL: '120', ACCESS_TOKEN_TTL: '900' },
    });
    const { email } = await registerUser(lk.app);
    const start = Math.floor(lk.clock.now().getTime() / 1000);
    const pair = await login(lk.app, email);
    expect(pair.expires_in).toBeLessThanOrEqual(120);
    expect(decodeJwtPart(pair.access_token, 1).exp).toBeLessThanOrEqual(start + 120);
    lk.clock.advance(90_000);
    const next = await refresh(lk.app, pair.refresh_token);
    expect(next.status).toBe(200);
    expect(next.json.expires_in).toBeLessThanOrEqual(30);
    expect(decodeJwtPart(next.json.access_token, 1).exp).toBeLessThanOrEqual(start + 120);
  });
});

describe('unbounded user text never reaches a key (issue #15 §8)', () => {
  it('a 3 KB email on login is a 401, not a 500', async () => {
    const lk = await buildLatchkey(database.current);
    // 1,000 characters (within the body schema) but ~3 KB of UTF-8: over the btree row limit
    // if it were put into a rate-limit key as it is.
    // Varied characters, so that PostgreSQL cannot compress the key below the limit.
    const local = Array.from({ length: 988 }, (_, i) =>
      String.fromCodePoint(0x4e00 + ((i * 7919) % 20000)),
    ).join('');
    const email = `${local}@example.com`;
    const res = await call(lk.app, '/v1/auth/login', { body: { email, password: 'whatever it is' } });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_credentials');
    expect(
      (await call(lk.app, '/v1/auth/login', { body: { email: `${'a'.repeat(3000)}@x.io`, password: 'x' } }))
        .status,
    ).toBeLessThan(500);
  });
});

describe('recovery codes and a concurrent MFA disable', () => {
  it('are not replaced for a factor that is gone', async () => {
    const lk = await buildLatchkey(database.current);
    const user = await withMfa(lk);
    expect(await lk.store.replaceRecoveryCodes(user.id, ['h1', 'h2'], lk.clock.now())).toBe(true);
    await lk.store.disableTotp({ userId: user.id, now: lk.clock.now(), keepSessionId: user.pair.session_id });
    expect(await lk.store.replaceRecoveryCodes(user.id, ['h3'], lk.clock.now())).toBe(false);
    expect(await lk.store.countUnusedRecoveryCodes(user.id)).toBe(0);
  });
});
