import type { Config } from '../config.js';
import { type MasterKeys, randomToken } from '../lib/crypto.js';
import { SECOND } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import { type Logger, silentLogger } from '../ports/logger.js';
import type { Mailer } from '../ports/mail.js';
import type { PasswordHasher } from '../ports/password-hasher.js';
import type { RateLimiter } from '../ports/rate-limiter.js';
import type { LoginStore, SecurityEvent, SecurityEventLog, Store } from '../ports/store.js';
import type { WebhookSender } from '../ports/webhooks.js';
import { createAccessTokens } from '../services/access-tokens.js';
import { createAdminService } from '../services/admin-service.js';
import { createSecretGuessLimit, limitKeys } from '../services/attempt-limits.js';
import { createAuthService } from '../services/auth-service.js';
import { createCleanup } from '../services/cleanup.js';
import { createDpopProofs } from '../services/dpop.js';
import { createEmailAddress } from '../services/email-address.js';
import { createHealth } from '../services/health.js';
import { createKeyRing } from '../services/key-ring.js';
import { createMfaService } from '../services/mfa-service.js';
import { createOAuthService } from '../services/oauth-service.js';
import { createOperatorService } from '../services/operator-service.js';
import { createOutboxDispatcher } from '../services/outbox-dispatcher.js';
import { createPasskeys } from '../services/passkeys.js';
import { createPasswordReset } from '../services/password-reset.js';
import { createSecurityNotifications, type SecurityNotices } from '../services/security-notifications.js';
import { createSessionService } from '../services/session-service.js';
import { createUserProfile } from '../services/user-profile.js';
import { createWebhooks } from '../services/webhooks.js';

/**
 * The one place services are built from ports (issue #16): the Node server, the Worker, the
 * CLI and the tests all call `composeServices`, so a service is wired the same way on every
 * runtime and `src/http/` only ever receives the finished services. Which adapter stands
 * behind each port is the entries' business (src/entry/).
 */
export interface Ports {
  config: Config;
  store: Store;
  hasher: PasswordHasher;
  clock: Clock;
  masterKeys: MasterKeys;
  rateLimiter: RateLimiter;
  logger?: Logger;
  /**
   * The mail transport (src/adapters/mail/), for the processes that deliver the outbox (the
   * Node server, the Worker's Cron trigger). None in the CLI and most tests: no dispatcher then.
   */
  mailer?: Mailer;
  /** The webhook transport (src/adapters/webhooks/), for the processes that deliver webhooks. */
  webhookSender?: WebhookSender;
  /** Metrics of each webhook attempt (outcome, latency). */
  onWebhookAttempt?: (outcome: 'delivered' | 'retried' | 'failed', latencyMs: number) => void;
}

