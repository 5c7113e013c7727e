/** The `code` of an error or of one of its causes (drivers wrap each other's errors). */
export function errorCodeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
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
