import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { createApp } from '../http/app.js';
import { describeError } from '../lib/errors.js';
import { createCleanup } from '../services/cleanup.js';
import { loadConfigOrExit, openNodeRuntime } from './node-runtime.js';

const config = loadConfigOrExit(process.env);
const runtime = await openNodeRuntime(config);
const { logger } = runtime;
try {
  await runtime.keyRing.ensureSigningKey();
} catch (error) {
  // Typically a MASTER_SECRET other than the one that sealed the signing keys.
  logger.error('cannot open the signing keys', {
    error: error instanceof Error ? error.message : String(error),
  });
  await runtime.database.close();
  process.exit(1);
}

const app = createApp({
  ...runtime,
  getClientIp: (c) => getConnInfo(c).remote.address,
});

const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
  logger.info('latchkey listening', {
    url: `http://${info.address.includes(':') ? `[${info.address}]` : info.address}:${info.port}`,
    issuer: config.issuer,
    database: config.databaseUrl ? 'postgresql' : `pglite (${config.dataDir})`,
  });
});

// Cleanup on an interval; safe on many instances at once (see services/cleanup.ts).
const cleanup = createCleanup({
  store: runtime.store,
  clock: runtime.clock,
  policy: {
    batchSize: config.cleanup.batchSize,
    eventRetentionMs: config.cleanup.eventRetentionSeconds * 1000,
    revokedSessionRetentionMs: config.cleanup.revokedSessionRetentionSeconds * 1000,
    retiredKeyRetentionMs: runtime.keyRing.retiredKeyRetentionMs,
  },
});
let cleaning = false;
const cleanupTimer =
  config.cleanup.intervalSeconds > 0
    ? setInterval(async () => {
        if (cleaning) return;
        cleaning = true;
        try {
          const deleted = await cleanup.runOnce();
          for (const [table, rows] of Object.entries(deleted)) runtime.metrics.cleaned(table, rows);
          logger.info('cleanup', { deleted });
        } catch (error) {
          logger.error('cleanup failed', { error: describeError(error) });
        } finally {
          cleaning = false;
        }
      }, config.cleanup.intervalSeconds * 1000)
    : undefined;
cleanupTimer?.unref();

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info('shutting down', { signal });
  if (cleanupTimer) clearInterval(cleanupTimer);
  server.close(async () => {
    await runtime.database.close();
    process.exit(0);
  });
  setTimeout(() => process.exit(1), 10_000).unref();
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
