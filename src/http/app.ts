import type { MiddlewareHandler } from 'hono';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import type { Config } from '../config.js';
import { AuthError } from '../domain/errors.js';
import type { Clock } from '../ports/clock.js';
import type { ClassifyFailure } from '../ports/failure-kind.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics } from '../ports/metrics.js';
import type { AppServices, RouteContext } from './context.js';
import { EDGE_CF, keep, type RequestFacts } from './context-keys.js';
import { errorResponse, handleError } from './errors.js';
import { accountPages } from './pages/routes.js';
import type { GetClientIp } from './request.js';
import { requestLog } from './request-log.js';
import { mountRoutes, type Operation } from './route-table.js';
import { adminRoutes } from './routes/admin.js';
import { authRoutes } from './routes/auth.js';
import { type ApiReferenceAssets, docsRoutes } from './routes/docs.js';
import { emailRoutes } from './routes/email.js';
import { mfaRoutes } from './routes/mfa.js';
import { oauthRoutes } from './routes/oauth.js';
import { operationsRoutes } from './routes/operations.js';
import { passkeyRoutes } from './routes/passkeys.js';
import { passwordResetRoutes } from './routes/password-reset.js';
import { usersRoutes } from './routes/users.js';

export type { AppServices } from './context.js';

export interface AppDeps {
  config: Config;
  services: AppServices;
  clock: Clock;
  /** Which errors mean "the database is unavailable" (503): the database adapter's own classification. */
  classifyFailure: ClassifyFailure;
  getClientIp?: GetClientIp;
  logger: Logger;
  /** Prometheus on Node (src/adapters/prom-metrics.ts); `noMetrics` elsewhere. */
  metrics: Metrics;
  /** The API reference's script for /docs (Node serves the installed package; else a CDN). */
  apiReference?: ApiReferenceAssets;
}

/** The version of the HTTP contract, as the OpenAPI document states it. */
export const API_VERSION = '1.0.0';

export const MAX_BODY_BYTES = 64 * 1024; // API.md, Abuse limits

/** Builds the whole HTTP application from its dependencies; each runtime entry calls it once. */
export function createApp(deps: AppDeps) {
  const { config, clock, services, logger, metrics } = deps;
  const getClientIp = deps.getClientIp ?? (() => undefined);
  const ctx: RouteContext = {
    config,
    clock,
    ...services,
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
  // No AsyncLocalStorage (hono/context-storage): on Node 20 and 22 it installs promise hooks
  // that tax every promise of the process, which cost a third of a refresh's throughput
  // (issue #21, BENCHMARKS.md). What a service needs of the request (its origin, for the
  // security events it records) is handed to it in its call.
  app.use(requestLog(logger, metrics, clock));
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
  app.use('/v1/*', corsHeaders(config.allowedOrigins));
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
  // Every /v1 response is about one person, and many carry tokens: never cache them. Set
  // before the handler runs (see corsHeaders for why not after).
  app.use('/v1/*', async (c, next) => {
    c.header('Cache-Control', 'no-store');
    c.header('Pragma', 'no-cache');
    await next();
  });
  // DPOP_NONCE (RFC 9449 §8): every answer to a request with a DPoP proof carries the nonce the
  // next proof must use, the refusal that asks for one (`use_dpop_nonce`) included.
  if (config.dpop.nonce) {
    const withNonce: MiddlewareHandler = async (c, next) => {
      if (c.req.header('dpop') !== undefined) {
        const nonce = await deps.services.dpop.currentNonce();
        if (nonce) c.header('DPoP-Nonce', nonce);
      }
      await next();
    };
    app.use('/v1/*', withNonce);
    app.use('/oauth/*', withNonce);
  }

  // Each route is declared once (src/http/route-table.ts); /openapi.json is generated from the
  // declarations of exactly the modules mounted here.
  let operations: readonly Operation[] = [];
  app.route(
    '/',
    docsRoutes({
      issuer: config.issuer,
      version: API_VERSION,
      assets: deps.apiReference ?? {},
      operations: () => operations,
    }),
  );
  operations = mountRoutes(
    app,
    apiRoutes(ctx, { health: services.health, metrics, metricsToken: config.metricsToken }),
  );
  app.route('/account', accountPages(ctx));
  return app;
}

export type LatchkeyApp = ReturnType<typeof createApp>;

/** Every route module of the API, in mount order: the app mounts them, /openapi.json states them. */
export function apiRoutes(ctx: RouteContext, operations: Parameters<typeof operationsRoutes>[0]) {
  return [
    operationsRoutes(operations),
    authRoutes(ctx),
    passwordResetRoutes(ctx),
    emailRoutes(ctx),
    mfaRoutes(ctx),
    passkeyRoutes(ctx),
    usersRoutes(ctx),
    adminRoutes(ctx),
    oauthRoutes(ctx),
  ];
}

const CORS_METHODS = ['GET', 'POST', 'PATCH', 'DELETE'];
// DPoP: the proof header a browser app sends (RFC 9449 §4.1), and the nonce it may be asked to use (§8).
const CORS_REQUEST_HEADERS = ['Authorization', 'Content-Type', 'DPoP'];
const CORS_EXPOSED_HEADERS = ['Retry-After', 'WWW-Authenticate', 'X-Request-Id', 'DPoP-Nonce'];

/**
 * CORS for the API: a preflight (OPTIONS) is answered by Hono's `cors`; on every other request
 * the same headers are set here, BEFORE the handler runs. Hono's `cors` sets them on `c.res`
 * before the handler and appends `Vary` after it: on @hono/node-server either one turns the
 * handler's lightweight response into a full web Response copied header by header, which was
 * the largest share of a refresh's CPU outside the work itself (issue #21, BENCHMARKS.md).
 * Headers set with `c.header()` before the handler are merged into its response for free.
 */
export function corsHeaders(allowedOrigins: readonly string[]): MiddlewareHandler {
  const preflight = cors({
    origin: (origin) => (allowedOrigins.includes(origin) ? origin : null),
    credentials: true,
    allowMethods: CORS_METHODS,
    allowHeaders: CORS_REQUEST_HEADERS,
    exposeHeaders: CORS_EXPOSED_HEADERS,
    maxAge: 600,
  });
  const exposed = CORS_EXPOSED_HEADERS.join(',');
  return async function corsHeaders(c, next) {
    if (c.req.method === 'OPTIONS') return preflight(c, next);
    const origin = c.req.header('origin');
    if (origin !== undefined && allowedOrigins.includes(origin)) {
      c.header('Access-Control-Allow-Origin', origin);
      c.header('Access-Control-Allow-Credentials', 'true');
      c.header('Access-Control-Expose-Headers', exposed);
    }
    // The answer depends on Origin (Fetch standard, CORS protocol and HTTP caches).
    c.header('Vary', 'Origin', { append: true });
    await next();
  };
}
