import { createEmailTokenStore } from '../../src/adapters/db/drizzle-email-tokens.js';
import { createDrizzleRateLimiter } from '../../src/adapters/db/drizzle-rate-limiter.js';
import { createDrizzleStore } from '../../src/adapters/db/drizzle-store.js';
import { classifyDatabaseFailure } from '../../src/adapters/db/failure-kind.js';
import { createArgon2Hasher } from '../../src/adapters/password/argon2-native.js';
import { composeServices } from '../../src/compose/services.js';
import { createApp, currentRequestFacts, type LatchkeyApp } from '../../src/http/app.js';
import { mountRoutes } from '../../src/http/route-table.js';
import { passwordResetRoutes } from '../../src/http/routes/password-reset.js';
import { deriveMasterKeys } from '../../src/lib/crypto.js';
import { SECOND } from '../../src/lib/time.js';
import type { PasswordResetStore } from '../../src/ports/email-tokens.js';
import { type Logger, silentLogger } from '../../src/ports/logger.js';
import { noMetrics } from '../../src/ports/metrics.js';
import type { Store } from '../../src/ports/store.js';
import { createSecretGuessLimit, limitKeys } from '../../src/services/attempt-limits.js';
import { createPasswordReset, type PasswordReset } from '../../src/services/password-reset.js';
import type { TestDatabase } from '../support/database.js';
import { TestClock, testConfig } from '../support/harness.js';

export interface ResetApp {
  app: LatchkeyApp;
  clock: TestClock;
  store: Store & PasswordResetStore;
}

/**
 * buildLatchkey (test/support/harness.ts) with the password reset wired in. Until the
 * composition module and app.ts build and mount it (requests-E.md), this wires it the same
 * way here; once they do, it uses theirs and mounts nothing twice.
 */
export async function buildWithReset(
  database: TestDatabase,
  options: { env?: Record<string, string>; clientIp?: string; logger?: Logger; clock?: TestClock } = {},
): Promise<ResetApp> {
  const config = testConfig(options.env);
  const clock = options.clock ?? new TestClock();
  const store = { ...createDrizzleStore(database.db), ...createEmailTokenStore(database.db) };
  const masterKeys = await deriveMasterKeys(config.masterSecret!);
  const getClientIp = () => options.clientIp ?? '203.0.113.7';
  const rateLimiter = createDrizzleRateLimiter(database.db);
  const hasher = createArgon2Hasher(config.argon2);
  const logger = options.logger ?? silentLogger;
  const services = composeServices({
    config,
    store,
    hasher,
    clock,
    masterKeys,
    rateLimiter,
    requestFacts: currentRequestFacts(config, getClientIp),
    logger,
  });
  await services.keyRing.ensureSigningKey();
  const app = createApp({
    config,
    services,
    clock,
    classifyFailure: classifyDatabaseFailure,
    getClientIp,
    logger,
    metrics: noMetrics,
  });
  if (!('passwordReset' in services)) {
    const keys = limitKeys(config.rateLimitPrefixes);
    const passwordReset: PasswordReset = createPasswordReset({
      store,
      hasher,
      clock,
      masterKeys,
      rateLimiter,
      keys,
      guesses: createSecretGuessLimit({
        rateLimiter,
        clock,
        keys,
        policy: {
          points: config.mfaFailureLimit.points,
          windowMs: config.mfaFailureLimit.windowSeconds * SECOND,
        },
        recordSecurityEvent: (event) => store.recordSecurityEvent(event),
      }),
      verifySecondFactor: services.mfa.verifySecondFactor,
      mail: config.mail,
      passwordMinScore: config.passwordMinScore,
    });
    mountRoutes(app, [passwordResetRoutes({ config, getClientIp, passwordReset })]);
  }
  return { app, clock, store };
}
