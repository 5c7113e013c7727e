import { and, desc, eq, gt, lt, or, type SQL, sql } from 'drizzle-orm';
import { UNUSUAL_TIME } from '../../domain/unusual-time.js';
import { webhookBody, webhookEventOf } from '../../domain/webhook-events.js';
import type { SecurityEvent, SecurityEventLog, SeenBefore } from '../../ports/store.js';
import { type Database, rowsOf } from './database.js';
import { insertOutboxMessages } from './drizzle-outbox.js';
import { securityEvents } from './schema.js';

/** The row of a security event (other adapters insert one inside their own transaction). */
export const securityEventRow = (event: SecurityEvent) => ({
  id: crypto.randomUUID(),
  userId: event.userId,
  sessionId: event.sessionId ?? null,
  type: event.type,
  ipAddress: event.ipAddress ?? null,
  userAgent: event.userAgent ?? null,
  details: event.details ?? null,
  country: typeof event.details?.country === 'string' ? event.details.country : null,
  createdAt: event.at,
});

/**
 * Records security events with the caller's transaction (or alone), and with each the webhook
 * deliveries it makes (issue #18): one statement per event, so an event and its deliveries
 * exist together or not at all. The deliveries go to every enabled endpoint subscribed to the
 * event's type, one outbox row each, due at once, with a fresh `webhook-id` that stays the same
 * on every attempt.
 */
export async function insertSecurityEvents(
  tx: Pick<Database, 'insert' | 'execute'>,
  events: readonly SecurityEvent[],
): Promise<void> {
  for (const event of events) {
    const hook = webhookEventOf(event);
    const row = securityEventRow(event);
    if (!hook) {
      await tx.insert(securityEvents).values(row);
      continue;
    }
    const at = row.createdAt.toISOString();
    await tx.execute(sql`
      WITH event AS (
        INSERT INTO security_events (id, user_id, session_id, type, ip_address, user_agent, details, country, created_at)
        VALUES (${row.id}::uuid, ${row.userId}::uuid, ${row.sessionId}::uuid, ${row.type}, ${row.ipAddress}::inet,
          ${row.userAgent}, ${row.details === null ? null : JSON.stringify(row.details)}::jsonb, ${row.country},
          ${at}::timestamptz)
      )
      INSERT INTO outbox (id, kind, user_id, idempotency_key, payload, status, attempts, next_attempt_at,
        created_at, endpoint_id)
      SELECT gen_random_uuid(), ${hook.type}, NULL, 'msg_' || replace(gen_random_uuid()::text, '-', ''),
        ${webhookBody(hook, row.createdAt)}, 'pending', 0, ${at}::timestamptz, ${at}::timestamptz, endpoint.id
      FROM webhook_endpoints endpoint
      WHERE endpoint.enabled AND (endpoint.event_types IS NULL OR ${hook.type}::text = ANY (endpoint.event_types))`);
  }
}

/** The row of `seenBeforeColumns`. */
export interface SeenRow {
  device: boolean;
  location: boolean;
  history: number | string;
  near_hour: boolean;
}

/**
 * SecurityEventLog.seenBefore as select-list columns (device, location, history, near_hour)
 * for the user `userId` (a parameter, or a column of the statement that embeds them: the
 * login's one read, drizzle-login-store.ts).
 */
export function seenBeforeColumns(
  userId: SQL,
  { userAgent, location }: { userAgent: string | null; location: string | null },
  at: Date,
): SQL {
  const loginWith = (condition: SQL) => sql`EXISTS (
        SELECT 1 FROM security_events
        WHERE user_id = ${userId} AND type IN ('login_succeeded') AND ${condition})`;
  const since = new Date(at.getTime() - UNUSUAL_TIME.HISTORY_DAYS * 86_400_000).toISOString();
  const recent = sql`user_id = ${userId} AND type = 'login_succeeded' AND created_at > ${since}::timestamptz`;
  // The hour of the day as a fraction, UTC; its distance to this one's on a 24-hour circle.
  const hourOfDay = sql`(extract(epoch FROM (created_at AT TIME ZONE 'UTC')::time) / 3600.0)`;
  const thisHour = (at.getTime() % 86_400_000) / 3_600_000;
  const distance = sql`LEAST(abs(${hourOfDay} - ${thisHour}::float8), 24 - abs(${hourOfDay} - ${thisHour}::float8))`;
  return sql`
          ${userAgent === null ? sql`true` : loginWith(sql`user_agent = ${userAgent}`)} AS device,
          ${location === null ? sql`true` : loginWith(sql`details->>'location' = ${location}`)} AS location,
          (SELECT count(*)::int FROM (SELECT 1 FROM security_events WHERE ${recent}
            LIMIT ${UNUSUAL_TIME.MIN_HISTORY}) enough) AS history,
          EXISTS (SELECT 1 FROM security_events WHERE ${recent}
            AND ${distance} <= ${UNUSUAL_TIME.NEIGHBOUR_HOURS}) AS near_hour`;
}

export const seenOf = (row: SeenRow | undefined): SeenBefore => ({
  device: Boolean(row?.device),
  location: Boolean(row?.location),
  signIns: { count: Number(row?.history ?? 0), nearThisHour: Boolean(row?.near_hour) },
});

/** The security event log (the SecurityEventLog port) over drizzle. */
export function createEventLog(db: Database): SecurityEventLog {
  return {
    async recordSecurityEvent(event, notices = []) {
      if (notices.length === 0) {
        await insertSecurityEvents(db, [event]);
        return;
      }
      await db.transaction(async (tx) => {
        await insertSecurityEvents(tx, [event]);
        await insertOutboxMessages(tx, notices);
      });
    },

    async hasLoggedInFrom(userId, network, since) {
      const rows = await db
        .select({ one: sql`1` })
        .from(securityEvents)
        .where(
          and(
            eq(securityEvents.userId, userId),
            eq(securityEvents.type, 'login_succeeded'),
            gt(securityEvents.createdAt, since),
            sql`${securityEvents.ipAddress} <<= ${network}::cidr`,
          ),
        )
        .limit(1);
      return rows.length === 1;
    },

    async seenBefore(userId, device, at) {
      const [row] = rowsOf<SeenRow>(
        await db.execute(sql`SELECT ${seenBeforeColumns(sql`${userId}`, device, at)}`),
      );
      return seenOf(row);
    },

    async listSecurityEvents(userId, { limit, before }) {
      return db
        .select({
          id: securityEvents.id,
          type: securityEvents.type,
          sessionId: securityEvents.sessionId,
          ipAddress: securityEvents.ipAddress,
          userAgent: securityEvents.userAgent,
          details: securityEvents.details,
          at: securityEvents.createdAt,
        })
        .from(securityEvents)
        .where(
          and(
            eq(securityEvents.userId, userId),
            before
              ? or(
                  lt(securityEvents.createdAt, before.at),
                  and(eq(securityEvents.createdAt, before.at), lt(securityEvents.id, before.id)),
                )
              : undefined,
          ),
        )
        .orderBy(desc(securityEvents.createdAt), desc(securityEvents.id))
        .limit(limit);
    },
  };
}
