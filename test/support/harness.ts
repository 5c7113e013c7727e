import { afterAll, beforeAll } from 'vitest';
import { createDrizzleRateLimiter } from '../../src/adapters/db/drizzle-rate-limiter.js';
import { createDrizzleStore } from '../../src/adapters/db/drizzle-store.js';
import { classifyDatabaseFailure } from '../../src/adapters/db/failure-kind.js';
import { createArgon2Hasher } from '../../src/adapters/password/argon2-native.js';
import { composeServices, type Services } from '../../src/compose/services.js';
import { type Config, parseConfig } from '../../src/config.js';
import { type AppDeps, createApp, type LatchkeyApp } from '../../src/http/app.js';
import { deriveMasterKeys } from '../../src/lib/crypto.js';
import type { Clock } from '../../src/ports/clock.js';
import { type Logger, silentLogger } from '../../src/ports/logger.js';
import type { Mailer } from '../../src/ports/mail.js';
import { noMetrics } from '../../src/ports/metrics.js';
import type { PasswordHasher } from '../../src/ports/password-hasher.js';
import type { Store } from '../../src/ports/store.js';
import type { WebhookSender } from '../../src/ports/webhooks.js';
import type { KeyRing } from '../../src/services/key-ring.js';
import { openTestDatabase, type TestDatabase } from './database.js';

export class TestClock implements Clock {
  constructor(private current = new Date('2030-01-01T00:00:00.000Z')) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

export const TEST_MASTER_SECRET = 'test-master-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

export function testConfig(overrides: Record<string, string> = {}): Config {
  return parseConfig({
    NODE_ENV: 'test',
    ISSUER: 'http://localhost:3000',
    MASTER_SECRET: TEST_MASTER_SECRET,
    // Cheap argon2id in tests; `npm run bench` measures the real parameters.
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    ALLOWED_ORIGINS: 'https://app.example.com',
    // Suites register many users from the harness's one IP; the limit has its own test.
    REGISTRATIONS_PER_IP: '1000000',
    ...overrides,
  });
}

export interface Latchkey {
  app: LatchkeyApp;
  config: Config;
  clock: TestClock;
  store: Store;
  keyRing: KeyRing;
  /** With a `mailer`: the outbox's dispatcher (run it to deliver what is pending). */
  mailDispatcher: Services['mailDispatcher'];
  /** Endpoints and, with a `webhookSender`, `webhooks.dispatcher`. */
  webhooks: Services['webhooks'];
}

/** Builds an app over an open database, as an entry point would. */
export async function buildLatchkey(
  database: TestDatabase,
  options: {
    clock?: TestClock;
    env?: Record<string, string>;
    clientIp?: string;
    /** Lets a test watch or break the store (e.g. count calls, fail a write). */
    wrapStore?: (store: Store) => Store;
    logger?: Logger;
    /** Another password hasher than the native one (the WASM one of Workers). */
    hasher?: PasswordHasher;
    /** A mail transport: then `mailDispatcher` delivers the outbox through it. */
    mailer?: Mailer;
    /** A webhook transport: then `webhooks.dispatcher` delivers webhook deliveries through it. */
    webhookSender?: WebhookSender;
    /** More of the app's dependencies (metrics, the API reference's assets). */
    appDeps?: Partial<Pick<AppDeps, 'metrics' | 'apiReference'>>;
  } = {},
): Promise<Latchkey> {
  const config = testConfig(options.env);
  const clock = options.clock ?? new TestClock();
  const plain = createDrizzleStore(database.db);
  const store = options.wrapStore ? options.wrapStore(plain) : plain;
  const masterKeys = await deriveMasterKeys(config.masterSecret!);
  const getClientIp = () => options.clientIp ?? '203.0.113.7';
  const logger = options.logger;
  const services = composeServices({
    config,
    store,
    hasher: options.hasher ?? createArgon2Hasher(config.argon2),
    clock,
    masterKeys,
    rateLimiter: createDrizzleRateLimiter(database.db),
    ...(options.mailer ? { mailer: options.mailer } : {}),
    ...(options.webhookSender ? { webhookSender: options.webhookSender } : {}),
    ...(logger ? { logger } : {}),
  });
  const { keyRing } = services;
  await keyRing.ensureSigningKey();
  const app = createApp({
    config,
    services,
    clock,
    classifyFailure: classifyDatabaseFailure,
    getClientIp,
    logger: logger ?? silentLogger,
    metrics: noMetrics,
    ...options.appDeps,
  });
  return {
    app,
    config,
    clock,
    store,
    keyRing,
    mailDispatcher: services.mailDispatcher,
    webhooks: services.webhooks,
  };
}

/** A store that counts calls per method name. */
export function countingStore(store: Store, counts: Map<string, number>): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        counts.set(String(property), (counts.get(String(property)) ?? 0) + 1);
        return value.apply(target, args);
      };
    },
  });
}

/** One real database for the test file, opened before its tests and closed after. */
export function useDatabase(): { readonly current: TestDatabase } {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(async () => {
    await database?.close();
  });
  return {
    get current() {
      if (!database) throw new Error('the database opens in beforeAll');
      return database;
    },
  };
}

let emailCounter = 0;
export const uniqueEmail = (label = 'user') =>
  `${label}-${Date.now().toString(36)}-${(emailCounter++).toString(36)}@example.com`;

export const PASSWORD = 'correct horse battery staple';
