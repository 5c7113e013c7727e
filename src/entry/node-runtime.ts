import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDrizzleRateLimiter } from '../adapters/db/drizzle-rate-limiter.js';
import { createDrizzleStore } from '../adapters/db/drizzle-store.js';
import { type OpenedDatabase, openPglite } from '../adapters/db/pglite.js';
import { migratePostgres, openPostgres } from '../adapters/db/postgres.js';
import { createJsonLogger } from '../adapters/json-logger.js';
import { createArgon2Hasher } from '../adapters/password/argon2-native.js';
import { type Config, ConfigError, parseConfig } from '../config.js';
import { deriveMasterKeys, randomToken } from '../lib/crypto.js';
import { MINUTE, SECOND } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import { createKeyRing } from '../services/key-ring.js';

/** Node wiring shared by the server and the CLI: configuration, database, keys, hasher. */

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

export const systemClock: Clock = { now: () => new Date() };

export function loadConfigOrExit(env: NodeJS.ProcessEnv): Config {
  try {
    return parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
}

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
    return openPostgres(config.databaseUrl, { max: config.databasePoolMax });
  }
  const dataDir = join(config.dataDir, 'pglite');
  await mkdir(dataDir, { recursive: true });
  // The embedded database is always migrated: nobody else can do it for a newcomer.
  return openPglite({ dataDir, migrationsFolder: MIGRATIONS_FOLDER });
}

export async function openNodeRuntime(config: Config) {
  const logger = createJsonLogger(config.logLevel);
  const database = await openDatabase(config, { migrate: config.migrateOnStart });
  const store = createDrizzleStore(database.db);
  const masterKeys = await deriveMasterKeys(
    config.masterSecret ?? (await developmentMasterSecret(config, logger)),
  );
  const keyRing = createKeyRing({
    store,
    clock: systemClock,
    masterKeys,
    alg: config.signingAlg,
    accessTokenTtlMs: config.accessTokenTtlSeconds * SECOND,
    cacheTtlMs: MINUTE,
  });
  const hasher = createArgon2Hasher(config.argon2);
  const rateLimiter = createDrizzleRateLimiter(database.db);
  return { config, logger, database, store, rateLimiter, masterKeys, keyRing, hasher, clock: systemClock };
}
