import { and, eq, sql } from 'drizzle-orm';
import { rowsOf } from '../../src/adapters/db/database.js';
import { createEmailTokenStore } from '../../src/adapters/db/drizzle-email-tokens.js';
import { createDrizzleRateLimiter } from '../../src/adapters/db/drizzle-rate-limiter.js';
import { createDrizzleStore } from '../../src/adapters/db/drizzle-store.js';
import { classifyDatabaseFailure } from '../../src/adapters/db/failure-kind.js';
import { outbox, users } from '../../src/adapters/db/schema.js';
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
import { unsealMailMessage } from '../../src/services/mail-sealing.js';
import { createPasswordReset, type PasswordReset } from '../../src/services/password-reset.js';
import { call } from '../support/client.js';
import type { TestDatabase } from '../support/database.js';
import { TEST_MASTER_SECRET, TestClock, testConfig } from '../support/harness.js';

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
  // Wired by the composition module (and so mounted by app.ts) once requests-E.md is applied.
  if (!(services as { passwordReset?: PasswordReset }).passwordReset) {
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

export const NEW_PASSWORD = 'seven herons fold paper under violet rain';
/** The harness's MASTER_SECRET's keys: the tests unseal the outbox with them. */
export const KEYS = deriveMasterKeys(TEST_MASTER_SECRET);

/** Requests and database reads the password reset tests share. */
export function resetTools(database: () => TestDatabase, defaultApp: () => LatchkeyApp) {
  const forgot = (email: string, app = defaultApp()) =>
    call(app, '/v1/auth/password/forgot', { body: { email } });
  const reset = (body: Record<string, unknown>, app = defaultApp()) =>
    call(app, '/v1/auth/password/reset', { body: { password: NEW_PASSWORD, ...body } });

  /** The user's outbox rows of `kind`, oldest first. */
  async function mailsOf(userId: string, kind: string) {
    return database()
      .db.select()
      .from(outbox)
      .where(and(eq(outbox.userId, userId), eq(outbox.kind, kind)))
      .orderBy(outbox.createdAt, outbox.id);
  }

  /** The token of the user's newest reset mail, read the way the recipient would: from the link. */
  async function latestToken(userId: string): Promise<string> {
    const rows = await mailsOf(userId, 'password_reset');
    const row = rows.at(-1)!;
    const mail = await unsealMailMessage(await KEYS, row.id, row.payload!);
    const link = mail.text.match(/http:\/\/localhost:3000\/account\/password\/reset\?token=\S+/)![0];
    return new URL(link).searchParams.get('token')!;
  }

  const passwordHashOf = async (userId: string) =>
    (await database().db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, userId)))[0]!
      .hash;

  async function eventTypes(userId: string): Promise<string[]> {
    const result = await database().db.execute(
      sql`SELECT type FROM security_events WHERE user_id = ${userId} ORDER BY created_at, type`,
    );
    return rowsOf<{ type: string }>(result).map((row) => row.type);
  }

  return { forgot, reset, mailsOf, latestToken, passwordHashOf, eventTypes };
}