export function composeServices(ports: Ports) {
  const { config, hasher, clock, masterKeys, rateLimiter } = ports;
  const logger = ports.logger ?? silentLogger;
  const notices = config.mail.securityNotifications
    ? createSecurityNotifications({
        store: ports.store,
        masterKeys,
        productName: config.mail.productName,
        logger,
      })
    : undefined;
  const store = withEventNotices(ports.store, logger, notices);
  const perWindow = (points: number, seconds: number) => ({ points, windowMs: seconds * SECOND });

  const keyRing = createKeyRing({
    store,
    clock,
    masterKeys,
    alg: config.signingAlg,
    accessTokenTtlMs: config.accessTokenTtlSeconds * SECOND,
    prePublicationMs: config.keyPrepublicationSeconds * SECOND,
  });
  const accessTokens = createAccessTokens({
    keyRing,
    clock,
    issuer: config.issuer,
    audience: config.audience,
    ttlSeconds: config.accessTokenTtlSeconds,
  });
  const keys = limitKeys(config.rateLimitPrefixes);
  const guesses = createSecretGuessLimit({
    rateLimiter,
    clock,
    keys,
    policy: perWindow(config.mfaFailureLimit.points, config.mfaFailureLimit.windowSeconds),
    recordSecurityEvent: (event) => store.recordSecurityEvent(event),
  });
  const emailAddress = createEmailAddress({
    store,
    hasher,
    clock,
    masterKeys,
    rateLimiter,
    keys,
    guesses,
    mail: config.mail,
  });
  const dpop = createDpopProofs({
    store,
    clock,
    issuer: config.issuer,
    policy: config.dpop,
    nonceKey: masterKeys.dpopNonceKey,
  });
  const auth = createAuthService({
    dpopPolicy: dpop.policyFor,
    store,
    emailVerification: {
      required: config.mail.requireEmailVerification,
      verificationFor: emailAddress.verificationFor,
    },
    hasher,
    clock,
    accessTokens,
    refreshSuccessorKey: masterKeys.refreshSuccessorKey,
    sessionPolicy: {
      refreshTokenTtlMs: config.refreshTokenTtlSeconds * SECOND,
      sessionTtlMs: config.sessionTtlSeconds * SECOND,
      sessionRememberTtlMs: config.sessionRememberTtlSeconds * SECOND,
      maxSessionsPerUser: config.maxSessionsPerUser,
    },
    reuseGraceMs: config.refreshReuseGraceSeconds * SECOND,
    sessionBinding: config.sessionBinding,
    sessionLimitPolicy: config.sessionLimitPolicy,
    // Hashed once at start: unknown emails cost one verification too (timing, ASVS V2.2).
    dummyPasswordHash: hasher.hash(randomToken()),
    rateLimiter,
    passwordMinScore: config.passwordMinScore,
    registerLimit: perWindow(config.registrationsPerIpPerHour, 3600),
    refreshFailureLimit: perWindow(config.refreshFailuresPerIp, 900),
    loginLimits: {
      perAccount: perWindow(config.loginFailureLimit.perAccount, config.loginFailureLimit.windowSeconds),
      perIp: perWindow(config.loginFailureLimit.perIp, config.loginFailureLimit.windowSeconds),
      anywhere: perWindow(config.loginFailureLimit.anywhere, config.loginFailureLimit.anywhereWindowSeconds),
    },
    keys,
  });
  const sessions = createSessionService({
    dpop,
    store,
    hasher,
    clock,
    accessTokens,
    passwordMinScore: config.passwordMinScore,
    guesses,
  });
  const passkeys = createPasskeys({
    store,
    clock,
    webauthn: config.webauthn,
    rateLimiter,
    keys,
    signInLimit: perWindow(config.loginFailureLimit.perIp, config.loginFailureLimit.windowSeconds),
    openSession: auth.openSession,
    requireEmailVerification: config.mail.requireEmailVerification,
  });
  const mfa = createMfaService({
    store,
    hasher,
    clock,
    auth,
    masterKeys,
    guesses,
    totpIssuer: config.totpIssuer,
    refreshTokenTtlMs: config.refreshTokenTtlSeconds * SECOND,
    passkeys,
  });
  const oauth = createOAuthService({
    store,
    clock,
    accessTokens,
    sessions,
    issuer: config.issuer,
    accessTokenTtlSeconds: config.accessTokenTtlSeconds,
    introspectionClients: config.introspectionClients,
  });
  const profile = createUserProfile({ store, clock });
  const passwordReset = createPasswordReset({
    store,
    hasher,
    clock,
    masterKeys,
    rateLimiter,
    keys,
    guesses,
    verifySecondFactor: mfa.verifySecondFactor,
    mail: config.mail,
    passwordMinScore: config.passwordMinScore,
  });
  const webhooks = createWebhooks({
    store,
    clock,
    masterKeys,
    config: {
      ...config.webhooks,
      requireHttps: config.env === 'production',
      productName: config.mail.productName,
    },
    sender: ports.webhookSender,
    policy: {
      batchSize: config.mail.dispatch.batchSize,
      // A claim outlasts a few sends in a row at the receivers' timeout.
      leaseMs: Math.max(config.mail.dispatch.leaseSeconds * SECOND, 4 * config.webhooks.timeoutMs),
    },
    logger,
    ...(ports.onWebhookAttempt ? { onAttempt: ports.onWebhookAttempt } : {}),
  });
  const admin = createAdminService({ store, clock, passwordReset, logger });
  const health = createHealth({ store, clock });
  const mailDispatcher = ports.mailer
    ? createOutboxDispatcher({
        outbox: store,
        mailer: ports.mailer,
        clock,
        masterKeys,
        from: config.mail.from,
        replyTo: config.mail.replyTo,
        policy: {
          batchSize: config.mail.dispatch.batchSize,
          leaseMs: config.mail.dispatch.leaseSeconds * SECOND,
          maxAttempts: config.mail.dispatch.maxAttempts,
        },
        logger,
      })
    : undefined;
  const cleanup = createCleanup({
    store,
    clock,
    policy: {
      batchSize: config.cleanup.batchSize,
      eventRetentionMs: config.cleanup.eventRetentionSeconds * SECOND,
      revokedSessionRetentionMs: config.cleanup.revokedSessionRetentionSeconds * SECOND,
      retiredKeyRetentionMs: keyRing.retiredKeyRetentionMs,
    },
  });
  // The operator's actions (the CLI): no request, so their events carry no client facts.
  const operator = createOperatorService({
    store,
    hasher,
    clock,
    passwordMinScore: config.passwordMinScore,
    passwordReset,
  });
  return {
    dpop,
    keyRing,
    accessTokens,
    auth,
    sessions,
    mfa,
    passkeys,
    oauth,
    admin,
    profile,
    passwordReset,
    emailAddress,
    webhooks,
    health,
    cleanup,
    operator,
    mailDispatcher,
  };
}

