import type { AssuranceRequirement } from '../domain/assurance.js';
import { authorizeBearer, BearerError } from '../domain/bearer.js';
import type { AccessTokenClaims } from './claims.js';
import { type Verifier, VerifierUnavailableError } from './verifier.js';

/**
 * Framework-free helpers: any server (Express, Fastify, `node:http`) hands in the
 * `Authorization` header and turns a refusal into a response with `errorResponseFor`.
 */

/** The claims of the request's Bearer token, if it meets `need` (RFC 9470); throws `BearerError`. */
export async function authenticateRequest(
  verifier: Verifier,
  authorization: string | string[] | null | undefined,
  need: AssuranceRequirement = {},
): Promise<Readonly<AccessTokenClaims>> {
  const { claims } = await authorizeBearer({
    authorization: Array.isArray(authorization) ? undefined : authorization,
    authenticate: verifier.verify,
    need,
    now: verifier.now,
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
 * challenge and the JSON error Latchkey itself answers with; 503 when keys could not be
 * fetched. Undefined for any other error (yours to handle).
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
