import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/database.js';
import { createCleanup } from '../src/services/cleanup.js';
import { call, login, refresh, registerUser } from './support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from './support/harness.js';

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

const DAY = 24 * 3600 * 1000;
const count = async (query: ReturnType<typeof sql>) =>
  Number(rowsOf<{ n: number }>(await database.current.db.execute(query))[0]!.n);
const tokensOf = (sessionId: string) =>
  count(sql`SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = ${sessionId}`);
const cleanupWith = (batchSize: number) =>
  createCleanup({
    store: lk.store,
    clock: lk.clock,
    policy: {
      batchSize,
      eventRetentionMs: 90 * DAY,
      revokedSessionRetentionMs: 7 * DAY,
      retiredKeyRetentionMs: lk.keyRing.retiredKeyRetentionMs,
    },
  });

describe('cleanup', () => {
  it('deletes expired tokens in batches and keeps live sessions whole', async () => {
    const { email } = await registerUser(lk.app);
    const dead = await login(lk.app, email); // 24 h session
    const kept = await login(lk.app, email, { remember: true });
    const second = (await refresh(lk.app, kept.refresh_token)).json; // a rotated row in a live session
    lk.clock.advance(3 * DAY);
    const keptNow = (await refresh(lk.app, (await refresh(lk.app, second.refresh_token)).json.refresh_token))
      .json;
    expect(await tokensOf(dead.session_id)).toBe(1);

    const counts = await cleanupWith(1).runOnce(); // one row a statement: batches loop
    expect(counts.refresh_tokens).toBeGreaterThanOrEqual(1);
    expect(await tokensOf(dead.session_id)).toBe(0);
    // The remembered session keeps all its rows (none expired yet), so reuse is still detected.
    expect(await tokensOf(kept.session_id)).toBe(4);
    lk.clock.advance(11_000);
    expect((await refresh(lk.app, kept.refresh_token)).json.error).toBe('refresh_token_reused');
    expect((await refresh(lk.app, keptNow.refresh_token)).json.error).toBe('invalid_grant');
  });

  it('deletes spent mfa challenges, ended rate-limit windows and events past retention', async () => {
    const { email } = await registerUser(lk.app);
    await call(lk.app, '/v1/auth/login', { body: { email, password: 'not the password' } });
    const windows = await count(sql`SELECT count(*)::int AS n FROM rate_limits`);
    expect(windows).toBeGreaterThan(0);
    lk.clock.advance(91 * DAY);
    const counts = await cleanupWith(500).runOnce();
    expect(counts.rate_limits).toBeGreaterThanOrEqual(windows);
    expect(counts.security_events).toBeGreaterThan(0);
    expect(await count(sql`SELECT count(*)::int AS n FROM rate_limits`)).toBe(0);
    expect(await count(sql`SELECT count(*)::int AS n FROM security_events`)).toBe(0);
  });

  it('many instances at once delete each row once', async () => {
    const { email, id } = await registerUser(lk.app);
    // One after another: 12 logins of one account at once would pass the per-account limit
    // (10), which counts attempts before they are checked.
    for (let i = 0; i < 12; i++) await login(lk.app, email);
    lk.clock.advance(3 * DAY);
    const expired = await count(
      sql`SELECT count(*)::int AS n FROM refresh_tokens WHERE expires_at < ${new Date(lk.clock.now().getTime() - DAY).toISOString()}::timestamptz`,
    );
    const runs = await Promise.all(Array.from({ length: 4 }, () => cleanupWith(3).runOnce()));
    expect(runs.reduce((sum, run) => sum + run.refresh_tokens, 0)).toBe(expired);
    expect(await count(sql`SELECT count(*)::int AS n FROM refresh_tokens WHERE user_id = ${id}`)).toBe(0);
  });

  it('deletes signing keys (private halves too) once no token they signed can be alive', async () => {
    const keys = () => count(sql`SELECT count(*)::int AS n FROM signing_keys`);
    const before = await keys();
    const { kid: newKid } = await lk.keyRing.rotate({ immediate: true });
    expect(await keys()).toBe(before + 1);
    // Still within the retention: kept (its tokens may be alive, and it is published).
    lk.clock.advance(lk.keyRing.retiredKeyRetentionMs);
    expect((await cleanupWith(500).runOnce()).signing_keys).toBe(0);
    lk.clock.advance(2 * 3600 * 1000);
    expect((await cleanupWith(500).runOnce()).signing_keys).toBe(before);
    expect(await keys()).toBe(1);
    const jwks = await call(lk.app, '/.well-known/jwks.json');
    expect(jwks.json.keys.map((key: { kid: string }) => key.kid)).toEqual([newKid]);
    const { email } = await registerUser(lk.app);
    expect((await login(lk.app, email)).access_token).toBeTruthy();
  });

  it('deletes the rows of sessions revoked longer ago than the retention, and nothing live', async () => {
    const { email } = await registerUser(lk.app);
    const old = await login(lk.app, email, { remember: true });
    const rotated = (await refresh(lk.app, old.refresh_token)).json;
    const live = await login(lk.app, email, { remember: true });
    await call(lk.app, '/v1/auth/logout', { body: { refresh_token: rotated.refresh_token } });
    lk.clock.advance(6 * DAY);
    const recent = await login(lk.app, email, { remember: true });
    await call(lk.app, '/v1/auth/logout', { body: { refresh_token: recent.refresh_token } });
    // Keep `live` alive past the 7 days (a refresh moves its expiry, not its revocation).
    const liveNow = (await refresh(lk.app, live.refresh_token)).json;
    lk.clock.advance(DAY + 60_000);
    expect(await tokensOf(old.session_id)).toBe(2);

    const counts = await cleanupWith(500).runOnce();
    expect(counts.revoked_sessions).toBeGreaterThanOrEqual(2);
    expect(await tokensOf(old.session_id)).toBe(0);
    expect(await tokensOf(recent.session_id)).toBe(1); // revoked 1 day ago: kept
    expect(await tokensOf(live.session_id)).toBe(2); // live: whole, rotated row included
    expect((await refresh(lk.app, liveNow.refresh_token)).status).toBe(200);
  });

  it('deletes sent and failed outbox rows after 30 days, and never a pending one', async () => {
    const at = lk.clock.now();
    const row = (
      status: string,
    ) => sql`(${crypto.randomUUID()}::uuid, 'password_reset', ${`key-${crypto.randomUUID()}`},
      NULL, ${status}, 1, ${at.toISOString()}::timestamptz, ${at.toISOString()}::timestamptz)`;
    await database.current.db.execute(sql`INSERT INTO outbox
      (id, kind, idempotency_key, payload, status, attempts, next_attempt_at, created_at)
      VALUES ${row('sent')}, ${row('failed')}, ${row('pending')}`);
    const statuses = async () =>
      rowsOf<{ status: string }>(
        await database.current.db.execute(
          sql`SELECT status FROM outbox WHERE created_at = ${at.toISOString()}::timestamptz ORDER BY status`,
        ),
      ).map((r) => r.status);
    lk.clock.advance(29 * DAY);
    await cleanupWith(500).runOnce();
    expect(await statuses()).toEqual(['failed', 'pending', 'sent']);
    lk.clock.advance(2 * DAY);
    expect((await cleanupWith(500).runOnce()).outbox).toBeGreaterThanOrEqual(2);
    expect(await statuses()).toEqual(['pending']);
  });
});
