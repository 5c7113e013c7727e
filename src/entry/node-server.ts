import cluster from 'node:cluster';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Config } from '../config.js';
import { createApp } from '../http/app.js';
import type { GetClientIp } from '../http/request.js';
import { describeError } from '../lib/errors.js';
import { whileServing } from '../services/health.js';
import { joinCluster } from './cluster.js';
import { releaseMemoryWhenIdle } from './idle-memory.js';
import { applyHeapGrowth } from './node-config.js';
import { openNodeRuntime, openSigningKey } from './node-runtime.js';

/** How long the requests in flight may take once the listener has closed, before a hard exit. */
const STOP_WITHIN_MS = 10_000;

/**
 * The Node server of one process (src/entry/node.ts imports it once it knows this process
 * serves): the runtime over the database, the app on @hono/node-server, the cleanup and outbox
 * timers, the graceful stop on SIGTERM.
 */
export async function serveNode(config: Config): Promise<void> {
  const getClientIp: GetClientIp = (c) => getConnInfo(c).remote.address;
  const runtime = await openNodeRuntime(config);
  const { logger } = runtime;
  if (!(await openSigningKey(runtime))) {
    await runtime.database.close();
    process.exit(1);
  }

  // A worker of `serve --workers N`: /metrics over every worker, the timers in one.
  const member = cluster.isWorker ? joinCluster(runtime) : undefined;
  let stopping = false;
  const health = whileServing(runtime.services.health, () => stopping);
  const app = createApp({ ...runtime, services: { ...runtime.services, health }, getClientIp });

  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    logger.info('latchkey listening', {
      url: `http://${info.address.includes(':') ? `[${info.address}]` : info.address}:${info.port}`,
      issuer: config.issuer,
      database: config.databaseUrl ? 'postgresql' : `pglite (${config.dataDir})`,
    });
    // Once serving, not before: the modules and PGlite are loaded under V8's own growth, which
    // spares the start about 100 ms of collections (a PGlite first start, measured); the load
    // that follows is what the setting is for.
    applyHeapGrowth(config);
    member?.serving();
  });
  // Each process of `serve --workers N` serves, so each gives its own memory back.
  const stopIdleRelease = releaseMemoryWhenIdle(server, config.idleMemoryReleaseSeconds);
  // Behind a proxy that keeps connections to us open (HAProxy, nginx upstream keepalive, cloud
  // load balancers idle for 60 s), an idle connection must outlive the proxy's, or a request sent
  // just as Node closes it is lost: Node's default is 5 s. 65 s is above the common 60 s idle
  // timeouts; headers must arrive within a little more (Node requires headersTimeout to cover it).
  // Found by the scale-out test (test/scaleout): about one lost request a run without it.
  if ('keepAliveTimeout' in server) {
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
  }

  // Cleanup on an interval; safe on many instances at once (see services/cleanup.ts).
  const { cleanup } = runtime.services;
  let cleaning = false;
  const cleanupTimer =
    config.cleanup.intervalSeconds > 0
      ? setInterval(async () => {
          if (cleaning || member?.hasDuties() === false) return;
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

  // Mail from the outbox on an interval. Several instances at once are safe: a claim is
  // FOR UPDATE SKIP LOCKED with a lease (services/outbox-dispatcher.ts); a crash mid-send leaves
  // a claim that expires, and the message goes again under the same idempotency key.
  // Webhook deliveries (issue #18) are outbox rows too: the same tick drains them after the mail.
  const { mailDispatcher } = runtime.services;
  const webhookDispatcher = runtime.services.webhooks.dispatcher;
  let dispatching: Promise<void> | undefined;
  const mailTimer =
    (mailDispatcher || webhookDispatcher) && config.mail.dispatch.intervalSeconds > 0
      ? setInterval(() => {
          if (dispatching || stopping || member?.hasDuties() === false) return;
          dispatching = (async () => {
            try {
              await mailDispatcher?.drain({
                stop: () => stopping,
                onRun: (counts) => runtime.metrics.mailDispatched(counts),
              });
            } catch (error) {
              logger.error('mail dispatch failed', { error: describeError(error) });
            }
            try {
              await webhookDispatcher?.drain({ stop: () => stopping });
            } catch (error) {
              logger.error('webhook dispatch failed', { error: describeError(error) });
            } finally {
              dispatching = undefined;
            }
          })();
        }, config.mail.dispatch.intervalSeconds * 1000)
      : undefined;
  mailTimer?.unref();

  // A stopping server goes on serving for SHUTDOWN_DELAY seconds, each answer with
  // `Connection: close` and /health at 503, and only then stops listening. Closing at once lost
  // what was already on its way: a connection in the listen backlog is reset when the listener
  // closes, and Node's close() drops kept-alive connections that look idle, a request whose
  // bytes are not read yet included (found by test/graceful-shutdown.test.ts failing in CI).
  // Meanwhile the load balancer sees /health fail and the clients' connections close, so they
  // go elsewhere; what is in flight when the listener closes still finishes.
  let delayed: NodeJS.Timeout | undefined;
  const close = () => {
    delayed = undefined;
    server.close(async () => {
      // A send in flight finishes and records its outcome (the hard exit below still bounds it;
      // cut short, its lease expires and the message goes again under the same key).
      await dispatching;
      await runtime.database.close();
      process.exit(0);
    });
    setTimeout(() => process.exit(1), STOP_WITHIN_MS).unref();
  };
  const stop = (signal: string) => {
    // A second signal during the delay (Ctrl-C twice) stops listening at once.
    if (stopping) {
      if (delayed) {
        clearTimeout(delayed);
        close();
      }
      return;
    }
    stopping = true;
    logger.info('shutting down', { signal, delay_seconds: config.shutdownDelaySeconds });
    if (cleanupTimer) clearInterval(cleanupTimer);
    if (mailTimer) clearInterval(mailTimer);
    stopIdleRelease();
    // Listened for from now on only: a serving server spends nothing on it per request.
    server.on('request', (_request, response) => response.setHeader('connection', 'close'));
    delayed = setTimeout(close, config.shutdownDelaySeconds * 1000);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
