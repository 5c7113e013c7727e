import { type SQL, sql } from 'drizzle-orm';
import type { LimitCharge, RateLimiter } from '../../ports/rate-limiter.js';
import { type Database, rowsOf } from './database.js';

const secondsUntil = (end: number, now: Date) => Math.max(1, Math.ceil((end - now.getTime()) / 1000));

/**
 * The upsert of a hit (`RateLimiter.hit`), for other statements to embed as a CTE (the login's
 * one read, drizzle-login-store.ts): one row per key, sorted so that two hits over the same keys
 * lock them in one order. `INSERT … ON CONFLICT DO UPDATE … RETURNING` takes the row lock, so N
 * parallel hits on one key return N distinct counts. Returns key, points, ends_ms.
 */
export function hitStatement(charges: readonly LimitCharge[], now: Date): SQL {
  const at = now.toISOString();
  const keys = [...new Set(charges.map((charge) => charge.key))].sort();
  const windowOf = new Map(charges.map((charge) => [charge.key, charge.policy.windowMs]));
  const values = sql.join(
    keys.map(
      (key) =>
        sql`(${key}::text, 1, ${new Date(now.getTime() + windowOf.get(key)!).toISOString()}::timestamptz)`,
    ),
    sql`, `,
  );
  return sql`
          INSERT INTO rate_limits (key, points, window_ends_at) VALUES ${values}
          ON CONFLICT (key) DO UPDATE SET
            points = CASE WHEN rate_limits.window_ends_at <= ${at}::timestamptz THEN 1 ELSE rate_limits.points + 1 END,
            window_ends_at = CASE WHEN rate_limits.window_ends_at <= ${at}::timestamptz
              THEN excluded.window_ends_at ELSE rate_limits.window_ends_at END
          RETURNING key, points, (extract(epoch FROM window_ends_at) * 1000)::float8 AS ends_ms`;
}

/** The seconds each charge waits (0: within its limit), from the rows `hitStatement` returned. */
export function waitsOf(
  rows: readonly { key: string; points: number | string; ends_ms: number | string }[],
  charges: readonly LimitCharge[],
  now: Date,
): number[] {
  const byKey = new Map(rows.map((row) => [row.key, row]));
  return charges.map(({ key, policy }) => {
    const row = byKey.get(key);
    // No row back means the statement did not do what it says: refuse rather than allow.
    if (!row) return secondsUntil(now.getTime() + policy.windowMs, now);
    return Number(row.points) <= policy.points ? 0 : secondsUntil(Number(row.ends_ms), now);
  });
}

/**
 * Refund (`RateLimiter.refund`) as one statement. Rows are locked in key order, as a hit locks
 * them: no deadlock between the two.
 */
export function refundStatement(keys: readonly string[], now: Date, clear: readonly string[]): SQL {
  const all = [...new Set([...keys, ...clear])];
  const at = now.toISOString();
  const list = (items: readonly string[]) =>
    sql.join(
      items.map((key) => sql`${key}::text`),
      sql`, `,
    );
  return sql`
        WITH locked_limits AS (
          SELECT key FROM rate_limits WHERE key IN (${list(all)})
          ORDER BY key
          FOR UPDATE
        )
        UPDATE rate_limits SET points = ${
          clear.length > 0
            ? sql`CASE WHEN rate_limits.key IN (${list(clear)}) THEN 0 ELSE rate_limits.points - 1 END`
            : sql`rate_limits.points - 1`
        }
        FROM locked_limits
        WHERE rate_limits.key = locked_limits.key AND rate_limits.points > 0
          AND rate_limits.window_ends_at > ${at}::timestamptz`;
}

/**
 * Fixed-window attempt counters in PostgreSQL, so every instance sees the same counts. A
 * hit is one upsert for all its keys (`hitStatement`): whatever the concurrency, at most
 * `points` of N parallel hits on one key are within the limit.
 */
export function createDrizzleRateLimiter(db: Database): RateLimiter {
  return {
    async hit(charges, now) {
      if (charges.length === 0) return [];
      const rows = rowsOf<{ key: string; points: number; ends_ms: number | string }>(
        await db.execute(hitStatement(charges, now)),
      );
      return waitsOf(rows, charges, now);
    },

    async refund(keys, now, clear = []) {
      if (keys.length + clear.length === 0) return;
      await db.execute(refundStatement(keys, now, clear));
    },
  };
}
