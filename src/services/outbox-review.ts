import { AuthError } from '../domain/errors.js';
import type { Clock } from '../ports/clock.js';
import type { OutboxMessageView, OutboxReview, OutboxStatus, RetryRefusal } from '../ports/mail.js';
import { decodeKeysetCursor, encodeKeysetCursor, isUuid } from './keyset-cursor.js';

/**
 * The outbox as operators see it (issue #17, Delivery: "a `failed` state that operators can
 * see"): the one home of its paging and its retry, for the admin API (admin-service.ts) and the
 * CLI (operator-service.ts). A message's body never leaves the store this way: it may hold a
 * live single-use link (OWASP Forgot Password Cheat Sheet: the token goes to the mailbox only).
 */

/** Keyset paging, newest first (keyset-cursor.ts). */
export const encodeMailCursor = (message: Pick<OutboxMessageView, 'createdAt' | 'id'>) =>
  encodeKeysetCursor({ at: message.createdAt, id: message.id });

export const isMessageId = isUuid;

export function createOutboxReviewService(deps: { outbox: OutboxReview; clock: Clock }) {
  const { outbox, clock } = deps;
  return {
    /** A page of messages, newest first; `nextCursor` continues it (null on the last page). */
    async list(query: { status?: OutboxStatus | undefined; limit: number; cursor?: string | undefined }) {
      const before = query.cursor !== undefined ? decodeKeysetCursor(query.cursor) : undefined;
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
