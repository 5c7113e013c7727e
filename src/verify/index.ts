/**
 * `latchkey/verify`: what a resource server needs to trust Latchkey access tokens offline.
 * See packages/verify/README.md.
 */
export type { AssuranceRequirement, AuthenticatorAssurance } from '../domain/assurance.js';
export { checkAssurance } from '../domain/assurance.js';
export { BearerError, type BearerErrorCode, bearerToken } from '../domain/bearer.js';
export {
  ACCESS_TOKEN_TYPE,
  type AccessTokenClaims,
  SIGNING_ALGORITHMS,
  type SigningAlgorithm,
} from './claims.js';
export {
  type DpopOptions,
  type DpopReplayCache,
  MemoryDpopReplayCache,
  type MemoryDpopReplayCacheOptions,
  type RequestLike,
} from './dpop.js';
export { authenticateRequest, type ErrorResponse, errorResponseFor } from './http.js';
export type { FetchLike } from './revocation-feed.js';
export { createVerifier, type Verifier, type VerifierOptions, VerifierUnavailableError } from './verifier.js';
