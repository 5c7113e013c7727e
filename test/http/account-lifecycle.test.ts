import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { createCleanup } from '../../src/services/cleanup.js';
import { call, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import { base32Decode, totp } from '../support/totp.js';

/** Issue #17 §6: the display name, and deleting one's account. */
const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

const SECOND = 1000;
const DAY = 24 * 3600 * SECOND;

const one = async <T>(query: ReturnType<typeof sql>) =>
  rowsOf<T>(await database.current.db.execute(query))[0];
const countOf = async (query: ReturnType<typeof sql>) => Number((await one<{ n: number }>(query))!.n);

describe('PATCH /v1/users/me: the display name', () => {
  it('sets, trims and clears the name, and records name_changed', async () => {
    const { email, id } = await registerUser(lk.app);
    const { access_token } = await login(lk.app, email);
    const set = await call(lk.app, '/v1/users/me', {
      method: 'PATCH',
      body: { name: '  Ada Lovelace  ' },
      token: access_token,
    });
    expect(set.status).toBe(200);
    expect(set.json.user).toMatchObject({ id, email, name: 'Ada Lovelace' });
    expect((await call(lk.app, '/v1/users/me', { token: access_token })).json.user.name).toBe('Ada Lovelace');

    for (const cleared of [null, '', '   ']) {
      const res = await call(lk.app, '/v1/users/me', {
        method: 'PATCH',
        body: { name: cleared },
        token: access_token,
      });
      expect(res.status).toBe(200);
      expect(res.json.user.name).toBeNull();
    }
    expect(
      await countOf(
        sql`SELECT count(*)::int AS n FROM security_events WHERE user_id = ${id} AND type = 'name_changed'`,
      ),
    ).toBe(4);
  });

  it('refuses a missing, non-string or too long name with 400, and no token with 401', async () => {
    const { email } = await registerUser(lk.app);
    const { access_token } = await login(lk.app, email);
    for (const body of [{}, { name: 42 }, { name: 'x'.repeat(201) }]) {
      const res = await call(lk.app, '/v1/users/me', { method: 'PATCH', body, token: access_token });
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_request');
    }
    expect((await call(lk.app, '/v1/users/me', { method: 'PATCH', body: { name: 'x' } })).status).toBe(401);
  });
});

describe('DELETE /v1/users/me: deleting the account', () => {
  it('revokes every session, erases the personal data, keeps anonymised events, and frees the address', async () => {
    const { email, id } = await registerUser(lk.app);
    const other = await login(lk.app, email, { device_name: 'phone' });
    const current = await login(lk.app, email);
    const deleted = await call(lk.app, '/v1/users/me', { method: 'DELETE', token: current.access_token });
    expect(deleted.status).toBe(204);

    // No way back in: no token, no session, no password.
    expect((await call(lk.app, '/v1/users/me', { token: current.access_token })).status).toBe(401);
    expect((await refresh(lk.app, other.refresh_token)).status).toBe(401);
    const again = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
    expect(again.status).toBe(401);
    expect(again.json.error).toBe('invalid_credentials');

    // The row is a tombstone; device facts and event facts are gone.
    expect(
      await one(sql`SELECT email, name, password_hash, disabled_at IS NOT NULL AS disabled, deleted_at IS NOT NULL AS deleted
        FROM users WHERE id = ${id}`),
    ).toEqual({
      email: `deleted-${id}@invalid`,
      name: null,
      password_hash: '!deleted',
      disabled: true,
      deleted: true,
    });
    expect(
      await countOf(sql`SELECT count(*)::int AS n FROM refresh_tokens
        WHERE user_id = ${id} AND (ip_address IS NOT NULL OR user_agent IS NOT NULL OR device_name IS NOT NULL OR revoked_at IS NULL)`),
    ).toBe(0);
    expect(
      await countOf(sql`SELECT count(*)::int AS n FROM security_events
        WHERE user_id = ${id} AND (ip_address IS NOT NULL OR user_agent IS NOT NULL OR details IS NOT NULL)`),
    ).toBe(0);
    expect(
      await countOf(
        sql`SELECT count(*)::int AS n FROM security_events WHERE user_id = ${id} AND type = 'account_deleted'`,
      ),
    ).toBe(1);
    expect(
      await countOf(sql`SELECT count(DISTINCT revoked_reason)::int AS n FROM refresh_tokens
        WHERE user_id = ${id} AND revoked_reason <> 'account_deleted'`),
    ).toBe(0);

    // The address can open a new account at once.
    const reborn = await registerUser(lk.app, email);
    expect(reborn.id).not.toBe(id);
  });

  it('needs a fresh authentication (RFC 9470 max_age=300), and changes nothing without one', async () => {
    const { email, id } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    lk.clock.advance(301 * SECOND);
    const stale = await call(lk.app, '/v1/users/me', { method: 'DELETE', token: pair.access_token });
    expect(stale.status).toBe(401);
    expect(stale.json.error).toBe('insufficient_user_authentication');
    expect(stale.headers.get('www-authenticate')).toContain('max_age=300');
    expect(await one(sql`SELECT deleted_at FROM users WHERE id = ${id}`)).toEqual({ deleted_at: null });
    expect((await refresh(lk.app, pair.refresh_token)).status).toBe(200);
  });

  it('an account with MFA needs aal2: a fresh password-only step-up is not enough', async () => {
    const { email, id } = await registerUser(lk.app);
    const first = await login(lk.app, email);
    const secret: string = (
      await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: first.access_token })
    ).json.secret;
    const code = () => totp(base32Decode(secret), Math.floor(lk.clock.now().getTime() / 1000));
    expect(
      (await call(lk.app, '/v1/mfa/totp/activate', { body: { code: code() }, token: first.access_token }))
        .status,
    ).toBe(200);
    lk.clock.advance(30 * SECOND);
    const challenge = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
    const aal2 = await call(lk.app, '/v1/auth/login/mfa', {
      body: { mfa_token: challenge.json.mfa_token, code: code() },
    });
    expect(aal2.status).toBe(200);
    // A password step-up is fresh but aal1.
    const aal1 = await call(lk.app, '/v1/auth/step-up', {
      body: { password: PASSWORD },
      token: first.access_token,
    });
    expect(aal1.status).toBe(200);
    const weak = await call(lk.app, '/v1/users/me', { method: 'DELETE', token: aal1.json.access_token });
    expect(weak.status).toBe(401);
    expect(weak.headers.get('www-authenticate')).toContain('acr_values="aal2"');
    expect(await one(sql`SELECT deleted_at FROM users WHERE id = ${id}`)).toEqual({ deleted_at: null });

    expect(
      (await call(lk.app, '/v1/users/me', { method: 'DELETE', token: aal2.json.access_token })).status,
    ).toBe(204);
    expect(await countOf(sql`SELECT count(*)::int AS n FROM mfa_factors WHERE user_id = ${id}`)).toBe(0);
    expect(await countOf(sql`SELECT count(*)::int AS n FROM recovery_codes WHERE user_id = ${id}`)).toBe(0);
  });

  it('two deletes at once: one 204, and the account is deleted once', async () => {
    const { email, id } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const answers = await Promise.all(
      [1, 2, 3].map(() => call(lk.app, '/v1/users/me', { method: 'DELETE', token: pair.access_token })),
    );
    expect(answers.filter((res) => res.status === 204)).toHaveLength(1);
    expect(answers.filter((res) => res.status === 401)).toHaveLength(2);
    expect(
      await countOf(
        sql`SELECT count(*)::int AS n FROM security_events WHERE user_id = ${id} AND type = 'account_deleted'`,
      ),
    ).toBe(1);
  });

  it('cleanup removes the tombstone and what is left of its events after the event retention', async () => {
    const { email, id } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    expect((await call(lk.app, '/v1/users/me', { method: 'DELETE', token: pair.access_token })).status).toBe(
      204,
    );
    const cleanup = createCleanup({
      store: lk.store,
      clock: lk.clock,
      policy: {
        batchSize: 100,
        eventRetentionMs: 30 * DAY,
        revokedSessionRetentionMs: 7 * DAY,
        retiredKeyRetentionMs: lk.keyRing.retiredKeyRetentionMs,
      },
    });
    await cleanup.runOnce();
    expect(await countOf(sql`SELECT count(*)::int AS n FROM users WHERE id = ${id}`)).toBe(1);
    lk.clock.advance(31 * DAY);
    expect((await cleanup.runOnce()).deleted_users).toBeGreaterThanOrEqual(1);
    expect(await countOf(sql`SELECT count(*)::int AS n FROM users WHERE id = ${id}`)).toBe(0);
    expect(await countOf(sql`SELECT count(*)::int AS n FROM security_events WHERE user_id = ${id}`)).toBe(0);
  });
});
