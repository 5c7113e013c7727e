/**
 * Cloudflare Workers entry: wires the same app as src/entry/node.ts with edge adapters.
 *
 * workerd forbids I/O objects (a database connection) to outlive their request, so the
 * PostgreSQL client is made per request (max 1, through Hyperdrive when bound) and reached
 * through an AsyncLocalStorage scope; everything else — config, the app, the key ring and
 * its caches, the dummy password hash — is built once per isolate on the first request.
 * Nothing else reads `env`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { setWASMModules } from 'argon2-wasm-edge';
import argon2WASM from 'argon2-wasm-edge/wasm/argon2.wasm';
import blake2bWASM from 'argon2-wasm-edge/wasm/blake2b.wasm';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { ExecutionContext } from 'hono';
import postgres from 'postgres';
import type { Database } from '../adapters/db/database.js';
import { createDrizzleRateLimiter } from '../adapters/db/drizzle-rate-limiter.js';
import { createDrizzleStore } from '../adapters/db/drizzle-store.js';
import { classifyDatabaseFailure } from '../adapters/db/failure-kind.js';
import { guardAnswers } from '../adapters/db/postgres-answers.js';
import { schema } from '../adapters/db/schema.js';
import { createJsonLogger } from '../adapters/json-logger.js';
import { createHttpMailer } from '../adapters/mail/http.js';
import { createWasmArgon2Hasher } from '../adapters/password/argon2-wasm.js';
import { createFetchWebhookSender } from '../adapters/webhooks/fetch-sender.js';
import { composeServices } from '../compose/services.js';
import { type Config, ConfigError, parseConfig } from '../config.js';
import { createApp } from '../http/app.js';
import type { GetClientIp } from '../http/request.js';
import { deriveMasterKeys } from '../lib/crypto.js';
import { describeError } from '../lib/errors.js';
import type { Clock } from '../ports/clock.js';
import { noMetrics } from '../ports/metrics.js';
import type { RateLimiter } from '../ports/rate-limiter.js';
import type { Store } from '../ports/store.js';

setWASMModules({ argon2WASM, blake2bWASM });

interface Env {
  /** Hyperdrive in front of PostgreSQL (wrangler.toml); DATABASE_URL is the alternative. */
  HYPERDRIVE?: { connectionString: string };
  [name: string]: unknown;
}

interface RequestScope {
  store: Store;
  rateLimiter: RateLimiter;
}

const scope = new AsyncLocalStorage<RequestScope>();

const current = (): RequestScope => {
  const found = scope.getStore();
  if (!found) throw new Error('no database outside a request');
  return found;
};

/**
 * A Store whose every call goes to the current request's client: each method is looked up on
 * the request's own drizzle store when it is called. (Nothing spreads or enumerates a store:
 * src/compose/services.ts wraps it in a Proxy too.)
 */
const scopedStore = new Proxy({} as Store, {
  get: (_target, method: keyof Store) => current().store[method],
});
const scopedRateLimiter: RateLimiter = {
  hit: (...args) => current().rateLimiter.hit(...args),
  refund: (...args) => current().rateLimiter.refund(...args),
};

const systemClock: Clock = { now: () => new Date() };

function connectionString(env: Env, config: Config): string {
  const url = env.HYPERDRIVE?.connectionString ?? config.databaseUrl;
  if (!url) throw new ConfigError(['HYPERDRIVE or DATABASE_URL: one is required on Workers']);
  return url;
}

/** Runs `work` with a database client of its own, as workerd requires. */
function withDatabase<T>(database: { url: string; prepare: boolean }, work: () => Promise<T>): Promise<T> {
  // No sql.end(): workerd closes the socket with the request (and end() would reject later).
  // DATABASE_PREPARE=false behind a transaction pooler: nothing is prepared by name, and an
  // answer that does not belong to its statement is refused (src/adapters/db/postgres-answers.ts).
  const client = postgres(database.url, {
    max: 1,
    fetch_types: false,
    prepare: database.prepare,
    onnotice: () => {},
  });
  guardAnswers(client);
  const db = drizzle(client, { schema }) as unknown as Database;
  return scope.run({ store: createDrizzleStore(db), rateLimiter: createDrizzleRateLimiter(db) }, work);
}

