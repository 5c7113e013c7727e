import type { MiddlewareHandler } from 'hono';
import type { AssuranceRequirement } from '../../domain/assurance.js';
import { authorizeBearer } from '../../domain/bearer.js';
import type { Clock } from '../../ports/clock.js';
import type { Caller, SessionService } from '../../services/session-service.js';

export type AuthVariables = { caller: Caller; accessToken: string };

/**
 * Guards a route: a valid access token of a live session, and optionally an assurance
 * level and a maximum age of the authentication (RFC 9470), e.g.
 * `requireAuth(sessions, clock, FRESH_AAL2)` with a requirement named in
 * domain/assurance.ts. The decision is `checkAssurance` (through `authorizeBearer`), the
 * one the `/account` pages and the resource-server kit's middleware ask too.
 */
export function requireAuth(
  sessions: SessionService,
  clock: Clock,
  need: AssuranceRequirement = {},
): MiddlewareHandler<{ Variables: AuthVariables }> {
  return async function requireAuth(c, next) {
    const { token, claims } = await authorizeBearer({
      authorization: c.req.header('authorization'),
      authenticate: sessions.authenticate,
      need,
      now: () => clock.now(),
    });
    c.set('caller', claims);
    c.set('accessToken', token);
    await next();
  };
}
