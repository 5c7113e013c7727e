import type { MiddlewareHandler } from 'hono';
import type { AssuranceRequirement } from '../domain/assurance.js';
import type { AccessTokenClaims } from './claims.js';
import { authenticateRequest, errorResponseFor } from './http.js';
import type { Verifier } from './verifier.js';

export type AccessTokenVariables = { accessToken: Readonly<AccessTokenClaims> };

/**
 * Hono middleware: a valid access token, and optionally an assurance level and a maximum
 * age of the authentication, as on the Latchkey server's own routes, e.g.
 * `app.get('/payouts', requireAccessToken(verifier, { acr: 'aal2', maxAge: 300 }), handler)`.
 * The claims are `c.get('accessToken')`. Both schemes: `Bearer`, and `DPoP` with a proof for a
 * key-bound token (RFC 9449 §7.1), checked against the request's method and URL (the verifier's
 * `dpop.publicUrl` and the path, when set) and the verifier's replay cache.
 */
/**
 * Generic over the app's environment, so an app with `Bindings` (a Worker, whose verifier may
 * be made per request from `c.env`) can use it: `E` only has to hold the token's variable.
 */
export function requireAccessToken<
  E extends { Variables: AccessTokenVariables } = { Variables: AccessTokenVariables },
>(verifier: Verifier, need: AssuranceRequirement = {}): MiddlewareHandler<E> {
  return async function requireAccessToken(c, next) {
    let claims: Readonly<AccessTokenClaims>;
    try {
      claims = await authenticateRequest(verifier, c.req.raw, need);
    } catch (error) {
      const refusal = errorResponseFor(error);
      if (!refusal) throw error;
      return new Response(refusal.body, { status: refusal.status, headers: refusal.headers });
    }
    c.set('accessToken', claims);
    await next();
  };
}