function build(env: Env) {
  const strings = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
  const config = parseConfig(strings);
  if (!config.masterSecret)
    throw new ConfigError(['MASTER_SECRET: required on Workers (wrangler secret put)']);
  const logger = createJsonLogger(config.logLevel);
  const hasher = createWasmArgon2Hasher(config.argon2);
  const url = connectionString(env, config);
  const masterKeys = deriveMasterKeys(config.masterSecret);
  const getClientIp: GetClientIp = (c) => c.req.header('cf-connecting-ip');
  // Workers: the HTTPS mail API only (nodemailer needs Node's sockets; docs/email.md).
  const transport = config.mail.transport;
  const mailer =
    transport.kind === 'http'
      ? createHttpMailer({
          url: transport.url,
          token: transport.token,
          timeoutMs: config.mail.dispatch.sendTimeoutMs,
        })
      : undefined;
  if (!mailer) logger.warn('no MAIL_HTTP_URL: mail stays in the outbox until one is set');
  const ready = masterKeys.then((keys) => {
    const services = composeServices({
      config,
      store: scopedStore,
      hasher,
      clock: systemClock,
      masterKeys: keys,
      rateLimiter: scopedRateLimiter,
      logger,
      ...(mailer ? { mailer } : {}),
      // Webhooks over fetch: only the URL's literal host can be checked here (docs/webhooks.md).
      webhookSender: createFetchWebhookSender({
        allowPrivate: config.webhooks.allowPrivate,
        userAgent: 'Latchkey-Webhooks/1',
      }),
    });
    const app = createApp({
      config,
      services,
      clock: systemClock,
      classifyFailure: classifyDatabaseFailure,
      logger,
      metrics: noMetrics,
      // Set by Cloudflare's edge, which overwrites any value a client sends.
      getClientIp,
    });
    return {
      app,
      keyRing: services.keyRing,
      cleanup: services.cleanup,
      mailDispatcher: services.mailDispatcher,
      webhookDispatcher: services.webhooks.dispatcher,
    };
  });
  let keysChecked: Promise<void> | undefined;
  return {
    database: { url, prepare: config.databasePrepare },
    logger,
    ready,
    /** Once per isolate, inside a request: the signing key exists and opens with this MASTER_SECRET. */
    ensureKeys(keyRing: { ensureSigningKey(): Promise<void> }) {
      keysChecked ??= keyRing.ensureSigningKey().catch((error: unknown) => {
        keysChecked = undefined;
        throw error;
      });
      return keysChecked;
    },
  };
}

let built: ReturnType<typeof build> | undefined;
const runtime = (env: Env) => {
  built ??= build(env);
  return built;
};

const logConfigProblem = (error: unknown) =>
  console.error(JSON.stringify({ level: 'error', msg: 'configuration', error: String(error) }));

type ScheduledController = unknown;

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    let worker: ReturnType<typeof build>;
    try {
      worker = runtime(env);
    } catch (error) {
      built = undefined;
      logConfigProblem(error);
      return Response.json(
        { error: 'server_error', error_description: 'The server is misconfigured; see its logs' },
        { status: 500, headers: { 'cache-control': 'no-store' } },
      );
    }
    const { app, keyRing } = await worker.ready;
    return withDatabase(worker.database, async () => {
      try {
        await worker.ensureKeys(keyRing);
      } catch (error) {
        // A wrong MASTER_SECRET, or no database: say so in the logs, answer like any failure.
        worker.logger.error('signing keys unavailable', { error: describeError(error) });
        return Response.json(
          { error: 'temporarily_unavailable', error_description: 'The service is temporarily unavailable' },
          { status: 503, headers: { 'cache-control': 'no-store', 'retry-after': '5' } },
        );
      }
      return app.fetch(request, env, ctx);
    });
  },

  /** The Cron Trigger (wrangler.toml): mail and webhooks from the outbox, then cleanup; safe on many isolates at once. */
  async scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
    const worker = runtime(env);
    const { cleanup, mailDispatcher, webhookDispatcher } = await worker.ready;
    ctx.waitUntil(
      withDatabase(worker.database, async () => {
        if (mailDispatcher) {
          try {
            await mailDispatcher.drain({
              onRun: (counts) => {
                if (counts.sent + counts.retried + counts.failed > 0)
                  worker.logger.info('mail', { ...counts });
              },
            });
          } catch (error) {
            worker.logger.error('mail dispatch failed', { error: describeError(error) });
          }
        }
        try {
          await webhookDispatcher?.drain({
            onRun: (counts) => {
              if (counts.sent + counts.retried + counts.failed > 0)
                worker.logger.info('webhooks', { ...counts });
            },
          });
        } catch (error) {
          worker.logger.error('webhook dispatch failed', { error: describeError(error) });
        }
        const deleted = await cleanup.runOnce();
        worker.logger.info('cleanup', { deleted });
      }),
    );
  },
};
