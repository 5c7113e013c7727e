import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDrizzleRateLimiter } from '../adapters/db/drizzle-rate-limiter.js';
import { createDrizzleStore } from '../adapters/db/drizzle-store.js';
import { classifyDatabaseFailure } from '../adapters/db/failure-kind.js';
import type { OpenedDatabase } from '../adapters/db/pglite.js';
import { migratePostgres, openPostgres } from '../adapters/db/postgres.js';
import { retryOnAdminShutdown } from '../adapters/db/retry-stale.js';
import { createEmlFileMailer } from '../adapters/mail/eml-files.js';
import { createHttpMailer } from '../adapters/mail/http.js';
import { createSmtpMailer } from '../adapters/mail/smtp.js';
import { createArgon2Hasher } from '../adapters/password/argon2-native.js';
import { createPinoLogger } from '../adapters/pino-logger.js';
import { createPromMetrics } from '../adapters/prom-metrics.js';
import { createNodeWebhookSender } from '../adapters/webhooks/node-sender.js';
import { composeServices } from '../compose/services.js';
import type { Config } from '../config.js';
import { deriveMasterKeys, randomToken } from '../lib/crypto.js';
import { describeError } from '../lib/errors.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { Mailer } from '../ports/mail.js';
import { swaggerUiAssets } from './docs-assets.js';
import { prettyLogs } from './node-config.js';
import { DEFAULT_HASHES } from './thread-pool.js';

/** Node wiring shared by the server and the CLI: configuration, database, keys, hasher. */

/** /docs serves Swagger UI from this server (src/entry/docs-assets.ts): no CDN, so it works on a closed network. */
export const apiReferenceAssets = swaggerUiAssets;

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));
/** The migrated empty data directory `npm run build` makes (the same path from src/ and dist/). */
export const PGLITE_SEED = {
  archive: fileURLToPath(new URL('../../dist/pglite/migrated.tar.gz', import.meta.url)),
  manifest: fileURLToPath(new URL('../../dist/pglite/migrated.json', import.meta.url)),
};

export const systemClock: Clock = { now: () => new Date() };

/**
 * Without MASTER_SECRET (development only: production refuses to start), a secret is made
 * once and kept in DATA_DIR so that signing keys sealed with it still open after a restart.
 */
async function developmentMasterSecret(config: Config, logger: Logger): Promise<string> {
  const file = join(config.dataDir, 'master-secret');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    await mkdir(config.dataDir, { recursive: true });
    const secret = randomToken(48);
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' }).catch(
      async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      },
    );
    logger.warn('MASTER_SECRET is not set: using a development secret kept in DATA_DIR', { file });
    return (await readFile(file, 'utf8')).trim();
  }
}

export async function openDatabase(config: Config, options: { migrate: boolean }): Promise<OpenedDatabase> {
  if (config.databaseUrl) {
    if (options.migrate) await migratePostgres(config.databaseUrl, MIGRATIONS_FOLDER);
    return openPostgres(config.databaseUrl, {
      max: config.databasePoolMax,
      connectTimeoutSeconds: config.databaseConnectTimeoutSeconds,
      prepare: config.databasePrepare,
    });
  }
  const dataDir = join(config.dataDir, 'pglite');
  await mkdir(dataDir, { recursive: true });
  // PGlite is one process's database: a second process on the same files would corrupt them.
  const release = await lockDataDir(config.dataDir);
  try {
    // Loaded only here: on PostgreSQL the WASM build would only add to the RSS (BENCHMARKS.md).
    const { openPglite } = await import('../adapters/db/pglite.js');
    // The embedded database is always migrated: nobody else can do it for a newcomer. An empty
    // directory starts from the build's migrated snapshot (scripts/pglite-snapshot.mjs), not initdb.
    const opened = await openPglite({
      dataDir,
      migrationsFolder: MIGRATIONS_FOLDER,
      seed: PGLITE_SEED,
      optimize: config.pgliteOptimize,
    });
    return {
      db: opened.db,
      close: async () => {
        await opened.close();
        await release();
      },
    };
  } catch (error) {
    await release();
    throw error;
  }
}

export class DataDirLockedError extends Error {
  constructor(dataDir: string, pid: number) {
    super(
      `the embedded database in ${dataDir} is in use by process ${pid}; stop it first (PGlite serves one process at a time; use DATABASE_URL to share a database)`,
    );
    this.name = 'DataDirLockedError';
  }
}

