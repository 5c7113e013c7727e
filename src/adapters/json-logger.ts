import type { Logger } from '../ports/logger.js';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;

/** One JSON object per line on stdout/stderr; works on Node and Workers alike. */
export function createJsonLogger(level: keyof typeof LEVELS, base: Record<string, unknown> = {}): Logger {
  const write = (name: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[name] < LEVELS[level]) return;
    const line = JSON.stringify({
      level: name,
      time: new Date().toISOString(),
      msg: message,
      ...base,
      ...fields,
    });
    if (name === 'error') console.error(line);
    else console.log(line);
  };
  return {
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}
