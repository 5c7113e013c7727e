import { AuthError } from '../domain/errors.js';
import { trimEnd } from '../lib/text.js';
import type { DeliveryStatus, DeliveryView } from '../ports/webhooks.js';
import type { Webhooks } from './webhooks.js';

/**
 * Webhooks as operators look after them (issue #18, Operators), for the admin API
 * (src/http/routes/admin-webhooks.ts) and the CLI (src/entry/cli/webhooks.ts) alike: an id
 * that is not a UUID is simply not found (never a failed query), and an endpoint's delivery
 * log is paged newest first by a keyset cursor, as the mail outbox's (outbox-review.ts).
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const YEAR_1_MS = Date.parse('0001-01-01T00:00:00.000Z');
const YEAR_9999_END_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export const isWebhookId = (id: string) => UUID.test(id);

/** The id, lower case; 404 `not_found` for anything that is not a UUID (PostgreSQL would refuse it as a uuid). */
export function webhookIdOrNotFound(id: string, what: 'endpoint' | 'delivery'): string {
  if (!isWebhookId(id))
    throw new AuthError(
      'not_found',
      what === 'endpoint' ? 'No webhook endpoint has this id' : 'No webhook delivery has this id',
    );
  return id.toLowerCase();
}

/** Keyset paging, newest first: the cursor is the last delivery's `created_at|id`, base64url (RFC 4648 §5). */
export const encodeDeliveryCursor = (delivery: Pick<DeliveryView, 'createdAt' | 'id'>) =>
  trimEnd(btoa(`${delivery.createdAt.toISOString()}|${delivery.id}`), '=')
    .replaceAll('+', '-')
    .replaceAll('/', '_');

function decodeDeliveryCursor(cursor: string): { at: Date; id: string } | undefined {
  try {
    const [iso, id, ...rest] = atob(cursor.replaceAll('-', '+').replaceAll('_', '/')).split('|');
    const at = new Date(iso ?? '');
    const ms = at.getTime();
    // Years 1-9999 (what timestamptz and ISO strings share) and a real UUID: anything else is
    // a forged cursor, answered 400 before it reaches a query.
    if (rest.length > 0 || Number.isNaN(ms) || ms < YEAR_1_MS || ms > YEAR_9999_END_MS) return undefined;
    if (!id || !UUID.test(id)) return undefined;
    return { at, id: id.toLowerCase() };
  } catch {
    return undefined;
  }
}

/** A page of an endpoint's deliveries; `nextCursor` continues it (null on the last page). */
export async function deliveryPage(
  webhooks: Pick<Webhooks, 'deliveries'>,
  endpointId: string,
  query: { status?: DeliveryStatus | undefined; limit: number; cursor?: string | undefined },
): Promise<{ deliveries: DeliveryView[]; nextCursor: string | null }> {
  const id = webhookIdOrNotFound(endpointId, 'endpoint');
  const before = query.cursor !== undefined ? decodeDeliveryCursor(query.cursor) : undefined;
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
