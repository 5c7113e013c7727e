import { AuthError } from '../domain/errors.js';
import type { DeliveryStatus, DeliveryView } from '../ports/webhooks.js';
import { decodeKeysetCursor, encodeKeysetCursor, isUuid } from './keyset-cursor.js';
import type { Webhooks } from './webhooks.js';

/**
 * Webhooks as operators look after them (issue #18, Operators), for the admin API
 * (src/http/routes/admin-webhooks.ts) and the CLI (src/entry/cli/webhooks.ts) alike: an id
 * that is not a UUID is simply not found (never a failed query), and an endpoint's delivery
 * log is paged newest first by a keyset cursor, as the mail outbox's (outbox-review.ts).
 */

export const isWebhookId = isUuid;

/** The id, lower case; 404 `not_found` for anything that is not a UUID (PostgreSQL would refuse it as a uuid). */
export function webhookIdOrNotFound(id: string, what: 'endpoint' | 'delivery'): string {
  if (!isWebhookId(id))
    throw new AuthError(
      'not_found',
      what === 'endpoint' ? 'No webhook endpoint has this id' : 'No webhook delivery has this id',
    );
  return id.toLowerCase();
}

/** Keyset paging, newest first (keyset-cursor.ts). */
export const encodeDeliveryCursor = (delivery: Pick<DeliveryView, 'createdAt' | 'id'>) =>
  encodeKeysetCursor({ at: delivery.createdAt, id: delivery.id });

/** A page of an endpoint's deliveries; `nextCursor` continues it (null on the last page). */
export async function deliveryPage(
  webhooks: Pick<Webhooks, 'deliveries'>,
  endpointId: string,
  query: { status?: DeliveryStatus | undefined; limit: number; cursor?: string | undefined },
): Promise<{ deliveries: DeliveryView[]; nextCursor: string | null }> {
  const id = webhookIdOrNotFound(endpointId, 'endpoint');
  const before = query.cursor !== undefined ? decodeKeysetCursor(query.cursor) : undefined;
  if (query.cursor !== undefined && !before)
    throw new AuthError('invalid_request', 'cursor is not valid: send next_cursor as received');
  const rows = await webhooks.deliveries(id, {
    limit: query.limit + 1,
    ...(query.status ? { status: query.status } : {}),
    ...(before ? { before } : {}),
  });
  const deliveries = rows.slice(0, query.limit);
  const last = deliveries.at(-1);
  return { deliveries, nextCursor: rows.length > query.limit && last ? encodeDeliveryCursor(last) : null };
}
