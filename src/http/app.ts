import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { contextStorage, tryGetContext } from 'hono/context-storage';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import type { Config } from '../config.js';
import { AuthError } from '../domain/errors.js';
import { type MasterKeys, randomToken } from '../lib/crypto.js';
import { SECOND } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import type { ClassifyFailure } from '../ports/failure-kind.js';
import { type Logger, silentLogger } from '../ports/logger.js';
import { type Metrics, noMetrics } from '../ports/metrics.js';
import type { PasswordHasher } from '../ports/password-hasher.js';
import type { RateLimiter } from '../ports/rate-limiter.js';
import type { Store } from '../ports/store.js';
import { createAccessTokens } from '../services/access-tokens.js';
import { createAdminService } from '../services/admin-service.js';
import { createSecretGuessLimit, limitKeys } from '../services/attempt-limits.js';
import { createAuthService } from '../services/auth-service.js';
import { createHealth } from '../services/health.js';
import type { KeyRing } from '../services/key-ring.js';
import { createMfaService } from '../services/mfa-service.js';
import { createOAuthService } from '../services/oauth-service.js';
import { createSessionService } from '../services/session-service.js';
import { accountPages } from './account/routes.js';
import type { RouteContext } from './context.js';
import { EDGE_CF, keep, type RequestFacts } from './context-keys.js';
import { errorResponse, handleError } from './errors.js';
import { countRequest, metricsHandler } from './metrics.js';
import { type GetClientIp, requestDevice } from './request.js';
import { accountRoutes } from './routes/account.js';
import { adminRoutes } from './routes/admin.js';
import { authRoutes } from './routes/auth.js';
import { type ApiReferenceAssets, docsRoutes } from './routes/docs.js';
import { mfaRoutes } from './routes/mfa.js';
import { oauthRoutes } from './routes/oauth.js';

export interface AppDeps {
  config: Config;
  store: Store;
  hasher: PasswordHasher;
  clock: Clock;
  keyRing: KeyRing;
  masterKeys: MasterKeys;
  rateLimiter: RateLimiter;
  /** Which errors mean "the database is unavailable" (503): the database adapter's own classification. */
  classifyFailure: ClassifyFailure;
  getClientIp?: GetClientIp;
  logger?: Logger;
  /** Prometheus on Node (src/adapters/prom-metrics.ts); nothing by default. */
  metrics?: Metrics;
  /** The API reference's script for /docs (Node serves the installed package; else a CDN). */
  apiReference?: ApiReferenceAssets;
}

/** The version of the HTTP contract, as the OpenAPI document states it. */
export const API_VERSION = '1.0.0';

export const MAX_BODY_BYTES = 64 * 1024; // API.md, Abuse limits

