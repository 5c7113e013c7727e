import { and, desc, eq, isNotNull, isNull, lt, lte, or, type SQL, sql } from 'drizzle-orm';
import type { ClaimedDelivery, DeliveryStatus, DeliveryView, WebhookStore } from '../../ports/webhooks.js';
import { type Database, rowsOf } from './database.js';
import { outbox, users, webhookEndpoints } from './schema.js';

/** last_error is for operators: bounded, whatever the receiver or the network said. */
const bounded = (error: string) => error.slice(0, 500);

const endpointColumns = {
  id: webhookEndpoints.id,
  url: webhookEndpoints.url,
  description: webhookEndpoints.description,
  eventTypes: webhookEndpoints.eventTypes,
  enabled: webhookEndpoints.enabled,
  createdAt: webhookEndpoints.createdAt,
  updatedAt: webhookEndpoints.updatedAt,
  consecutiveFailures: webhookEndpoints.consecutiveFailures,
  lastSuccessAt: webhookEndpoints.lastSuccessAt,
  disabledAt: webhookEndpoints.disabledAt,
  disabledReason: webhookEndpoints.disabledReason,
  previousSecretExpiresAt: webhookEndpoints.previousSecretExpiresAt,
};

const deliveryColumns = {
  id: outbox.id,
  endpointId: outbox.endpointId,
  type: outbox.kind,
  webhookId: outbox.idempotencyKey,
  status: outbox.status,
  attempts: outbox.attempts,
  lastStatus: outbox.lastStatus,
  lastError: outbox.lastError,
  nextAttemptAt: outbox.nextAttemptAt,
  createdAt: outbox.createdAt,
  sentAt: outbox.sentAt,
};

