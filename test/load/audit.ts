import postgres from 'postgres';
import { tokenHash } from '../faults/harness.js';
import { isStatus, type Sample } from './traffic.js';

/**
 * The load test's audit, straight on the database (the refresh_tokens table,
 * src/adapters/db/schema.ts): one row per refresh token ever issued, a session being the rows
 * sharing a session_id; a token is valid while not rotated, not revoked and not expired.
 */

export type ExpectedSession =
  | { state: 'live'; token: string; label: string }
  | { state: 'revoked'; reason: string; label: string }
  /** Its client stopped on an unexpected answer (itself a failure): only the invariants apply. */
  | { state: 'unknown'; label: string };

export interface AuditInput {
  databaseUrl: string;
  /** The users of this run: the audit covers every session of theirs in the database. */
  userIds: string[];
  /** What each session the clients know of must have become. */
  expected: Map<string, ExpectedSession>;
  /** Every POST /v1/auth/refresh of the run. */
  refreshes: Sample[];
  /** The rotated tokens replayed after the grace window. */
  replayed: string[];
  graceMs: number;
  /** Slack for comparing Date.now() with rotated_at (the same clock, stored to the millisecond). */
  slackMs: number;
}

export interface AuditResult {
  problems: string[];
  sessions: { total: number; live: number; revoked: number; byReason: Map<string, number> };
  /** The latest a 200 to an already rotated token came, after that rotation (ms). */
  maxGraceAnswerMs: number;
  /** The latest a request that got a 200 was sent after its token's rotation (ms). */
  maxGraceSentMs: number;
}

interface SessionRow {
  session_id: string;
  rows: number;
  valid: number;
  heads: number;
  revoked_rows: number;
  reasons: string[];
  valid_hash: string | null;
}

interface TokenRow {
  token_hash: string;
  session_id: string;
  rotated_at: Date | null;
  revoked_at: Date | null;
}

