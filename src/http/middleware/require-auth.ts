import type { Context, MiddlewareHandler } from 'hono';
import type { AssuranceRequirement } from '../../domain/assurance.js';
import { authorizeBearer, requireAssurance } from '../../domain/bearer.js';
import type { Caller } from '../../services/session-service.js';
import type { RouteContext } from '../context.js';
import { dpopFacts, requestOrigin } from '../request.js';

export type AuthVariables = { caller: Caller; accessToken: string; dpopJkt: string | null };

/** What the guard needs of the route context: the sessions and clock, and how to read a request's origin. */
export type BearerContext = Pick<RouteContext, 'sessions' | 'clock' | 'config' | 'getClientIp'>;

/**
 * The guard's checks on one request, for `requireAuth` and for a route that takes a token among
 * other credentials (logout): the token, its session, its DPoP proof when it is key-bound
 * (RFC 9449 §7), and the assurance `need`.
 */
export function authorizeRequest(c: Context, ctx: BearerContext, need: AssuranceRequirement = {}) {
  const { sessions, clock } = ctx;
  return authorizeBearer({
    authorization: c.req.header('authorization'),
    authenticate: (token) =>
      sessions.authenticate(token, () => requestOrigin(c, ctx.config, ctx.getClientIp)),
    need,
    now: () => clock.now(),
    dpop: sessions.dpop.resourceContext(dpopFacts(c)),
  });
}

/**
 * Guards a route: a valid access token of a live session, and optionally an assurance
 * level and a maximum age of the authentication (RFC 9470), e.g.
 * `requireAuth(ctx, FRESH_AAL2)` with a requirement named in
 * domain/assurance.ts. The decision is `checkAssurance` (through `authorizeBearer`), the
 * one the `/account` pages and the resource-server kit's middleware ask too.
 */
export function requireAuth(
  ctx: BearerContext,
  need: AssuranceRequirement = {},
): MiddlewareHandler<{ Variables: AuthVariables }> {
  const { clock } = ctx;
  return async function requireAuth(c, next) {
    // Guarded twice on one request (a table's guard, then the route's stronger one): the token
    // and its DPoP proof were checked once (a proof is single use); only the assurance is asked again.
    const known = c.get('caller');
    if (known) {
      requireAssurance({ acr: known.acr, authTime: known.auth_time }, need, clock.now());
      await next();
      return;
    }
    const { token, claims, dpop } = await authorizeRequest(c, ctx, need);
    c.set('caller', claims);
    c.set('accessToken', token);
    // The key the request proved (a DPoP-bound token): a step-up's new tokens stay bound to it.
    c.set('dpopJkt', dpop?.jkt ?? null);
    await next();
  };
}