export type Services = ReturnType<typeof composeServices>;

/**
 * The store, but every security event recorded through it is also a log line for operators
 * (the request's id, ids and type only: no IP, no secret), and with SECURITY_NOTIFICATIONS the
 * owner's mail about it is written with it, in one transaction. Each event carries the origin
 * of the request it happened in (IP address, user agent, request id), given by the service
 * that records it (issue #15 §8; `SecurityEvent` requires it). A Proxy, not a spread copy: a
 * store may be one itself (the Worker's, that forwards to the request's client; the retrying
 * one on Node).
 */
function withEventNotices(store: Store, logger: Logger, notices: SecurityNotices | undefined): Store {
  const logged = (event: SecurityEvent) =>
    logger.info('security event', {
      request_id: event.requestId,
      type: event.type,
      user_id: event.userId,
      session_id: event.sessionId ?? null,
    });
  const recordSecurityEvent: SecurityEventLog['recordSecurityEvent'] = async (event, caused = []) => {
    // The owner hears of it by email (SECURITY_NOTIFICATIONS): written with the event, one transaction.
    await store.recordSecurityEvent(event, [...caused, ...(notices ? await notices(event) : [])]);
    logged(event);
  };
  // A login writes its event with its session (LoginStore.openLoginSession, one statement):
  // the same notices (then one transaction) and log line as any other event.
  const openLoginSession: LoginStore['openLoginSession'] = async (input) => {
    const { event } = input;
    const caused = notices ? await notices(event) : [];
    const opened = await store.openLoginSession({
      ...input,
      notices: [...(input.notices ?? []), ...caused],
    });
    if (typeof opened === 'object') logged(event);
    return opened;
  };
  return new Proxy(store, {
    get: (target, property, receiver) =>
      property === 'recordSecurityEvent'
        ? recordSecurityEvent
        : property === 'openLoginSession'
          ? openLoginSession
          : Reflect.get(target, property, receiver),
  });
}