export async function auditDatabase(input: AuditInput): Promise<AuditResult> {
  const sql = postgres(input.databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  const problems: string[] = [];
  try {
    // Every session of this run's users, as the database has it.
    const sessions = await sql<SessionRow[]>`
      SELECT session_id::text AS session_id,
             count(*)::int AS rows,
             count(*) FILTER (WHERE rotated_at IS NULL AND revoked_at IS NULL AND expires_at > now())::int AS valid,
             count(*) FILTER (WHERE rotated_at IS NULL AND revoked_at IS NULL)::int AS heads,
             count(*) FILTER (WHERE revoked_at IS NOT NULL)::int AS revoked_rows,
             coalesce(array_agg(DISTINCT revoked_reason) FILTER (WHERE revoked_reason IS NOT NULL), '{}') AS reasons,
             min(token_hash) FILTER (WHERE rotated_at IS NULL AND revoked_at IS NULL AND expires_at > now()) AS valid_hash
        FROM refresh_tokens
       WHERE user_id IN ${sql(input.userIds)}
       GROUP BY session_id`;
    const bySession = new Map(sessions.map((row) => [row.session_id, row]));
    const byReason = new Map<string, number>();
    let live = 0;
    let revoked = 0;

    // Each session: exactly one valid token (live), or none and revoked. Never two (a fork),
    // never none without a revocation (a lost session), never a valid token after a revocation.
    for (const row of sessions) {
      const id = row.session_id;
      if (row.valid > 1) problems.push(`session ${id}: ${row.valid} valid refresh tokens (a fork)`);
      if (row.heads > 1) problems.push(`session ${id}: ${row.heads} unrotated, unrevoked rows`);
      if (row.valid === 0 && row.revoked_rows === 0) {
        problems.push(`session ${id}: no valid refresh token and not revoked (${row.rows} rows)`);
      }
      if (row.valid > 0 && row.revoked_rows > 0) {
        problems.push(
          `session ${id}: a valid refresh token next to ${row.revoked_rows} revoked rows (${row.reasons.join(', ')})`,
        );
      }
      if (row.valid === 1 && row.revoked_rows === 0) live++;
      if (row.valid === 0 && row.revoked_rows > 0) {
        revoked++;
        const reason = row.reasons.join('+');
        byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
      }
      if (!input.expected.has(id)) problems.push(`session ${id}: in the database, but no client opened it`);
    }

    // Each session as its client expects: live with the token it holds, or revoked for its reason.
    for (const [id, expected] of input.expected) {
      const row = bySession.get(id);
      if (!row) {
        problems.push(`session ${id} (${expected.label}): no refresh token rows at all`);
      } else if (expected.state === 'unknown') {
        // reported by the HTTP checks
      } else if (expected.state === 'live') {
        if (row.valid !== 1) {
          problems.push(
            `session ${id} (${expected.label}): expected live, has ${row.valid} valid tokens (revoked: ${row.reasons.join(', ') || 'no'})`,
          );
        } else if (row.valid_hash !== tokenHash(expected.token)) {
          problems.push(`session ${id} (${expected.label}): the valid token is not the one its client holds`);
        }
      } else if (row.valid !== 0 || !row.reasons.includes(expected.reason)) {
        problems.push(
          `session ${id} (${expected.label}): expected revoked (${expected.reason}), ` +
            `has ${row.valid} valid tokens, revoked reasons: ${row.reasons.join(', ') || 'none'}`,
        );
      }
    }

    // The tokens of every refresh 200 (presented and returned) and of every replay.
    const oks = input.refreshes.filter((sample) => isStatus(sample, 200) && sample.presented);
    const tokens = new Set<string>(input.replayed);
    for (const sample of oks) {
      tokens.add(sample.presented!);
      if (sample.outcome.kind === 'response') tokens.add(String(sample.outcome.json?.refresh_token));
    }
    const hashes = [...tokens].map(tokenHash);
    const tokenRows =
      hashes.length === 0
        ? []
        : await sql<TokenRow[]>`
            SELECT token_hash, session_id::text AS session_id, rotated_at, revoked_at
              FROM refresh_tokens
             WHERE token_hash IN ${sql(hashes)}`;
    const byHash = new Map(tokenRows.map((row) => [row.token_hash, row]));
    const rowOf = (token: string) => byHash.get(tokenHash(token));

    // Client side: every 200 for one presented token carried the same successor.
    const successors = new Map<string, Set<string>>();
    for (const sample of oks) {
      if (sample.outcome.kind !== 'response') continue;
      const set = successors.get(sample.presented!) ?? new Set<string>();
      set.add(sample.outcome.json?.refresh_token);
      successors.set(sample.presented!, set);
    }
    for (const [presented, set] of successors) {
      if (set.size !== 1) {
        problems.push(
          `session ${rowOf(presented)?.session_id}: ${set.size} different refresh tokens returned for one presented token (a fork seen by clients)`,
        );
      }
    }

    // Server side: no rotated token succeeded outside the grace window. rotated_at is the
    // server's `now` of the request that rotated it; a later request (an in-grace replay) was
    // decided at a server time no earlier than when we sent it. So a 200 sent more than the
    // window after the rotation (that is: observed later than window + its own latency) is
    // a reused token that succeeded outside the window.
    let maxGraceAnswerMs = 0;
    let maxGraceSentMs = 0;
    for (const sample of oks) {
      if (sample.outcome.kind !== 'response') continue;
      const presented = rowOf(sample.presented!);
      const returned = rowOf(String(sample.outcome.json?.refresh_token));
      const where = `refresh 200 (${sample.label}, session ${sample.outcome.json?.session_id})`;
      if (!presented) {
        problems.push(`${where}: the presented token is not in the database`);
        continue;
      }
      if (!presented.rotated_at) {
        problems.push(`${where}: answered 200, yet the presented token was never rotated`);
        continue;
      }
      if (!returned || returned.session_id !== presented.session_id) {
        problems.push(`${where}: the returned refresh token is not a token of the same session`);
      }
      if (presented.session_id !== sample.outcome.json?.session_id) {
        problems.push(`${where}: session_id differs from the presented token's (${presented.session_id})`);
      }
      const rotatedAt = presented.rotated_at.getTime();
      if (rotatedAt > sample.receivedAt + input.slackMs) {
        problems.push(
          `${where}: the token was rotated ${rotatedAt - sample.receivedAt} ms after the 200 was observed`,
        );
      }
      const sentAfter = sample.sentAt - rotatedAt;
      if (sentAfter > input.graceMs + input.slackMs) {
        problems.push(
          `${where}: a token rotated ${sentAfter} ms before the request was sent succeeded (grace window ${input.graceMs} ms)`,
        );
      }
      maxGraceAnswerMs = Math.max(maxGraceAnswerMs, sample.receivedAt - rotatedAt);
      maxGraceSentMs = Math.max(maxGraceSentMs, sentAfter);
    }

    // Every session a replay after the window was sent for is revoked for reuse.
    for (const token of input.replayed) {
      const row = rowOf(token);
      const session = row && bySession.get(row.session_id);
      if (!row || !session) {
        problems.push('a replayed token is not in the database');
      } else if (session.valid !== 0 || !session.reasons.includes('reuse_detected')) {
        problems.push(
          `session ${row.session_id}: replayed after the grace window, yet ${session.valid} valid tokens ` +
            `(revoked reasons: ${session.reasons.join(', ') || 'none'})`,
        );
      }
    }

    return {
      problems,
      sessions: { total: sessions.length, live, revoked, byReason },
      maxGraceAnswerMs,
      maxGraceSentMs,
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
