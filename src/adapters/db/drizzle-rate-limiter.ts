import { sql } from 'drizzle-orm';
import type { RateLimiter } from '../../ports/rate-limiter.js';
import { type Database, rowsOf } from './database.js';

/**
 * Fixed-window attempt counters in PostgreSQL, so every instance sees the same counts. A
 * hit is one upsert for all its keys: `INSERT … ON CONFLICT DO UPDATE … RETURNING` takes the
 * row lock, so N parallel hits on one key return N distinct counts and at most `points` of
 * them are within the limit, whatever the concurrency.
 */
export function createDrizzleRateLimiter(db: Database): RateLimiter {
  const secondsUntil = (end: number, now: Date) => Math.max(1, Math.ceil((end - now.getTime()) / 1000));

  return {
    async hit(charges, now) {
      if (charges.length === 0) return [];
      const at = now.toISOString();
      // One row per key, sorted so that two hits over the same keys lock them in one order.
      const keys = [...new Set(charges.map((charge) => charge.key))].sort();
      const windowOf = new Map(charges.map((charge) => [charge.key, charge.policy.windowMs]));
      const values = sql.join(
        keys.map(
          (key) =>
            sql`(${key}::text, 1, ${new Date(now.getTime() + windowOf.get(key)!).toISOString()}::timestamptz)`,
        ),
        sql`, `,
      );
      const rows = rowsOf<{ key: string; points: number; ends_ms: number | string }>(
        await db.execute(sql`
          INSERT INTO rate_limits (key, points, window_ends_at) VALUES ${values}
          ON CONFLICT (key) DO UPDATE SET
            points = CASE WHEN rate_limits.window_ends_at <= ${at}::timestamptz THEN 1 ELSE rate_limits.points + 1 END,
            window_ends_at = CASE WHEN rate_limits.window_ends_at <= ${at}::timestamptz
              THEN excluded.window_ends_at ELSE rate_limits.window_ends_at END
          RETURNING key, points, (extract(epoch FROM window_ends_at) * 1000)::float8 AS ends_ms`),
      );
      const byKey = new Map(rows.map((row) => [row.key, row]));
      return charges.map(({ key, policy }) => {
        const row = byKey.get(key);
        // No row back means the statement did not do what it says: refuse rather than allow.
        if (!row) return secondsUntil(now.getTime() + policy.windowMs, now);
        return Number(row.points) <= policy.points ? 0 : secondsUntil(Number(row.ends_ms), now);
      });
    },

    async refund(keys, now, clear = []) {
      const all = [...new Set([...keys, ...clear])];
      if (all.length === 0) return;
      const at = now.toISOString();
      const list = (items: string[]) =>
        sql.join(
          items.map((key) => sql`${key}::text`),
          sql`, `,
        );
      // Rows are locked in key order, as `hit` locks them: no deadlock between the two.
      await db.execute(sql`
        WITH locked AS (
          SELECT key FROM rate_limits WHERE key IN (${list(all)})
          ORDER BY key
          FOR UPDATE
        )
        UPDATE rate_limits SET points = ${
          clear.length > 0
            ? sql`CASE WHEN rate_limits.key IN (${list(clear)}) THEN 0 ELSE rate_limits.points - 1 END`
            : sql`rate_limits.points - 1`
        }
        FROM locked
        WHERE rate_limits.key = locked.key AND rate_limits.points > 0
          AND rate_limits.window_ends_at > ${at}::timestamptz`);
    },
  };
}
