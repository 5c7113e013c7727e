import { type SQL, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { endedHead, HEAD, liveHead } from '../../src/adapters/db/live-sessions.js';
import { onPostgres, openTestDatabase, type TestDatabase } from '../support/database.js';

/**
 * "A live session" is written once (src/adapters/db/live-sessions.ts) and the partial indexes
 * of refresh_tokens are declared with the same predicate. PostgreSQL uses a partial index only
 * for a WHERE that implies its predicate, so these tests ask the planner itself: with
 * sequential scans off, each query of live or ended sessions must be answered from the
 * partial index meant for it. A query whose condition drifted from the index's would fall
 * back to another plan and fail here.
 */
let database: TestDatabase | undefined;
beforeAll(async () => {
  database = await openTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

async function planOf(query: SQL): Promise<string> {
  const db = database!.db;
  return db.transaction(async (tx) => {
    await tx.execute(sql`SET LOCAL enable_seqscan = off`);
    const rows = rowsOf<Record<string, string>>(await tx.execute(sql`EXPLAIN ${query}`));
    return rows.map((row) => Object.values(row)[0]).join('\n');
  });
}

const NOW = new Date('2031-06-01T00:00:00.000Z');
const USER = '00000000-0000-4000-8000-000000000001';

describe(`the live-session condition and the partial indexes agree (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('the indexes are declared with the one predicate', async () => {
    const rows = rowsOf<{ indexname: string; indexdef: string }>(
      await database!.db.execute(
        sql`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'refresh_tokens' AND indexdef LIKE '%WHERE%'`,
      ),
    );
    const predicate = (name: string) =>
      rows.find((row) => row.indexname === name)?.indexdef.split(' WHERE ')[1];
    const normalised = (text: string) => text.replace(/[()]/g, '');
    expect(normalised(predicate('refresh_tokens_live_head_user_idx')!)).toBe(normalised(HEAD));
    expect(normalised(predicate('refresh_tokens_session_head_key')!)).toBe(normalised(HEAD));
  });

  it("a user's live sessions are counted from refresh_tokens_live_head_user_idx", async () => {
    const plan = await planOf(
      sql`SELECT count(*) FROM refresh_tokens WHERE user_id = ${USER}::uuid AND ${liveHead(NOW)}`,
    );
    expect(plan).toContain('refresh_tokens_live_head_user_idx');
  });

  it('the admin search counts live sessions per user through an alias from the same index', async () => {
    const plan = await planOf(
      sql`SELECT (SELECT count(*) FROM refresh_tokens rt WHERE rt.user_id = u.id AND ${liveHead(NOW, 'rt')}) FROM users u`,
    );
    expect(plan).toContain('refresh_tokens_live_head_user_idx');
  });

  it('sessions ended by revocation are read from refresh_tokens_revoked_head_idx', async () => {
    const plan = await planOf(
      sql`SELECT session_id FROM refresh_tokens WHERE ${endedHead()} AND revoked_at > ${NOW.toISOString()}::timestamptz`,
    );
    expect(plan).toContain('refresh_tokens_revoked_head_idx');
  });
});
