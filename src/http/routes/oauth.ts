import type { Context, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { DPOP_ALGORITHMS } from '../../domain/dpop.js';
import { AuthError } from '../../domain/errors.js';
import { sha256Base64url } from '../../lib/crypto.js';
import { DEFAULT_CLIENT_ID } from '../../services/auth-flow.js';
import type { RouteContext } from '../context.js';
import { ERROR_CODE, keep } from '../context-keys.js';
import { errorResponse } from '../errors.js';
import { requestOrigin, tokenRequestDevice } from '../request.js';
import * as R from '../responses.js';
import { routeTable, type Security } from '../route-table.js';
import { IntrospectParams, RevokeParams, TokenParams } from '../schemas.js';

export const OAUTH_PATHS = {
  metadata: '/.well-known/oauth-authorization-server',
  jwks: '/.well-known/jwks.json',
  token: '/oauth/token',
  revocation: '/oauth/revoke',
  introspection: '/oauth/introspect',
  revokedSessions: '/oauth/revoked-sessions',
} as const;

const BASIC = /^Basic[ ]+([A-Za-z0-9+/]+=*)$/i;

/** RFC 6749 §2.3.1: client_secret_basic, each part form-urlencoded before base64. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const encoded = header?.match(BASIC)?.[1];
  if (!encoded) return undefined;
  try {
    const decoded = atob(encoded);
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const part = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '));
    return { id: part(decoded.slice(0, colon)), secret: part(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/**
 * Errors in the words of RFC 6749 §5.2 for standard clients: a refused refresh token is 400
 * `invalid_grant` (a detected reuse too: the description says the session was revoked).
 */
function oauthErrorHandler(ctx: RouteContext) {
  const fallback = ctx.handleError;
  return (error: Error, c: Context): Response => {
    if (!(error instanceof AuthError)) return fallback(error, c);
    keep(c, ERROR_CODE, error.code); // the metrics count a reuse as a reuse
    c.header('Pragma', 'no-cache');
    if (error.code === 'invalid_grant' || error.code === 'refresh_token_reused') {
      return errorResponse(c, new AuthError('invalid_grant', error.description), 400);
    }
    if (error.code === 'unsupported_media_type') {
      return errorResponse(c, new AuthError('invalid_request', error.description), 400);
    }
    if (error.code === 'invalid_client')
      c.header('WWW-Authenticate', 'Basic realm="latchkey", charset="UTF-8"');
    return errorResponse(c, error);
  };
}

/** Token and revocation clients are public (RFC 6749 §2.1): credentials are refused, not ignored. */
const publicClient: MiddlewareHandler = async (c, next) => {
  if (c.req.header('authorization')) {
    throw new AuthError(
      'invalid_client',
      'Clients of this server are public: send client_id, no credentials',
    );
  }
  await next();
};

/**
 * The introspection client authenticates in the handler, not in a middleware: its credentials
 * may be in the form body (client_secret_post), which is read once, by the declaration.
 */
const INTROSPECTION_CLIENT: Security = {
  requirement: [{ clientSecretBasic: [] }, {}],
  note: 'client_secret_basic, or client_id and client_secret in the form (client_secret_post).',
};

export function oauthRoutes(ctx: RouteContext) {
  const { config, auth, oauth } = ctx;
  const table = routeTable('');
  const { app } = table;
  app.onError(oauthErrorHandler(ctx));
  const url = (path: string) => `${config.issuer}${path}`;

  // Public documents: any origin may read them (no credentials).
  app.use('/.well-known/*', cors({ origin: '*', allowMethods: ['GET'], maxAge: 86400 }));
  app.use(OAUTH_PATHS.revokedSessions, cors({ origin: '*', allowMethods: ['GET'], maxAge: 86400 }));
  // Browser apps (public clients) may refresh and revoke from the allowed origins.
  const browserClients = cors({
    origin: (origin) => (config.allowedOrigins.includes(origin) ? origin : null),
    allowMethods: ['POST'],
    allowHeaders: ['Content-Type', 'DPoP'],
    exposeHeaders: ['DPoP-Nonce', 'WWW-Authenticate'],
    maxAge: 600,
  });
  app.use(OAUTH_PATHS.token, browserClients);
  app.use(OAUTH_PATHS.revocation, browserClients);
  app.use('/oauth/*', async (c, next) => {
    await next();
    if (c.req.path !== OAUTH_PATHS.revokedSessions) {
      c.header('Cache-Control', 'no-store'); // RFC 6749 §5.1
      c.header('Pragma', 'no-cache');
    }
  });

  /** RFC 7517 keys; a max-age within the pre-publication period (see KeyRing). */
  table.route(
    {
      method: 'get',
      path: OAUTH_PATHS.jwks,
      tag: 'keys',
      summary: 'Public keys in use (active, scheduled and still-valid previous ones)',
      ok: { status: 200, description: 'JWKS (RFC 7517)', schema: R.Jwks },
    },
    async (c) => {
      c.header('Cache-Control', `public, max-age=${ctx.keyRing.jwksMaxAgeSeconds}`);
      return c.json(await ctx.keyRing.jwks());
    },
  );

  /** RFC 8414 §2; `revoked_sessions_endpoint` is ours (the feed resource servers poll). */
  table.route(
    {
      method: 'get',
      path: OAUTH_PATHS.metadata,
      tag: 'oauth',
      summary: 'RFC 8414 authorization server metadata',
      ok: { status: 200, description: 'Metadata', schema: R.AuthorizationServerMetadata },
    },
    (c) => {
      c.header('Cache-Control', 'public, max-age=3600');
      return c.json({
        issuer: config.issuer,
        jwks_uri: url(OAUTH_PATHS.jwks),
        token_endpoint: url(OAUTH_PATHS.token),
        revocation_endpoint: url(OAUTH_PATHS.revocation),
        introspection_endpoint: url(OAUTH_PATHS.introspection),
        revoked_sessions_endpoint: url(OAUTH_PATHS.revokedSessions),
        // No authorization endpoint: users sign in through /v1/auth/login.
        response_types_supported: [],
        grant_types_supported: ['refresh_token'],
        token_endpoint_auth_methods_supported: ['none'],
        revocation_endpoint_auth_methods_supported: ['none'],
        introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        acr_values_supported: ['aal1', 'aal2'],
        // RFC 9449 §5.1: the proof algorithms accepted at the token endpoints and our own routes.
        dpop_signing_alg_values_supported: [...DPOP_ALGORITHMS],
      });
    },
  );

  /** RFC 6749 §6: the refresh grant for public clients, with /v1/auth/refresh's rotation and reuse rules. */
  table.route(
    {
      method: 'post',
      path: OAUTH_PATHS.token,
      tag: 'oauth',
      summary: 'RFC 6749 refresh grant for public clients',
      use: [publicClient],
      body: { schema: TokenParams, form: true },
      ok: { status: 200, description: 'RFC 6749 §5.1', schema: R.OAuthTokenResponse },
      errors: [
        'invalid_request',
        'invalid_grant',
        'invalid_dpop_proof',
        'unsupported_grant_type',
        'invalid_client',
        'rate_limited',
      ],
    },
    async (c, { body: params }) => {
      if (!params.grant_type) throw new AuthError('invalid_request', 'grant_type is required');
      if (params.grant_type !== 'refresh_token') {
        throw new AuthError('unsupported_grant_type', 'Only grant_type=refresh_token is supported');
      }
      if (!params.refresh_token) throw new AuthError('invalid_request', 'refresh_token is required');
      const tokens = await auth.refresh({
        refreshToken: params.refresh_token,
        ...(params.client_id ? { clientId: params.client_id } : {}),
        device: await tokenRequestDevice(c, ctx, params.client_id ?? DEFAULT_CLIENT_ID),
      });
      return c.json({
        access_token: tokens.accessToken,
        token_type: tokens.tokenType,
        expires_in: tokens.expiresIn,
        refresh_token: tokens.refreshToken,
        refresh_token_expires_in: tokens.refreshTokenExpiresIn,
        session_id: tokens.sessionId,
      });
    },
  );

  /** RFC 7009 §2: 200 whether or not the token was live. */
  table.route(
    {
      method: 'post',
      path: OAUTH_PATHS.revocation,
      tag: 'oauth',
      summary: 'RFC 7009 revocation: ends the token’s session',
      use: [publicClient],
      body: { schema: RevokeParams, form: true },
      ok: { status: 200, description: 'Revoked, or nothing to revoke' },
      errors: ['invalid_request', 'invalid_client', 'unauthorized_client'],
    },
    async (c, { body: params }) => {
      await oauth.revoke(params.token, params.client_id, requestOrigin(c, config, ctx.getClientIp));
      return c.body(null, 200);
    },
  );

  /** RFC 7662 §2: for resource servers configured in INTROSPECTION_CLIENTS. */
  table.route(
    {
      method: 'post',
      path: OAUTH_PATHS.introspection,
      tag: 'oauth',
      summary: 'RFC 7662 introspection, for resource servers in INTROSPECTION_CLIENTS',
      security: INTROSPECTION_CLIENT,
      body: { schema: IntrospectParams, form: true },
      ok: { status: 200, description: 'RFC 7662 §2.2', schema: R.Introspection },
      errors: ['invalid_request', 'invalid_client'],
    },
    async (c, { body: params }) => {
      const basic = basicCredentials(c.req.header('authorization'));
      const credentials =
        basic ??
        (params.client_id !== undefined && params.client_secret !== undefined
          ? { id: params.client_id, secret: params.client_secret }
          : undefined);
      if (!credentials) throw new AuthError('invalid_client', 'Client authentication is required');
      await oauth.authenticateIntrospectionClient(credentials.id, credentials.secret);
      return c.json(await oauth.introspect(params.token, params.token_type_hint));
    },
  );

  /**
   * Sessions revoked within the last access-token lifetime, for resource servers that verify
   * offline (see `latchkey/verify`). Public: session ids say nothing about whose they are.
   * `no-cache` with an ETag: caches may keep it but must ask, and an unchanged feed is a 304.
   */
  table.route(
    {
      method: 'get',
      path: OAUTH_PATHS.revokedSessions,
      tag: 'oauth',
      summary: 'Sessions revoked within the last access-token lifetime, for offline verifiers (ETag, 304)',
      ok: { status: 200, description: 'The feed', schema: R.RevokedSessionsFeed },
    },
    async (c) => {
      const feed = await oauth.revokedSessions();
      const etag = `"${(await sha256Base64url(JSON.stringify(feed.sessions))).slice(0, 27)}"`;
      c.header('ETag', etag);
      c.header('Cache-Control', 'public, no-cache');
      const ifNoneMatch = c.req.header('if-none-match');
      // RFC 9110 §13.1.2: weak comparison, a list of tags, or "*".
      if (ifNoneMatch?.split(',').some((tag) => ['*', etag].includes(tag.trim().replace(/^W\//, '')))) {
        return c.body(null, 304);
      }
      return c.json({ window_seconds: feed.windowSeconds, revoked_sessions: feed.sessions });
    },
  );

  return table.done();
}