/** Webhook endpoints and deliveries (the WebhookStore port) over drizzle: deliveries are outbox rows with an endpoint. */
export function createWebhookStore(db: Database): WebhookStore {
  return {
    async createWebhookEndpoint({ id, url, description, eventTypes, sealedSecret, now }) {
      const [row] = await db
        .insert(webhookEndpoints)
        .values({ id, url, description, eventTypes, secret: sealedSecret, createdAt: now, updatedAt: now })
        .returning(endpointColumns);
      return row!;
    },

    listWebhookEndpoints() {
      return db.select(endpointColumns).from(webhookEndpoints).orderBy(webhookEndpoints.createdAt);
    },

    async findWebhookEndpoint(id) {
      const [row] = await db
        .select(endpointColumns)
        .from(webhookEndpoints)
        .where(eq(webhookEndpoints.id, id));
      return row;
    },

    async updateWebhookEndpoint(id, patch, now) {
      const [row] = await db
        .update(webhookEndpoints)
        .set({
          ...(patch.url !== undefined ? { url: patch.url } : {}),
          ...(patch.description !== undefined ? { description: patch.description } : {}),
          ...(patch.eventTypes !== undefined ? { eventTypes: patch.eventTypes } : {}),
          ...(patch.enabled === true
            ? { enabled: true, disabledAt: null, disabledReason: null, consecutiveFailures: 0 }
            : patch.enabled === false
              ? { enabled: false, disabledAt: now, disabledReason: 'disabled by an operator' }
              : {}),
          updatedAt: now,
        })
        .where(eq(webhookEndpoints.id, id))
        .returning(endpointColumns);
      return row;
    },

    async deleteWebhookEndpoint(id) {
      // Its deliveries go with it (ON DELETE CASCADE).
      const rows = await db
        .delete(webhookEndpoints)
        .where(eq(webhookEndpoints.id, id))
        .returning({ id: webhookEndpoints.id });
      return rows.length === 1;
    },

    async rotateWebhookSecret(id, { sealedSecret, previousUntil, now }) {
      const [row] = await db
        .update(webhookEndpoints)
        .set({
          previousSecret: sql`${webhookEndpoints.secret}`,
          previousSecretExpiresAt: previousUntil,
          secret: sealedSecret,
          updatedAt: now,
        })
        .where(eq(webhookEndpoints.id, id))
        .returning(endpointColumns);
      return row;
    },

    async enqueueWebhookDelivery({ endpointId, type, body, now }) {
      const at = now.toISOString();
      const result = await db.execute(sql`
        INSERT INTO outbox (id, kind, user_id, idempotency_key, payload, status, attempts, next_attempt_at,
          created_at, endpoint_id)
        SELECT gen_random_uuid(), ${type}, NULL, 'msg_' || replace(gen_random_uuid()::text, '-', ''), ${body},
          'pending', 0, ${at}::timestamptz, ${at}::timestamptz, id
        FROM webhook_endpoints WHERE id = ${endpointId}::uuid
        RETURNING id`);
      return rowsOf<{ id: string }>(result)[0]?.id;
    },

    async claimDueDeliveries(now, limit, leaseMs) {
      const at = now.toISOString();
      const leaseEnds = new Date(now.getTime() + leaseMs).toISOString();
      // As the mail's claim: locked by the sub-select (SKIP LOCKED), pushed one lease ahead.
      // Deliveries of a disabled endpoint wait, pending, until it is enabled again.
      const result = await db.execute(sql`
        WITH claimed AS (
          UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ${leaseEnds}::timestamptz
          WHERE id IN (
            SELECT o.id FROM outbox o JOIN webhook_endpoints e ON e.id = o.endpoint_id
            WHERE o.status = 'pending' AND o.endpoint_id IS NOT NULL AND e.enabled
              AND o.next_attempt_at <= ${at}::timestamptz
            ORDER BY o.next_attempt_at
            LIMIT ${limit}
            FOR UPDATE OF o SKIP LOCKED
          )
          RETURNING id, kind, idempotency_key, payload, attempts, created_at, endpoint_id
        )
        SELECT claimed.id, claimed.kind, claimed.idempotency_key, claimed.payload, claimed.attempts,
          (extract(epoch FROM claimed.created_at) * 1000)::float8 AS created_at_ms,
          e.id AS endpoint_id, e.url, e.secret, e.previous_secret,
          (extract(epoch FROM e.previous_secret_expires_at) * 1000)::float8 AS previous_until_ms
        FROM claimed JOIN webhook_endpoints e ON e.id = claimed.endpoint_id`);
      return rowsOf<{
        id: string;
        kind: string;
        idempotency_key: string;
        payload: string | null;
        attempts: number;
        created_at_ms: number | string;
        endpoint_id: string;
        url: string;
        secret: string;
        previous_secret: string | null;
        previous_until_ms: number | string | null;
      }>(result).flatMap((row): ClaimedDelivery[] =>
        row.payload === null
          ? []
          : [
              {
                id: row.id,
                type: row.kind,
                webhookId: row.idempotency_key,
                body: row.payload,
                attempts: Number(row.attempts),
                createdAt: new Date(Number(row.created_at_ms)),
                endpoint: {
                  id: row.endpoint_id,
                  url: row.url,
                  sealedSecret: row.secret,
                  sealedPreviousSecret: row.previous_secret,
                  previousSecretExpiresAt:
                    row.previous_until_ms === null ? null : new Date(Number(row.previous_until_ms)),
                },
              },
            ],
      );
    },

    // Outcomes apply to pending rows only (a sender whose lease ran out never undoes another's).
    async markDeliverySent(id, status, now) {
      await db.execute(sql`
        WITH sent AS (
          UPDATE outbox SET status = 'sent', sent_at = ${now.toISOString()}::timestamptz,
            last_status = ${status}, last_error = NULL
          WHERE id = ${id}::uuid AND status = 'pending' AND endpoint_id IS NOT NULL
          RETURNING endpoint_id
        )
        UPDATE webhook_endpoints SET consecutive_failures = 0,
          last_success_at = ${now.toISOString()}::timestamptz
        WHERE id IN (SELECT endpoint_id FROM sent)`);
    },

    async markDeliveryRetry(id, { at, error, status }) {
      await db.execute(sql`
        UPDATE outbox SET next_attempt_at = ${at.toISOString()}::timestamptz, last_error = ${bounded(error)},
          last_status = ${status}
        WHERE id = ${id}::uuid AND status = 'pending' AND endpoint_id IS NOT NULL`);
    },

    async markDeliveryFailed(id, { error, status, now, disableAfter }) {
      return db.transaction(async (tx) => {
        const [failed] = await tx
          .update(outbox)
          .set({ status: 'failed', lastError: bounded(error), lastStatus: status })
          .where(and(eq(outbox.id, id), eq(outbox.status, 'pending'), isNotNull(outbox.endpointId)))
          .returning({ endpointId: outbox.endpointId });
        if (!failed?.endpointId) return { endpointDisabled: undefined };
        // Counted and decided in one statement under the row's lock: of two deliveries failing
        // at once, exactly one crosses the threshold and disables the endpoint.
        const [counted] = await tx
          .update(webhookEndpoints)
          .set({ consecutiveFailures: sql`${webhookEndpoints.consecutiveFailures} + 1` })
          .where(eq(webhookEndpoints.id, failed.endpointId))
          .returning({ failures: webhookEndpoints.consecutiveFailures, enabled: webhookEndpoints.enabled });
        if (!counted?.enabled || counted.failures < disableAfter) return { endpointDisabled: undefined };
        const [disabled] = await tx
          .update(webhookEndpoints)
          .set({
            enabled: false,
            disabledAt: now,
            disabledReason: `${counted.failures} deliveries in a row failed`,
            updatedAt: now,
          })
          .where(eq(webhookEndpoints.id, failed.endpointId))
          .returning(endpointColumns);
        return { endpointDisabled: disabled };
      });
    },

    async listDeliveries(endpointId, { status, limit, before }) {
      const after: SQL | undefined = before
        ? and(lte(outbox.createdAt, before.at), or(lt(outbox.createdAt, before.at), lt(outbox.id, before.id)))
        : undefined;
      const rows = await db
        .select(deliveryColumns)
        .from(outbox)
        .where(and(eq(outbox.endpointId, endpointId), status ? eq(outbox.status, status) : undefined, after))
        .orderBy(desc(outbox.createdAt), desc(outbox.id))
        .limit(limit);
      return rows.map(
        (row): DeliveryView => ({
          ...row,
          endpointId: row.endpointId!,
          status: row.status as DeliveryStatus,
        }),
      );
    },

    async replayDelivery(id, now) {
      const replayed = await db
        .update(outbox)
        .set({ status: 'pending', attempts: 0, nextAttemptAt: now, lastError: null })
        .where(
          and(
            eq(outbox.id, id),
            eq(outbox.status, 'failed'),
            isNotNull(outbox.endpointId),
            isNotNull(outbox.payload),
          ),
        )
        .returning({ id: outbox.id });
      if (replayed.length === 1) return 'replayed';
      const [row] = await db
        .select({ id: outbox.id })
        .from(outbox)
        .where(and(eq(outbox.id, id), isNotNull(outbox.endpointId)));
      return row ? 'not_failed' : 'not_found';
    },

    async webhookAdmins() {
      return db
        .select({ id: users.id, email: users.email })
        .from(users)
        .where(and(eq(users.role, 'admin'), isNull(users.disabledAt), isNull(users.deletedAt)));
    },

    async webhookStats(now) {
      const result = await db.execute(sql`
        SELECT
          count(*) FILTER (WHERE status = 'pending')::float8 AS pending,
          count(*) FILTER (WHERE status = 'failed')::float8 AS failed,
          COALESCE(extract(epoch FROM ${now.toISOString()}::timestamptz
            - min(created_at) FILTER (WHERE status = 'pending')), 0)::float8 AS oldest
        FROM outbox WHERE endpoint_id IS NOT NULL`);
      const [row] = rowsOf<{ pending: number; failed: number; oldest: number }>(result);
      return {
        pending: Number(row?.pending ?? 0),
        failed: Number(row?.failed ?? 0),
        oldestPendingAgeSeconds: Math.max(0, Number(row?.oldest ?? 0)),
      };
    },
  };
}
