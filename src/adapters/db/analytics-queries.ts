import { type SQL, sql } from 'drizzle-orm';
import { endedHead, liveHead } from './live-sessions.js';

/**
 * The statements behind GET /v1/admin/analytics. Each one is bounded (a time window, a
 * LIMIT, or the live sessions themselves) and has an index path:
 * - live sessions: `refresh_tokens_live_head_user_idx`, partial on the heads, so the
 *   rotation history (most of the table) is never read;
 * - ended sessions: `refresh_tokens_revoked_head_idx` on `revoked_at`;
 * - everything per day: `security_events_type_created_idx` on (type, created_at);
 * - logins by country and device: `security_events_login_facts_idx`, partial on logins, which
 *   carries the grouped columns (index-only even when the window is the whole retention).
 * They are exported so that a test can EXPLAIN them on PostgreSQL (test/admin-analytics.test.ts).
 */
export interface AnalyticsWindow {
  now: Date;
  since: Date;
  /** Upper bounds (seconds) of the duration buckets, ascending; one more bucket holds the rest. */
  durationBuckets: number[];
  userAgentLimit: number;
}

/** UTC day of an event, as `YYYY-MM-DD`. */
const utcDay = sql`to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`;

const eventsPerDay = (types: string[], since: string, now: string) => sql`
  SELECT ${utcDay} AS day, count(*)::int AS count
  FROM security_events
  WHERE type IN (${sql.join(
    types.map((type) => sql`${type}`),
    sql`, `,
  )})
    AND created_at >= ${since}::timestamptz AND created_at <= ${now}::timestamptz
  GROUP BY 1 ORDER BY 1`;

/**
 * The bucket of a duration: 1 for `<= bounds[0]`, …, `bounds.length + 1` beyond the last.
 * (`width_bucket` counts a value equal to a bound into the next bucket; this does not.)
 */
const bucketOf = (seconds: SQL, bounds: number[]) =>
  sql`(1 + ${sql.join(
    bounds.map((bound) => sql`(CASE WHEN ${seconds} > ${bound} THEN 1 ELSE 0 END)`),
    sql` + `,
  )})`;

export function analyticsQueries(window: AnalyticsWindow) {
  const now = window.now.toISOString();
  const since = window.since.toISOString();
  const bounds = window.durationBuckets;
  const endedSeconds = sql`extract(epoch FROM LEAST(revoked_at, expires_at) - session_created_at)`;
  const ageSeconds = sql`extract(epoch FROM ${now}::timestamptz - session_created_at)`;
  const loginsSince = sql`type = 'login_succeeded'
    AND created_at >= ${since}::timestamptz AND created_at <= ${now}::timestamptz`;
  return {
    liveSessionsPerUser: sql`
      SELECT count(*)::int AS users,
        COALESCE(sum(n), 0)::int AS sessions,
        COALESCE(percentile_disc(0.5) WITHIN GROUP (ORDER BY n), 0)::int AS p50,
        COALESCE(percentile_disc(0.9) WITHIN GROUP (ORDER BY n), 0)::int AS p90,
        COALESCE(percentile_disc(0.99) WITHIN GROUP (ORDER BY n), 0)::int AS p99,
        COALESCE(max(n), 0)::int AS max
      FROM (SELECT user_id, count(*) AS n FROM refresh_tokens WHERE ${liveHead(window.now)} GROUP BY user_id) per_user`,
    liveSessionAges: sql`
      SELECT ${bucketOf(ageSeconds, bounds)} AS bucket, count(*)::int AS count
      FROM refresh_tokens WHERE ${liveHead(window.now)}
      GROUP BY 1`,
    // A revoked session's head is its one revoked row that was never rotated. Step-ups
    // replace the head but keep the session, so they are not endings.
    endedSessionDurations: sql`
      SELECT ${bucketOf(endedSeconds, bounds)} AS bucket, count(*)::int AS count
      FROM refresh_tokens
      WHERE ${endedHead()}
        AND revoked_at >= ${since}::timestamptz AND revoked_at <= ${now}::timestamptz
        AND revoked_reason <> 'stepped_up'
      GROUP BY 1`,
    // Every opened session records one login_succeeded (password, MFA, or a held login).
    sessionsCreated: eventsPerDay(['login_succeeded'], since, now),
    reuseDetections: eventsPerDay(['refresh_token_reused'], since, now),
    throttled: eventsPerDay(['login_throttled', 'mfa_throttled'], since, now),
    loginsByCountry: sql`
      SELECT country, count(*)::int AS count
      FROM security_events WHERE ${loginsSince}
      GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 300`,
    loginsByUserAgent: sql`
      SELECT user_agent, count(*)::int AS count
      FROM security_events WHERE ${loginsSince}
      GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ${window.userAgentLimit}`,
  } satisfies Record<string, SQL>;
}

export type AnalyticsQueryName = keyof ReturnType<typeof analyticsQueries>;