/**
 * Whether the process that wrote a lock file still runs. A zombie does not: it was killed,
 * but nobody has reaped it yet (common in containers whose first process reaps nothing), and
 * `kill(pid, 0)` alone would call it alive and lock the data directory for good.
 */
const isAlive = async (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // Field 3, after the parenthesised command name (which may itself hold spaces or parens).
  const state = stat?.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
};

/** A lock file holding our pid: taken atomically, and taken over when its process is gone. */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = join(dataDir, 'latchkey.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(await readFile(file, 'utf8').catch(() => ''));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && (await isAlive(pid))) {
        throw new DataDirLockedError(dataDir, pid);
      }
      await rm(file, { force: true }); // left by a process that died
    }
  }
  throw new Error(`could not lock ${dataDir}`);
}

/**
 * The transport config.mail names. A send must end within the dispatcher's lease, or another
 * instance claims the message again meanwhile: every transport timeout is at most half of it.
 */
export function createMailer(config: Config, logger: Logger): Mailer {
  const transport = config.mail.transport;
  const timeoutMs = config.mail.dispatch.sendTimeoutMs;
  switch (transport.kind) {
    case 'smtp':
      return createSmtpMailer(transport.url, { timeoutMs });
    case 'http':
      return createHttpMailer({ url: transport.url, token: transport.token, timeoutMs });
    case 'files':
      return createEmlFileMailer(transport.dir, { logger });
  }
}

export async function openNodeRuntime(
  config: Config,
  options: {
    logger?: Logger;
    /** The server delivers the outbox; the CLI does not (a `false` here). */
    deliverMail?: boolean;
  } = {},
) {
  // The CLI logs to stderr: its stdout is its output (ids, tables, JSON).
  const logger = options.logger ?? createPinoLogger(config.logLevel, { pretty: prettyLogs(config) });
  const database = await openDatabase(config, { migrate: config.migrateOnStart });
  // PostgreSQL only: see retry-stale.ts (PGlite has no connections to go stale).
  const stale = <T extends object>(adapter: T) =>
    config.databaseUrl ? retryOnAdminShutdown(adapter, config.databasePoolMax) : adapter;
  const store = stale(createDrizzleStore(database.db));
  const masterKeys = await deriveMasterKeys(
    config.masterSecret ?? (await developmentMasterSecret(config, logger)),
  );
  const hasher = createArgon2Hasher(config.argon2, {
    concurrency: config.passwordHashConcurrency || defaultHashConcurrency(),
  });
  const metrics = createPromMetrics();
  const services = composeServices({
    config,
    store,
    hasher,
    clock: systemClock,
    masterKeys,
    rateLimiter: stale(createDrizzleRateLimiter(database.db)),
    logger,
    ...(options.deliverMail === false
      ? {}
      : {
          mailer: createMailer(config, logger),
          // Webhooks connect only to addresses the URL policy allows, checked at connect time.
          webhookSender: createNodeWebhookSender({
            allowPrivate: config.webhooks.allowPrivate,
            userAgent: 'Latchkey-Webhooks/1',
          }),
          onWebhookAttempt: (outcome: 'delivered' | 'retried' | 'failed', latencyMs: number) =>
            metrics.webhookAttempt(outcome, latencyMs / 1000),
        }),
  });
  return {
    config,
    logger,
    database,
    store,
    services,
    classifyFailure: classifyDatabaseFailure,
    clock: systemClock,
    metrics,
    apiReference: apiReferenceAssets(),
  };
}

/**
 * Opens the signing key (made when there is none), as every Node process that serves or
 * prepares the database does before anything else. False, logged, when it cannot be opened:
 * typically a MASTER_SECRET other than the one that sealed the keys.
 */
export async function openSigningKey(
  runtime: Pick<Awaited<ReturnType<typeof openNodeRuntime>>, 'services' | 'logger'>,
): Promise<boolean> {
  try {
    await runtime.services.keyRing.ensureSigningKey();
    return true;
  } catch (error) {
    runtime.logger.error('cannot open the signing keys', { error: describeError(error) });
    return false;
  }
}

/**
 * One hash per CPU, never more than libuv's threads (UV_THREADPOOL_SIZE), and two when the pool
 * was not sized: the server's entries size it to the hashes (thread-pool.ts); an entry that
 * did not (`tsx src/entry/node.ts`) has libuv's four, two of them left to the rest.
 */
export function defaultHashConcurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE);
  return Math.max(1, Math.min(availableParallelism(), pool > 0 ? pool : DEFAULT_HASHES));
}
