import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { call, login, registerUser } from '../support/client.js';
import { buildLatchkey, useDatabase } from '../support/harness.js';

/**
 * Issue #21: a login writes its session in one statement, which decides the session limit on
 * the sessions its snapshot holds (src/adapters/db/drizzle-login-store.ts). Parallel logins of
 * one user must still never keep more than MAX_SESSIONS_PER_USER live sessions, and each one's
 * event must exist with its session (all or nothing). Real concurrency on PostgreSQL (the
 * statement that finds the user's row changed runs again under the lock); on PGlite the
 * requests still interleave at every await.
 */
const database = useDatabase();
const MAX = 3;
const N = 16;
/** N right passwords at once are N attempts before any is given back: room for all of them. */
const ROOM = { LOGIN_FAILURES_PER_ACCOUNT: String(N) };

async function facts(userId: string) {
  const { db } = database.current;
  const [row] = rowsOf<{ live: number; sessions: number; events: number; orphans: number }>(
    await db.execute(sql`SELECT
      (SELECT count(*)::int FROM refresh_tokens
        WHERE user_id = ${userId} AND rotated_at IS NULL AND revoked_at IS NULL) AS live,
      (SELECT count(DISTINCT session_id)::int FROM refresh_tokens WHERE user_id = ${userId}) AS sessions,
      (SELECT count(*)::int FROM security_events WHERE user_id = ${userId} AND type = 'login_succeeded') AS events,
      (SELECT count(*)::int FROM security_events e WHERE e.user_id = ${userId} AND e.type = 'login_succeeded'
        AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = e.session_id)) AS orphans`),
  );
  return row!;
}

describe('parallel logins of one user at the session limit', () => {
  it(`evict: ${N} logins at once all succeed, and ${MAX} sessions are left live`, async () => {
    const lk = await buildLatchkey(database.current, {
      env: { ...ROOM, MAX_SESSIONS_PER_USER: String(MAX), SESSION_LIMIT_POLICY: 'evict' },
    });
    const { email, id } = await registerUser(lk.app);
    const answers = await Promise.all(Array.from({ length: N }, () => login(lk.app, email)));
    expect(answers.every((pair) => typeof pair.access_token === 'string')).toBe(true);
    expect(await facts(id)).toEqual({ live: MAX, sessions: N, events: N, orphans: 0 });
  });

  it(`reject: ${N} logins at once, exactly ${MAX} sessions opened and the rest held (409)`, async () => {
    const lk = await buildLatchkey(database.current, {
      env: { ...ROOM, MAX_SESSIONS_PER_USER: String(MAX), SESSION_LIMIT_POLICY: 'reject' },
    });
    const { email, id, password } = await registerUser(lk.app);
    const answers = await Promise.all(
      Array.from({ length: N }, () => call(lk.app, '/v1/auth/login', { body: { email, password } })),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses.filter((status) => status === 200)).toHaveLength(MAX);
    expect(statuses.filter((status) => status === 409)).toHaveLength(N - MAX);
    expect(await facts(id)).toEqual({ live: MAX, sessions: MAX, events: MAX, orphans: 0 });
  });
});
