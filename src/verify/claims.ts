/**
 * The rules of a valid Latchkey access token live in src/domain/access-token.ts, shared by the
 * server and this kit; the kit's modules import them from here.
 */
export {
  ACCESS_TOKEN_TYPE,
  type AccessTokenClaims,
  type AccessTokenRules,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  isCanonicalCompactJws,
  type KeyResolver,
  SIGNING_ALGORITHMS,
  type SigningAlgorithm,
  verifyAccessToken,
} from '../domain/access-token.js';
