import { and, desc, eq, isNotNull, isNull, lt, lte, or, type SQL, sql } from 'drizzle-orm';
import type {
  ClaimedMessage,
  MessageKind,
  NewOutboxMessage,
  OutboxMessageView,
  OutboxReview,
  OutboxStatus,
  OutboxStore,
} from '../../ports/mail.js';
import { type Database, rowsOf } from './database.js';
import { outbox } from './schema.js';

/** last_error is for operators: bounded, whatever the transport said. */
const MAX_ERROR_LENGTH = 500;
const bounded = (error: string) => error.slice(0, MAX_ERROR_LENGTH);

/**
 * Puts messages in the outbox with the caller's transaction (issue #17): the adapter that makes
 * a change (a reset requested, a password changed) calls this inside its own `db.transaction`,
 * so the message exists exactly when the change does — a rollback takes it away too.
 * The same idempotency key twice (a retried request) is one message: the second is ignored.
 */
export async function insertOutboxMessages(
  tx: Pick<Database, 'insert'>,
  messages: readonly NewOutboxMessage[],
): Promise<void> {
  if (messages.length === 0) return;
  await tx
    .insert(outbox)
    .values(
      messages.map((message) => ({
        id: message.id,
        kind: message.kind,
        userId: message.userId,
        idempotencyKey: message.idempotencyKey,
        payload: message.sealed,
        status: 'pending',
        attempts: 0,
        // Due at once: the next dispatcher run picks it up.
        nextAttemptAt: message.createdAt,
        createdAt: message.createdAt,
      })),
    )
    .onConflictDoNothing({ target: outbox.idempotencyKey });
}

const STATUSES: readonly OutboxStatus[] = ['pending', 'sent', 'failed'];

/** What operators may see of a row: everything but the body (it may hold a live link). */
const viewColumns = {
  id: outbox.id,
  kind: outbox.kind,
  userId: outbox.userId,
  status: outbox.status,
  attempts: outbox.attempts,
  nextAttemptAt: outbox.nextAttemptAt,
  lastError: outbox.lastError,
  createdAt: outbox.createdAt,
  sentAt: outbox.sentAt,
};

