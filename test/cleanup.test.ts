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
  createCleanup({ store: lk.store, clock: lk.clock, policy: { batchSize, eventRetentionMs: 90 * DAY } });

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
    const sessions = await Promise.all(Array.from({ length: 12 }, () => login(lk.app, email)));
    expect(sessions).toHaveLength(12);
    lk.clock.advance(3 * DAY);
    const expired = await count(
      sql`SELECT count(*)::int AS n FROM refresh_tokens WHERE expires_at < ${new Date(lk.clock.now().getTime() - DAY).toISOString()}::timestamptz`,
    );
    const runs = await Promise.all(Array.from({ length: 4 }, () => cleanupWith(3).runOnce()));
    expect(runs.reduce((sum, run) => sum + run.refresh_tokens, 0)).toBe(expired);
    expect(await count(sql`SELECT count(*)::int AS n FROM refresh_tokens WHERE user_id = ${id}`)).toBe(0);
  });
});
