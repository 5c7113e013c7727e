import { sql } from 'drizzle-orm';
import type { RateLimiter } from '../../ports/rate-limiter.js';
import { type Database, rowsOf } from './database.js';

/**
 * Fixed-window failure counters in PostgreSQL, so every instance sees the same counts.
 * One upsert per failure; one indexed read per check.
 */
export function createDrizzleRateLimiter(db: Database): RateLimiter {
  const secondsUntil = (end: number, now: Date) => Math.max(1, Math.ceil((end - now.getTime()) / 1000));

  return {
    async retryAfter(key, policy, now) {
      const [row] = rowsOf<{ points: number; ends_ms: number | string }>(
        await db.execute(sql`
          SELECT points, (extract(epoch FROM window_ends_at) * 1000)::float8 AS ends_ms
          FROM rate_limits WHERE key = ${key}`),
      );
      if (!row) return 0;
      const ends = Number(row.ends_ms);
      return ends > now.getTime() && row.points >= policy.points ? secondsUntil(ends, now) : 0;
    },

    async penalize(key, policy, now) {
      const at = now.toISOString();
      const ends = new Date(now.getTime() + policy.windowMs).toISOString();
      const [row] = rowsOf<{ points: number; ends_ms: number | string }>(
        await db.execute(sql`
          INSERT INTO rate_limits (key, points, window_ends_at) VALUES (${key}, 1, ${ends}::timestamptz)
          ON CONFLICT (key) DO UPDATE SET
            points = CASE WHEN rate_limits.window_ends_at <= ${at}::timestamptz THEN 1 ELSE rate_limits.points + 1 END,
            window_ends_at = CASE WHEN rate_limits.window_ends_at <= ${at}::timestamptz
              THEN ${ends}::timestamptz ELSE rate_limits.window_ends_at END
          RETURNING points, (extract(epoch FROM window_ends_at) * 1000)::float8 AS ends_ms`),
      );
      if (!row || row.points < policy.points) return 0;
      return secondsUntil(Number(row.ends_ms), now);
    },

    async reset(key) {
      await db.execute(sql`DELETE FROM rate_limits WHERE key = ${key}`);
    },
  };
}
