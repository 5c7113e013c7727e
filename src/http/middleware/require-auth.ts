import type { MiddlewareHandler } from 'hono';
import { type AssuranceRequirement, checkAssurance } from '../../domain/assurance.js';
import { AuthError } from '../../domain/errors.js';
import type { Clock } from '../../ports/clock.js';
import type { Caller, SessionService } from '../../services/session-service.js';

export type AuthVariables = { caller: Caller; accessToken: string };

const BEARER = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)$/i; // RFC 6750 §2.1 b64token

/** The Bearer token of a request, if it carries one. */
export const bearerToken = (header: string | undefined): string | undefined => header?.match(BEARER)?.[1];

/**
 * Guards a route: a valid access token of a live session, and optionally an assurance
 * level and a maximum age of the authentication (RFC 9470), e.g.
 * `requireAuth(sessions, clock, { acr: 'aal2', maxAge: 300 })`.
 */
export function requireAuth(
  sessions: SessionService,
  clock: Clock,
  need: AssuranceRequirement = {},
): MiddlewareHandler<{ Variables: AuthVariables }> {
  return async function requireAuth(c, next) {
    const token = bearerToken(c.req.header('authorization'));
    if (!token) throw new AuthError('invalid_token', 'A Bearer access token is required');
    const caller = await sessions.authenticate(token);
    const verdict = checkAssurance({ acr: caller.acr, authTime: caller.auth_time }, need, clock.now());
    if (!verdict.ok) {
      throw new AuthError('insufficient_user_authentication', verdict.description, {
        ...(verdict.acrValues ? { acrValues: verdict.acrValues } : {}),
        ...(verdict.maxAge !== undefined ? { maxAge: verdict.maxAge } : {}),
      });
    }
    c.set('caller', caller);
    c.set('accessToken', token);
    await next();
  };
}