/** Builds the whole HTTP application from its dependencies; each runtime entry calls it once. */
export function createApp(deps: AppDeps) {
  const { config, hasher, clock, keyRing } = deps;
  const logger = deps.logger ?? silentLogger;
  const metrics = deps.metrics ?? noMetrics;
  const getClientIp = deps.getClientIp ?? (() => undefined);
  // Every security event carries the facts of the request it happened in (IP address, user
  // agent), whichever service recorded it: the events one most wants to trace are those of
  // an attacker (issue #15 §8). Operators see each one as a log line too (ids and type only:
  // no IP, no secret).
  const store: Store = {
    ...deps.store,
    async recordSecurityEvent(given) {
      const c = tryGetContext();
      const device = c ? requestDevice(c, config, getClientIp) : undefined;
      const event = device
        ? {
            ...given,
            ipAddress: given.ipAddress ?? device.ipAddress,
            userAgent: given.userAgent ?? device.userAgent,
          }
        : given;
      await deps.store.recordSecurityEvent(event);
      logger.info('security event', {
        request_id: tryGetContext()?.get('requestId') ?? null,
        type: event.type,
        user_id: event.userId,
        session_id: event.sessionId ?? null,
      });
    },
  };

  const perWindow = (points: number, seconds: number) => ({ points, windowMs: seconds * SECOND });

  const accessTokens = createAccessTokens({
    keyRing,
    clock,
    issuer: config.issuer,
    audience: config.audience,
    ttlSeconds: config.accessTokenTtlSeconds,
  });
  const dummyPasswordHash = hasher.hash(randomToken());
  const keys = limitKeys(config.rateLimitPrefixes);
  const guesses = createSecretGuessLimit({
    rateLimiter: deps.rateLimiter,
    clock,
    keys,
    policy: perWindow(config.mfaFailureLimit.points, config.mfaFailureLimit.windowSeconds),
    recordSecurityEvent: (event) => store.recordSecurityEvent(event),
  });
  const auth = createAuthService({
    store,
    hasher,
    clock,
    accessTokens,
    refreshSuccessorKey: deps.masterKeys.refreshSuccessorKey,
    sessionPolicy: {
      refreshTokenTtlMs: config.refreshTokenTtlSeconds * SECOND,
      sessionTtlMs: config.sessionTtlSeconds * SECOND,
      sessionRememberTtlMs: config.sessionRememberTtlSeconds * SECOND,
      maxSessionsPerUser: config.maxSessionsPerUser,
    },
    reuseGraceMs: config.refreshReuseGraceSeconds * SECOND,
    sessionBinding: config.sessionBinding,
    sessionLimitPolicy: config.sessionLimitPolicy,
    dummyPasswordHash,
    rateLimiter: deps.rateLimiter,
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
    store,
    hasher,
    clock,
    accessTokens,
    passwordMinScore: config.passwordMinScore,
    guesses,
  });
  const mfa = createMfaService({
    store,
    hasher,
    clock,
    auth,
    masterKeys: deps.masterKeys,
    guesses,
    totpIssuer: config.totpIssuer,
    refreshTokenTtlMs: config.refreshTokenTtlSeconds * SECOND,
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
  const admin = createAdminService({ store, clock });
  const ctx: RouteContext = {
    config,
    clock,
    auth,
    sessions,
    mfa,
    oauth,
    admin,
    keyRing,
    logger,
    getClientIp,
    handleError: handleError(logger, deps.classifyFailure),
  };

  const app = new Hono();
  app.onError(ctx.handleError);
  app.notFound((c) => errorResponse(c, new AuthError('not_found', 'No such route')));
  app.use(async function keepEdgeFacts(c, next) {
    const cf = (c.req.raw as { cf?: unknown }).cf;
    if (cf) keep(c, EDGE_CF, cf as RequestFacts[typeof EDGE_CF]);
    await next();
  });
  app.use(requestId());
  // Lets log lines written deep in a service name the request they belong to.
  app.use(contextStorage());
  app.use(async function requestLog(c, next) {
    const started = performance.now();
    await next();
    const elapsedMs = performance.now() - started;
    countRequest(metrics, c, elapsedMs / 1000);
    const caller = (c.var as { caller?: { sub: string; sid: string } }).caller;
    logger.info('request', {
      request_id: c.get('requestId'),
      method: c.req.method,
      route: c.req.routePath,
      status: c.res.status,
      latency_ms: Math.round(elapsedMs * 10) / 10,
      ...(caller ? { user_id: caller.sub, session_id: caller.sid } : {}),
    });
  });
  // OWASP Secure Headers: nosniff, no referrer leaks; no page of ours is ever framed (the
  // account pages and /docs say `frame-ancestors 'none'` too); and behind an https issuer,
  // HSTS for a year with subdomains (OWASP HSTS Cheat Sheet; RFC 6797 §6.1). Over http it
  // would be ignored anyway (RFC 6797 §8.1), so a development server sends none.
  app.use(
    secureHeaders({
      xFrameOptions: 'DENY',
      strictTransportSecurity:
        new URL(config.issuer).protocol === 'https:' ? 'max-age=31536000; includeSubDomains' : false,
    }),
  );
  // Browsers may call us only from the configured origins, with credentials (the refresh
  // cookie); never a wildcard (API.md, Cookie delivery).
  app.use(
    '/v1/*',
    cors({
      origin: (origin) => (config.allowedOrigins.includes(origin) ? origin : null),
      credentials: true,
      allowMethods: ['GET', 'POST', 'DELETE'],
      allowHeaders: ['Authorization', 'Content-Type'],
      exposeHeaders: ['Retry-After', 'WWW-Authenticate', 'X-Request-Id'],
      maxAge: 600,
    }),
  );
  const tooLarge = (c: Context) => {
    c.header('Connection', 'close');
    return errorResponse(c, new AuthError('payload_too_large', 'The request body is larger than 64 KiB'));
  };
  const limitStreamedBody = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
  app.use(async function limitBody(c, next) {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    // A declared length is the whole body (the HTTP parser reads no more as this request), so
    // checking the number is enough. Hono's bodyLimit would wrap the body in a counting
    // stream, which on @hono/node-server builds the full web Request (a measurable share of
    // each refresh: BENCHMARKS.md). Chunked bodies still go through it.
    const length = c.req.header('content-length');
    if (
      length !== undefined &&
      /^\d{1,15}$/.test(length) &&
      c.req.header('transfer-encoding') === undefined
    ) {
      return Number(length) > MAX_BODY_BYTES ? tooLarge(c) : next();
    }
    return limitStreamedBody(c, next);
  });
  // Every /v1 response is about one person, and many carry tokens: never cache them.
  app.use('/v1/*', async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
    c.header('Pragma', 'no-cache');
  });

  const health = createHealth({ store, clock });
  app.get('/metrics', metricsHandler({ metrics, health, token: config.metricsToken }));
  app.route(
    '/',
    docsRoutes({ issuer: config.issuer, version: API_VERSION, assets: deps.apiReference ?? {} }),
  );

  app.get('/health', async (c) =>
    (await health.isAvailable()) ? c.json({ status: 'ok' }) : c.json({ status: 'unavailable' }, 503),
  );

  app.route('/v1/auth', authRoutes(ctx));
  app.route('/v1/mfa', mfaRoutes(ctx));
  app.route('/v1', accountRoutes(ctx));
  app.route('/v1/admin', adminRoutes(ctx));
  app.route('/', oauthRoutes(ctx));
  app.route('/account', accountPages(ctx));
  return app;
}

export type LatchkeyApp = ReturnType<typeof createApp>;
