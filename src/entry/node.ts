import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { createApp } from '../http/app.js';
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

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info('shutting down', { signal });
  server.close(async () => {
    await runtime.database.close();
    process.exit(0);
  });
  setTimeout(() => process.exit(1), 10_000).unref();
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
