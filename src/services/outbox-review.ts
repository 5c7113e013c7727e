import { AuthError } from '../domain/errors.js';
import { trimEnd } from '../lib/text.js';
import type { Clock } from '../ports/clock.js';
import type { OutboxMessageView, OutboxReview, OutboxStatus, RetryRefusal } from '../ports/mail.js';

/**
 * The outbox as operators see it (issue #17, Delivery: "a `failed` state that operators can
 * see"): the one home of its paging and its retry, for the admin API (admin-service.ts) and the
 * CLI (operator-service.ts). A message's body never leaves the store this way: it may hold a
 * live single-use link (OWASP Forgot Password Cheat Sheet: the token goes to the mailbox only).
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const YEAR_1_MS = Date.parse('0001-01-01T00:00:00.000Z');
const YEAR_9999_END_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Keyset paging, newest first: the cursor is the last message's `created_at|id`, base64url. */
export const encodeMailCursor = (message: Pick<OutboxMessageView, 'createdAt' | 'id'>) =>
  trimEnd(btoa(`${message.createdAt.toISOString()}|${message.id}`), '=')
    .replaceAll('+', '-')
    .replaceAll('/', '_');

function decodeMailCursor(cursor: string): { at: Date; id: string } | undefined {
  try {
    const [iso, id, ...rest] = atob(cursor.replaceAll('-', '+').replaceAll('_', '/')).split('|');
    const at = new Date(iso ?? '');
    const ms = at.getTime();
    // Years 1-9999 (what timestamptz and ISO strings share) and a real UUID: anything else is
    // a forged cursor, answered 400 before it reaches a query (never a failed query, a 500).
    if (rest.length > 0 || Number.isNaN(ms) || ms < YEAR_1_MS || ms > YEAR_9999_END_MS) return undefined;
    if (!id || !UUID.test(id)) return undefined;
    return { at, id };
  } catch {
    return undefined;
  }
}

export const isMessageId = (id: string) => UUID.test(id);

export function createOutboxReviewService(deps: { outbox: OutboxReview; clock: Clock }) {
  const { outbox, clock } = deps;
  return {
    /** A page of messages, newest first; `nextCursor` continues it (null on the last page). */
    async list(query: { status?: OutboxStatus | undefined; limit: number; cursor?: string | undefined }) {
      const before = query.cursor !== undefined ? decodeMailCursor(query.cursor) : undefined;
      if (query.cursor !== undefined && !before)
        throw new AuthError('invalid_request', 'cursor is not valid: send next_cursor as received');
      const rows = await outbox.listOutboxMessages({
        limit: query.limit + 1,
        ...(query.status ? { status: query.status } : {}),
        ...(before ? { before } : {}),
      });
      const messages = rows.slice(0, query.limit);
      const last = messages.at(-1);
      return { messages, nextCursor: rows.length > query.limit && last ? encodeMailCursor(last) : null };
    },

    /** A failed message back to pending, due now; a malformed id is simply not found. */
    async retry(id: string): Promise<'retried' | RetryRefusal> {
      if (!isMessageId(id)) return 'not_found';
      return outbox.retryFailedMessage(id.toLowerCase(), clock.now());
    },
  };
}

export type OutboxReviewService = ReturnType<typeof createOutboxReviewService>;

/** What a refused retry says, to an admin (409 / 404) and on the command line alike. */
export const RETRY_REFUSED: Record<RetryRefusal, string> = {
  not_found: 'No message has this id',
  not_failed: 'Only a failed message can be retried (this one is pending or sent)',
  body_erased:
    'This message can no longer be sent: its body was erased when it failed (it may have held a single-use link)',
};
