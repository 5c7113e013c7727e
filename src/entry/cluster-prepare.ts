import pino from 'pino';
import { createPinoLogger } from '../adapters/pino-logger.js';
import { parseConfig } from '../config.js';
import { describeError } from '../lib/errors.js';
import { loadDrizzleThroughRequire } from './drizzle-commonjs.js';
import { prettyLogs } from './node-config.js';

/**
 * A short-lived process the primary of `serve --workers N` runs once before it forks the
 * workers (src/entry/cluster.ts): the migrations (under their advisory lock anyway) and the
 * signing key (created if there is none; a wrong MASTER_SECRET fails here, before any fork).
 * Exit status 0 when both are done. A process of its own, so that the memory of the runtime it
 * loads goes back to the system when it ends: the primary, which only forks and watches, holds
 * the configuration and the cluster's modules alone (about 70 MiB; 88 MiB with this work in a
 * thread of its own, 104 MiB with it in the primary). The primary checked the configuration;
 * this process reads the same environment.
 */
const config = parseConfig(process.env);
// Synchronous writes (pino-pretty's are too): every line is out before the process ends.
const logger = createPinoLogger(
  config.logLevel,
  prettyLogs(config) ? { pretty: true } : { destination: pino.destination({ dest: 1, sync: true }) },
);
// Before the runtime's first import of drizzle-orm, as in node.ts (drizzle-commonjs.ts).
loadDrizzleThroughRequire();
const { openNodeRuntime, openSigningKey } = await import('./node-runtime.js');
let ok = false;
try {
  const runtime = await openNodeRuntime(config, { logger, deliverMail: false });
  try {
    ok = await openSigningKey(runtime);
  } finally {
    await runtime.database.close();
  }
} catch (error) {
  logger.error('cannot prepare the database', { error: describeError(error) });
}
process.exitCode = ok ? 0 : 1;
