import type { Logger } from '../ports/logger.js';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;

/**
 * Field names that must never reach a log line with their value. The Logger port already
 * forbids them; redacting them in the adapters is a second line of defence (a new call site
 * that logs a request body, say). Lower case: headers arrive lower-cased.
 */
export const SECRET_FIELD_NAMES = [
  'password',
  'current_password',
  'new_password',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'mfa_token',
  'code',
  'recovery_code',
  'recovery_codes',
  'secret',
  'client_secret',
  'master_secret',
  'authorization',
  'cookie',
  'set-cookie',
] as const;

export const REDACTED = '[redacted]';

const SECRET_FIELDS: ReadonlySet<string> = new Set(SECRET_FIELD_NAMES);

/**
 * A copy of `value` with every secret-named field of its plain objects and arrays, at any
 * depth, replaced by `[redacted]`; other values (Date, Error…) are left as they are.
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null || depth > 8) return value;
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1));
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = SECRET_FIELDS.has(key.toLowerCase()) ? REDACTED : redactSecrets(item, depth + 1);
  }
  return copy;
}

/** One JSON object per line on stdout/stderr; works on Node and Workers alike. */
export function createJsonLogger(level: keyof typeof LEVELS, base: Record<string, unknown> = {}): Logger {
  const write = (
    name: 'debug' | 'info' | 'warn' | 'error',
    message: string,
    fields?: Record<string, unknown>,
  ) => {
    if (LEVELS[name] < LEVELS[level]) return;
    const line = JSON.stringify({
      level: name,
      time: new Date().toISOString(),
      msg: message,
      ...base,
      ...(fields ? (redactSecrets(fields) as Record<string, unknown>) : {}),
    });
    if (name === 'error') console.error(line);
    else console.log(line);
  };
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}
