import pino from 'pino';
import type { Logger } from '../ports/logger.js';
import { REDACTED, SECRET_FIELD_NAMES } from './json-logger.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * pino's redaction paths for the secret field names, at the top level of a log line and up
 * to two objects deep (its wildcards match one level each). The Logger port keeps secrets
 * out of fields in the first place; this only catches a mistake.
 */
export const REDACT_PATHS: string[] = SECRET_FIELD_NAMES.flatMap((name) => {
  const key = IDENTIFIER.test(name) ? `.${name}` : `["${name}"]`;
  return [key.startsWith('.') ? name : key, `*${key}`, `*.*${key}`];
});

/**
 * The Node logger: one JSON object per line on stdout through pino, with an ISO `time`, the
 * level's name, `msg`, `service: "latchkey"` and the pid. `destination` replaces stdout
 * (tests collect lines in memory).
 */
export function createPinoLogger(
  level: LogLevel,
  options: { destination?: pino.DestinationStream } = {},
): Logger {
  const logger = pino(
    {
      level,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      base: { service: 'latchkey', pid: process.pid },
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    options.destination,
  );
  return {
    info: (message, fields) => (fields ? logger.info(fields, message) : logger.info(message)),
    warn: (message, fields) => (fields ? logger.warn(fields, message) : logger.warn(message)),
    error: (message, fields) => (fields ? logger.error(fields, message) : logger.error(message)),
  };
}
