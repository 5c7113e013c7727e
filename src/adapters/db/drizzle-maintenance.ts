import { and, desc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { CleanupTable, Maintenance, SigningKeyStore } from '../../ports/store.js';
import { type Database, rowsOf } from './database.js';
import { endedHead, liveHead } from './live-sessions.js';
import { signingKeys } from './schema.js';

/** Serialises the signing-key changes of every instance on one database. */
const SIGNING_KEY_LOCK = 0x4c4b_0001;

/** Table, key column and the timestamp whose index drives the batch, per cleanup job. */
const CLEANUP_COLUMNS: Record<CleanupTable, [string, string, string]> = {
  refresh_tokens: ['refresh_tokens', 'id', 'expires_at'],
  revoked_sessions: ['refresh_tokens', 'id', 'revoked_at'],
  mfa_challenges: ['mfa_challenges', 'id', 'expires_at'],
  rate_limits: ['rate_limits', 'key', 'window_ends_at'],
  security_events: ['security_events', 'id', 'created_at'],
  signing_keys: ['signing_keys', 'kid', 'retired_at'],
  login_holds: ['login_holds', 'id', 'expires_at'],
  email_tokens: ['email_tokens', 'id', 'expires_at'],
  deleted_users: ['users', 'id', 'deleted_at'],
  outbox: ['outbox', 'id', 'created_at'],
  webauthn_challenges: ['webauthn_challenges', 'challenge_hash', 'expires_at'],
  dpop_proofs: ['dpop_proofs', 'key', 'expires_at'],
};

/** More than age: a pending message is never deleted, however old (operators see it age). */
const CLEANUP_CONDITIONS: Partial<Record<CleanupTable, ReturnType<typeof sql>>> = {
  outbox: sql`status IN ('sent', 'failed') AND `,
};

/** Signing keys, health figures and cleanup (SigningKeyStore, Maintenance) over drizzle. */
export function createMaintenanceStore(db: Database): SigningKeyStore & Maintenance {
  return {
    async ping() {
      await db.execute(sql`SELECT 1`);
    },

    async sessionStats(now) {
      const at = now.toISOString();
      const midnight = new Date(
        Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()),
      ).toISOString();
      const dayAgo = new Date(now.getTime() - 24 * 3600 * 1000).toISOString();
      const result = await db.execute(sql`
        SELECT
          (SELECT count(*) FROM refresh_tokens WHERE ${liveHead(now)})::float8 AS active,
          (SELECT COALESCE(avg(extract(epoch FROM ${at}::timestamptz - session_created_at)), 0) FROM refresh_tokens
            WHERE ${liveHead(now)})::float8 AS live_age,
          -- Every opened session records one login_succeeded: counted on the created_at index,
          -- where counting sessions in refresh_tokens would read the whole table.
          (SELECT count(*) FROM security_events
            WHERE created_at >= ${midnight}::timestamptz AND type = 'login_succeeded')::float8 AS created_today,
          (SELECT COALESCE(avg(extract(epoch FROM revoked_at - session_created_at)), 0) FROM refresh_tokens
            WHERE ${endedHead()} AND revoked_at > ${dayAgo}::timestamptz
              AND revoked_reason <> 'stepped_up')::float8 AS ended_duration`);
      const [row] = rowsOf<{
        active: number;
        live_age: number;
        created_today: number;
        ended_duration: number;
      }>(result);
      return {
        active: Number(row?.active ?? 0),
        createdToday: Number(row?.created_today ?? 0),
        averageLiveAgeSeconds: Number(row?.live_age ?? 0),
        averageEndedDurationSeconds: Number(row?.ended_duration ?? 0),
      };
    },

    async deleteExpiredBatch(table, cutoff, batchSize) {
      const at = cutoff.toISOString();
      const [name, key, column] = CLEANUP_COLUMNS[table];
      // Short transactions, no waiting: rows locked by another instance are skipped.
      const result = await db.execute(sql`
        WITH doomed AS (
          SELECT ${sql.identifier(key)} AS k FROM ${sql.identifier(name)}
          WHERE ${CLEANUP_CONDITIONS[table] ?? sql``}${sql.identifier(column)} < ${at}::timestamptz
          ORDER BY ${sql.identifier(column)}
          LIMIT ${batchSize}
          FOR UPDATE SKIP LOCKED
        )
        DELETE FROM ${sql.identifier(name)} WHERE ${sql.identifier(key)} IN (SELECT k FROM doomed)
        RETURNING 1`);
      return rowsOf(result).length;
    },

    async listSigningKeys() {
      return db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt), desc(signingKeys.kid));
    },

    async addSigningKey(key, { onlyIfNone, retire }) {
      // A key "signs at t" when activates_at <= t < retired_at (or no retired_at).
      const from = key.activatesAt;
      const stillSigningAt = or(isNull(signingKeys.retiredAt), gt(signingKeys.retiredAt, from));
      return db.transaction(async (tx) => {
        await tx.execute(sql`SELECT pg_advisory_xact_lock(${SIGNING_KEY_LOCK})`);
        if (onlyIfNone) {
          // Any unretired key of the algorithm counts, whatever its activates_at: another
          // instance that took the lock first may have read its clock a moment later than ours.
          const current = await tx
            .select({ kid: signingKeys.kid })
            .from(signingKeys)
            .where(and(stillSigningAt, eq(signingKeys.alg, key.alg)))
            .limit(1);
          if (current.length > 0) return false;
        }
        // Keys that would still sign when the new one starts stop at that moment: exactly one
        // key of an algorithm signs at any time, and the old one keeps signing until then.
        await tx
          .update(signingKeys)
          .set({ retiredAt: from })
          .where(retire === 'all' ? stillSigningAt : and(stillSigningAt, eq(signingKeys.alg, key.alg)));
        await tx.insert(signingKeys).values(key);
        return true;
      });
    },
  };
}
