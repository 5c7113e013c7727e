import { trimEnd } from '../lib/text.js';

/**
 * The one home of keyset cursors (security events, the mail outbox, webhook deliveries): the
 * base64url (RFC 4648 §5, unpadded) of the last row's `created_at|id`, newest first. Decoding
 * also reads the standard alphabet of the older event cursors. Anything that is not an instant
 * PostgreSQL and ISO strings share (years 1-9999) and a real UUID is a forged cursor: the caller
 * answers 400 before it reaches a query, never a failed query (a 500).
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const YEAR_1_MS = Date.parse('0001-01-01T00:00:00.000Z');
const YEAR_9999_END_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export const isUuid = (id: string): boolean => UUID.test(id);

export const encodeKeysetCursor = (row: { at: Date; id: string }): string =>
  trimEnd(btoa(`${row.at.toISOString()}|${row.id}`), '=')
    .replaceAll('+', '-')
    .replaceAll('/', '_');

export function decodeKeysetCursor(cursor: string): { at: Date; id: string } | undefined {
  try {
    const [iso, id, ...rest] = atob(cursor.replaceAll('-', '+').replaceAll('_', '/')).split('|');
    const at = new Date(iso ?? '');
    const ms = at.getTime();
    if (rest.length > 0 || Number.isNaN(ms) || ms < YEAR_1_MS || ms > YEAR_9999_END_MS) return undefined;
    if (!id || !UUID.test(id)) return undefined;
    return { at, id: id.toLowerCase() };
  } catch {
    return undefined;
  }
}