/** The operators' list and retry (OutboxReview) over drizzle. */
export function createOutboxReview(db: Database): OutboxReview {
  /** One status's page, on the index (status, created_at) read backwards. */
  const pageOf = (status: OutboxStatus, limit: number, before?: { at: Date; id: string }) => {
    const after: SQL | undefined = before
      ? and(
          // The first condition bounds the index scan; the second breaks ties on the id.
          lte(outbox.createdAt, before.at),
          or(lt(outbox.createdAt, before.at), lt(outbox.id, before.id)),
        )
      : undefined;
    return db
      .select(viewColumns)
      .from(outbox)
      .where(and(eq(outbox.status, status), isNull(outbox.endpointId), after))
      .orderBy(desc(outbox.createdAt), desc(outbox.id))
      .limit(limit);
  };

  return {
    async listOutboxMessages({ status, limit, before }) {
      // Without a status: each status's own page (three short index scans), merged here,
      // rather than a sort of the whole table.
      const pages = await Promise.all((status ? [status] : STATUSES).map((s) => pageOf(s, limit, before)));
      return pages
        .flat()
        .sort(
          (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
        )
        .slice(0, limit)
        .map(
          (row): OutboxMessageView => ({
            ...row,
            kind: row.kind as MessageKind,
            status: row.status as OutboxStatus,
          }),
        );
    },

    async retryFailedMessage(id, now) {
      // One conditional UPDATE: only a failed row whose sealed body is still there (a row
      // without one could never be sent; made pending, it would be claimed every lease for ever).
      const retried = await db
        .update(outbox)
        .set({ status: 'pending', attempts: 0, nextAttemptAt: now })
        .where(
          and(
            eq(outbox.id, id),
            eq(outbox.status, 'failed'),
            isNotNull(outbox.payload),
            isNull(outbox.endpointId),
          ),
        )
        .returning({ id: outbox.id });
      if (retried.length === 1) return 'retried';
      // Why not, for the operator: a read after the fact, which decides nothing.
      const [row] = await db
        .select({ status: outbox.status, erased: sql<boolean>`${outbox.payload} IS NULL` })
        .from(outbox)
        .where(and(eq(outbox.id, id), isNull(outbox.endpointId)));
      if (!row) return 'not_found';
      return row.status === 'failed' && row.erased ? 'body_erased' : 'not_failed';
    },
  };
}

/** The outbox's claims, outcomes and figures (OutboxStore), and the operators' view, over drizzle. */
export function createOutboxStore(db: Database): OutboxStore & OutboxReview {
  return {
    ...createOutboxReview(db),
    enqueueMessages: (messages) => insertOutboxMessages(db, messages),

    async claimDueMessages(now, limit, leaseMs) {
      const at = now.toISOString();
      const leaseEnds = new Date(now.getTime() + leaseMs).toISOString();
      // One statement: the rows are locked by the sub-select (SKIP LOCKED: a parallel
      // dispatcher takes other rows instead of waiting) and pushed one lease ahead, so no one
      // else finds them due until the lease ends — and a crashed sender's claim simply expires
      // (delivery is at least once; the idempotency key lets the receiver see a repeat).
      const result = await db.execute(sql`
        UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ${leaseEnds}::timestamptz
        WHERE id IN (
          SELECT id FROM outbox
          WHERE status = 'pending' AND endpoint_id IS NULL AND next_attempt_at <= ${at}::timestamptz
          ORDER BY next_attempt_at
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED
        )
        RETURNING id, kind, idempotency_key, payload, attempts`);
      return rowsOf<{
        id: string;
        kind: MessageKind;
        idempotency_key: string;
        payload: string | null;
        attempts: number;
      }>(result).flatMap((row): ClaimedMessage[] =>
        // A pending row always has its payload; a row without one cannot be sent anyway.
        row.payload === null
          ? []
          : [
              {
                id: row.id,
                kind: row.kind,
                idempotencyKey: row.idempotency_key,
                sealed: row.payload,
                attempts: Number(row.attempts),
              },
            ],
      );
    },

    // Outcomes apply to pending rows only: a sender whose lease ran out and whose message was
    // sent meanwhile by another one never turns it back into a retry.
    async markMessageSent(id, now) {
      await db.execute(sql`
        UPDATE outbox SET status = 'sent', sent_at = ${now.toISOString()}::timestamptz,
          payload = NULL, last_error = NULL
        WHERE id = ${id}::uuid AND status = 'pending'`);
    },

    async markMessageRetry(id, nextAttemptAt, error) {
      await db.execute(sql`
        UPDATE outbox SET next_attempt_at = ${nextAttemptAt.toISOString()}::timestamptz,
          last_error = ${bounded(error)}
        WHERE id = ${id}::uuid AND status = 'pending'`);
    },

    async markMessageFailed(id, error, _now) {
      // The sealed body stays (as sealed as a pending one's) so that an operator can retry the
      // message once the transport is fixed (`mail:retry`); cleanup deletes the row after 30
      // days, and the links in it expire on their own well before.
      await db.execute(sql`
        UPDATE outbox SET status = 'failed', last_error = ${bounded(error)}
        WHERE id = ${id}::uuid AND status = 'pending'`);
    },

    async outboxStats(now) {
      const result = await db.execute(sql`
        SELECT
          count(*) FILTER (WHERE status = 'pending')::float8 AS pending,
          count(*) FILTER (WHERE status = 'sent')::float8 AS sent,
          count(*) FILTER (WHERE status = 'failed')::float8 AS failed,
          COALESCE(extract(epoch FROM ${now.toISOString()}::timestamptz
            - min(created_at) FILTER (WHERE status = 'pending')), 0)::float8 AS oldest
        FROM outbox WHERE endpoint_id IS NULL`);
      const [row] = rowsOf<{ pending: number; sent: number; failed: number; oldest: number }>(result);
      return {
        pending: Number(row?.pending ?? 0),
        sent: Number(row?.sent ?? 0),
        failed: Number(row?.failed ?? 0),
        oldestPendingAgeSeconds: Math.max(0, Number(row?.oldest ?? 0)),
      };
    },
  };
}
