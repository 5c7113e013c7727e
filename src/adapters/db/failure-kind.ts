import { errorCodeOf } from '../../lib/errors.js';
import type { ClassifyFailure } from '../../ports/failure-kind.js';

/** Codes of postgres.js, Node's sockets and PostgreSQL (SQLSTATE) that mean "the database is not there". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EPIPE',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01', // admin_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  // invalid_sql_statement_name: a named statement the server connection does not know, i.e.
  // DATABASE_PREPARE=true behind a transaction pooler. Nothing ran; the request may be retried.
  '26000',
]);

/** True when the database (not the request) is at fault: connection exceptions and shutdowns. */
export function isUnavailableError(error: unknown): boolean {
  const code = errorCodeOf(error);
  if (code && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  return error instanceof Error && /PGlite is closed/i.test(error.message);
}

/** The database adapters' classification (PostgreSQL and PGlite), handed to `createApp` by each entry. */
export const classifyDatabaseFailure: ClassifyFailure = (error) =>
  isUnavailableError(error) ? 'unavailable' : undefined;
