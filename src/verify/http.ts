import type { AssuranceRequirement } from '../domain/assurance.js';
import { authorizeBearer, BearerError } from '../domain/bearer.js';
import type { AccessTokenClaims } from './claims.js';
import { authorizationOf, dpopContextFor, type RequestLike } from './dpop.js';
import { VerifierUnavailableError } from './errors.js';
import type { Verifier } from './verifier.js';

/**
 * Framework-free helpers: any server (Express, Fastify, `node:http`, a fetch handler) hands in
 * the request (or just its `Authorization` header) and turns a refusal into a response with
 * `errorResponseFor`.
 */

/**
 * The claims of the request's access token, if it meets `need` (RFC 9470); throws `BearerError`.
 *
 * Given the request (a fetch `Request`, or `{ method, url, headers }` of a Node request), it
 * takes both schemes: `Bearer` (RFC 6750) for plain tokens and `DPoP` (RFC 9449 §7.1) for
 * key-bound ones, whose proof it checks (src/domain/bearer.ts `checkResourceProof`: signed by the
 * token's `cnf.jkt` key, for this method and URL, `ath` the token's hash, `iat` recent, never seen
 * before in the verifier's replay cache). Given only the `Authorization` header, it cannot check a
 * proof: a DPoP-bound token is then refused (`wrong_scheme`, with a DPoP challenge).
 */
export async function authenticateRequest(
  verifier: Verifier,
  request: RequestLike | string | string[] | null | undefined,
  need: AssuranceRequirement = {},
): Promise<Readonly<AccessTokenClaims>> {
  const whole = typeof request === 'object' && request !== null && !Array.isArray(request);
  const { claims } = await authorizeBearer({
    authorization: whole ? authorizationOf(request) : Array.isArray(request) ? undefined : request,
    authenticate: verifier.verify,
    need,
    now: verifier.now,
    ...(whole && verifier.dpop ? { dpop: dpopContextFor(verifier.dpop, request) } : {}),
  });
  return claims;
}

export interface ErrorResponse {
  status: 401 | 503;
  headers: Record<string, string>;
  body: string;
}

/**
 * The response for a refusal: 401 with the RFC 6750 / RFC 9470 `WWW-Authenticate`
 * challenge (`DPoP error="invalid_dpop_proof", …, algs="…"` for a DPoP refusal, RFC 9449 §7.1)
 * and the JSON error Latchkey itself answers with; 503 when keys could not be fetched or the
 * DPoP replay cache could not take the proof. Undefined for any other error (yours to handle).
 */
export function errorResponseFor(error: unknown): ErrorResponse | undefined {
  const headers = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
  if (error instanceof BearerError) {
    return {
      status: 401,
      headers: { ...headers, 'www-authenticate': error.wwwAuthenticate },
      body: JSON.stringify({ error: error.code, error_description: error.description }),
    };
  }
  if (error instanceof VerifierUnavailableError) {
    return {
      status: 503,
      headers: { ...headers, 'retry-after': '5' },
      body: JSON.stringify({ error: 'temporarily_unavailable', error_description: error.message }),
    };
  }
  return undefined;
}
