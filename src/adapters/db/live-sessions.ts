import { type Placeholder, type SQL, sql } from 'drizzle-orm';

/**
 * What "a live session" means in SQL, written once (issue #16). A session is its chain of
 * refresh-token rows; its head is the row never rotated, and the session is live while that
 * head is neither revoked nor expired.
 *
 * The partial indexes of `refresh_tokens` (schema.ts) are declared with `HEAD` as their
 * predicate, and PostgreSQL only uses a partial index for a query whose WHERE implies that
 * predicate: every query about live or ended sessions builds its condition from here, and
 * test/adapters/live-sessions.test.ts checks the planner does use the indexes.
 */
export const HEAD = 'rotated_at IS NULL AND revoked_at IS NULL';

/** The session's head token (the never-rotated row), revoked or not. */
export const ENDED_HEAD = 'rotated_at IS NULL AND revoked_at IS NOT NULL';

/** `table.column` when the query names refresh_tokens by an alias, else the bare column. */
const columns = (alias?: string) => (alias ? sql.raw(`${alias}.`) : sql``);

/**
 * The head of a live session at `now` (a Date, or an ISO string): not rotated, not revoked,
 * not expired. `alias` when refresh_tokens has one in the query (a correlated subquery).
 */
export function liveHead(now: Date | string | Placeholder, alias?: string): SQL {
  const c = columns(alias);
  // Raw SQL gets ISO strings: drizzle turns off postgres.js's Date serialiser. An ISO string,
  // or a placeholder given one when the statement runs (prepared once: token-rows.ts), as is.
  const at = now instanceof Date ? now.toISOString() : now;
  return sql`${c}rotated_at IS NULL AND ${c}revoked_at IS NULL AND ${c}expires_at > ${at}::timestamptz`;
}

/** The head of a session that ended by revocation (its one revoked row never rotated). */
export const endedHead = (): SQL => sql.raw(ENDED_HEAD);
