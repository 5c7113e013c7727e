import { createRequire } from 'node:module';
import pino from 'pino';
import type { Logger } from '../ports/logger.js';
import { redactSecrets } from './json-logger.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/**
 * The Node logger: one JSON object per line on stdout through pino, with an ISO `time`, the
 * level's name, `msg`, `service: "latchkey"` and the pid. `destination` replaces stdout
 * (tests collect lines in memory).
 */
export function createPinoLogger(
  level: LogLevel,
  options: {
    destination?: pino.DestinationStream;
    /**
     * Development on a terminal: one coloured, readable line per entry (pino-pretty, as a
     * synchronous stream in this thread) instead of raw JSON. Never in production.
     */
    pretty?: boolean;
  } = {},
): Logger {
  const logger = pino(
    {
      level,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      base: { service: 'latchkey', pid: process.pid },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? (options.pretty ? prettyStream() : undefined),
  );
  // Secret-named fields are replaced at any depth before pino sees them (redactSecrets, the
  // same rule as the Workers logger). pino's own `redact` does it with wildcard paths, whose
  // cost on every request line showed in the refresh profile (BENCHMARKS.md).
  const write =
    (name: 'debug' | 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) => {
      if (!logger.isLevelEnabled(name)) return;
      if (fields) logger[name](redactSecrets(fields) as object, message);
      else logger[name](message);
    };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/**
 * pino-pretty, loaded only on a development terminal (~70 ms at every start otherwise). It is
 * CommonJS, so `require` loads it synchronously and the logger is ready when this returns.
 */
function prettyStream(): pino.DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  return pretty({ colorize: true, sync: true, ignore: 'pid,hostname,service', translateTime: 'HH:MM:ss.l' });
}
