/** The `code` of an error or of one of its causes (drivers wrap each other's errors). */
export function errorCodeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

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

/**
 * An error for a log line: its name and message, but never a failed query's parameters
 * (drizzle's "Failed query: … params: …" carries emails, hashes and IPs): for those, the
 * driver's own message and code.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  if (error.message.startsWith('Failed query:')) {
    const cause = error.cause instanceof Error ? error.cause.message : 'query failed';
    return `${error.name}: ${cause}${errorCodeOf(error) ? ` (${errorCodeOf(error)})` : ''}`;
  }
  return `${error.name}: ${error.message}`;
}
