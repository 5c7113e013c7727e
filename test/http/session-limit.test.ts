import { beforeAll, describe, expect, it } from 'vitest';
import { call, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';

/** SESSION_LIMIT_POLICY: evict (default, tested in sessions.test.ts) and reject. */
const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current, {
    env: { SESSION_LIMIT_POLICY: 'reject', MAX_SESSIONS_PER_USER: '2' },
  });
});

const loginAttempt = (email: string, extra: Record<string, unknown> = {}) =>
  call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD, device_name: 'third', ...extra } });

const finish = (limitToken: string, sessionId: string) =>
  call(lk.app, '/v1/auth/login/session-limit', {
    body: { limit_token: limitToken, revoke_session_id: sessionId },
  });

describe('SESSION_LIMIT_POLICY=reject', () => {
  it('answers 409 with the sessions and a limit token; signing one out finishes the login', async () => {
    const { email } = await registerUser(lk.app);
    const first = await login(lk.app, email, { device_name: 'first' });
    const second = await login(lk.app, email, { device_name: 'second' });
    const held = await loginAttempt(email);
    expect(held.status).toBe(409);
    expect(held.json.error).toBe('session_limit_reached');
    expect(held.json.limit_token).toMatch(/^lkl_/);
    expect(held.json.sessions.map((s: { device_name: string }) => s.device_name).sort()).toEqual([
      'first',
      'second',
    ]);
    expect(held.json.sessions[0]).toHaveProperty('last_active_at');
    // Nothing was revoked yet.
    expect((await refresh(lk.app, first.refresh_token)).status).toBe(200);

    const done = await finish(held.json.limit_token, second.session_id);
    expect(done.status).toBe(200);
    expect(done.json.access_token).toBeTruthy();
    const sessions = await call(lk.app, '/v1/sessions', { token: done.json.access_token });
    expect(sessions.json.sessions.map((s: { device_name: string }) => s.device_name).sort()).toEqual([
      'first',
      'third',
    ]);
    expect((await refresh(lk.app, second.refresh_token)).json.error).toBe('invalid_grant');

    // Exactly one action: the token is spent.
    const again = await finish(held.json.limit_token, first.session_id);
    expect(again.status).toBe(401);
    expect(again.json.error).toBe('invalid_limit_token');
    const events = await call(lk.app, '/v1/users/me/events', { token: done.json.access_token });
    expect(events.json.events.map((e: { type: string }) => e.type)).toContain('session_revoked');
  });

  it("refuses another user's session or a dead one without spending the token", async () => {
    const { email } = await registerUser(lk.app);
    const mine = await login(lk.app, email);
    await login(lk.app, email);
    const other = await login(lk.app, (await registerUser(lk.app)).email);
    const held = await loginAttempt(email);
    const foreign = await finish(held.json.limit_token, other.session_id);
    expect(foreign.status).toBe(404);
    expect((await refresh(lk.app, other.refresh_token)).status).toBe(200); // untouched
    expect((await finish(held.json.limit_token, mine.session_id)).status).toBe(200); // still good
  });

  it('expires after 5 minutes, and refuses junk', async () => {
    const { email } = await registerUser(lk.app);
    const mine = await login(lk.app, email);
    await login(lk.app, email);
    const held = await loginAttempt(email);
    lk.clock.advance(5 * 60 * 1000 + 1000);
    expect((await finish(held.json.limit_token, mine.session_id)).json.error).toBe('invalid_limit_token');
    expect((await finish('lkl_junk', mine.session_id)).status).toBe(401);
    const bad = await call(lk.app, '/v1/auth/login/session-limit', {
      body: { limit_token: 'x', revoke_session_id: 'nope' },
    });
    expect(bad.status).toBe(400);
  });

  it('holds an MFA login too, keeping its aal2', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
    const { totpCode } = await import('../support/totp.js');
    const at = Math.floor(lk.clock.now().getTime() / 1000);
    const activated = await call(lk.app, '/v1/mfa/totp/activate', {
      body: { code: totpCode(enrolled.json.secret, at) },
      token: pair.access_token,
    });
    const challenge = await loginAttempt(email);
    await call(lk.app, '/v1/auth/login/mfa', {
      body: { mfa_token: challenge.json.mfa_token, recovery_code: activated.json.recovery_codes[0] },
    });
    const third = await loginAttempt(email);
    const held = await call(lk.app, '/v1/auth/login/mfa', {
      body: { mfa_token: third.json.mfa_token, recovery_code: activated.json.recovery_codes[1] },
    });
    expect(held.status).toBe(409);
    const done = await finish(held.json.limit_token, pair.session_id);
    expect(done.status).toBe(200);
    const claims = JSON.parse(Buffer.from(done.json.access_token.split('.')[1], 'base64url').toString());
    expect(claims.acr).toBe('aal2');
  });
});
