import { base64url, type CryptoKey, errors, type JWTHeaderParameters } from 'jose';
import { verifyJwsSignature } from '../lib/crypto.js';
import type { AuthenticatorAssurance } from './assurance.js';
import { type TokenRefusal, tokenRefused } from './bearer.js';

/**
 * What makes a Latchkey access token valid, in one place for the server (services/access-tokens)
 * and for the resource-server kit (`latchkey/verify`, which re-exports it from src/verify/claims.ts).
 */

/** RFC 9068 §2.2 claims, plus `sid` and the RFC 9470 / OIDC `auth_time`, `acr`, `amr`. */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  sid: string;
  auth_time: number;
  acr: AuthenticatorAssurance;
  amr: string[];
  /**
   * OIDC Core §5.1: the user proved they read mail at their address (issue #17). Every token
   * Latchkey issues carries it; optional in the type so that a resource server upgraded before
   * its auth server still accepts the tokens of the older one.
   */
  email_verified?: boolean;
  /**
   * RFC 9449 §6.1 confirmation: the SHA-256 thumbprint (RFC 7638) of the key the token is
   * bound to. A bound token is accepted only as `Authorization: DPoP` with a proof by that key.
   */
  cnf?: { jkt: string };
}

export type SigningAlgorithm = 'EdDSA' | 'ES256';

/** The algorithms Latchkey signs with; nothing else is ever accepted (RFC 8725 §3.1). */
export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ['EdDSA', 'ES256'];

export const ACCESS_TOKEN_TYPE = 'at+jwt'; // RFC 9068 §2.1

/** Seconds of clock skew allowed on `exp` unless a verifier says otherwise. */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * RFC 7515 §2, §7.1: base64url without padding, so a JWS has one spelling. Lenient decoders
 * forgive non-zero spare bits in the signature's last character, which would give one token
 * several spellings: trouble for anything keyed on the token string (caches, denylists, logs).
 * The header and payload cannot be respelled: the signature covers their exact text.
 * Constant time in the signature's length: no decoding.
 */
export function isCanonicalCompactJws(token: string): boolean {
  if (!COMPACT_JWS.test(token)) return false;
  const signatureLength = token.length - token.lastIndexOf('.') - 1;
  const spareBits = { 0: 0, 1: -1, 2: 4, 3: 2 }[(signatureLength % 4) as 0 | 1 | 2 | 3];
  if (spareBits < 0) return false;
  const last = BASE64URL.indexOf(token[token.length - 1]!);
  return (last & ((1 << spareBits) - 1)) === 0;
}

function hasClaimShapes(
  payload: Record<string, unknown>,
): payload is Record<string, unknown> & AccessTokenClaims {
  return (
    typeof payload.sub === 'string' &&
    typeof payload.sid === 'string' &&
    typeof payload.jti === 'string' &&
    typeof payload.client_id === 'string' &&
    typeof payload.auth_time === 'number' &&
    (payload.acr === 'aal1' || payload.acr === 'aal2') &&
    Array.isArray(payload.amr) &&
    payload.amr.every((value) => typeof value === 'string') &&
    (payload.email_verified === undefined || typeof payload.email_verified === 'boolean') &&
    (payload.cnf === undefined ||
      (typeof payload.cnf === 'object' &&
        payload.cnf !== null &&
        typeof (payload.cnf as { jkt?: unknown }).jkt === 'string'))
  );
}

export type KeyResolver = (header: Pick<JWTHeaderParameters, 'kid' | 'alg'>) => Promise<CryptoKey>;

export interface AccessTokenRules {
  issuer: string;
  audience: string | string[];
  algorithms?: readonly SigningAlgorithm[];
  clockToleranceSeconds?: number;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });
const textEncoder = new TextEncoder();

/** UTF-8 bytes holding a JSON object; undefined for anything else. */
export function jsonObjectOfBytes(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(textDecoder.decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A base64url segment holding a JSON object (RFC 7515 §7.1); undefined for anything else. */
export function jsonObjectOf(segment: string): Record<string, unknown> | undefined {
  try {
    return jsonObjectOfBytes(base64url.decode(segment));
  } catch {
    return undefined;
  }
}

/** RFC 8725 §3.11 explicit typing; media types compare without case and "application/" (RFC 7515 §4.1.9). */
const isAccessTokenType = (typ: unknown) =>
  typeof typ === 'string' && typ.toLowerCase().replace(/^application\//, '') === ACCESS_TOKEN_TYPE;

const hasAudience = (aud: unknown, accepted: string | string[]) => {
  const wanted = typeof accepted === 'string' ? [accepted] : accepted;
  if (typeof aud === 'string') return wanted.includes(aud);
  return (
    Array.isArray(aud) &&
    aud.every((item) => typeof item === 'string') &&
    aud.some((item) => wanted.includes(item))
  );
};

const isNumericDate = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value);

/**
 * Verifies a Latchkey access token (a compact JWS, RFC 7515 §7.1):
 * - one canonical spelling (see isCanonicalCompactJws);
 * - a protected header that is a JSON object with `alg` among the pinned algorithms
 *   (RFC 8725 §3.1), `typ` at+jwt (RFC 9068 §4, RFC 8725 §3.11), and no `crit` or `b64`: we
 *   understand no extension, so a token that needs one is refused (RFC 7515 §4.1.11);
 * - a signature by the key the resolver gives for the header's `kid` and `alg`, which must be
 *   a key of that algorithm (`jwk`, `jku`, `x5u`, `x5c` are never looked at);
 * - claims: `iss`, `aud`, `exp` (with the clock tolerance), `nbf` when present, `iat`, and the
 *   claims every Latchkey token carries, with their types.
 * The signature check is src/lib/crypto.ts `verifyJwsSignature`; keys come from jose (JWKS fetch, cache,
 * `kid` selection, import). Throws `BearerError('invalid_token')`; errors of the resolver
 * other than "no such key" (a JWKS that cannot be fetched, say) pass through. Each refusal names
 * its check in `reason` (domain/bearer.ts TOKEN_REFUSALS), for the server's metrics.
 */
export async function verifyAccessToken(
  token: string,
  resolveKey: KeyResolver,
  rules: AccessTokenRules,
  now: Date,
): Promise<AccessTokenClaims> {
  const invalid = (reason: TokenRefusal, description = 'The access token is invalid') =>
    tokenRefused(reason, description);
  if (!isCanonicalCompactJws(token)) throw invalid('malformed');
  const headerEnd = token.indexOf('.');
  const payloadEnd = token.lastIndexOf('.');
  const header = jsonObjectOf(token.slice(0, headerEnd));
  if (!header) throw invalid('malformed');
  const alg = header.alg as SigningAlgorithm;
  if (!(rules.algorithms ?? SIGNING_ALGORITHMS).includes(alg)) throw invalid('wrong_algorithm');
  if (!isAccessTokenType(header.typ)) throw invalid('wrong_type');
  if ('crit' in header || 'b64' in header || (header.kid !== undefined && typeof header.kid !== 'string')) {
    throw invalid('malformed');
  }

  let key: CryptoKey;
  try {
    key = await resolveKey(header as Pick<JWTHeaderParameters, 'kid' | 'alg'>);
  } catch (error) {
    if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
      throw invalid('unknown_key');
    throw error;
  }
  const signed = await verifyJwsSignature(
    alg,
    key,
    textEncoder.encode(token.slice(0, payloadEnd)),
    base64url.decode(token.slice(payloadEnd + 1)) as Uint8Array<ArrayBuffer>, // a fresh array, never shared
  );
  if (!signed) throw invalid('bad_signature');

  const claims = jsonObjectOf(token.slice(headerEnd + 1, payloadEnd));
  if (!claims) throw invalid('malformed');
  if (claims.iss !== rules.issuer) throw invalid('wrong_issuer');
  if (!hasAudience(claims.aud, rules.audience)) throw invalid('wrong_audience');
  if (!isNumericDate(claims.exp) || !isNumericDate(claims.iat)) throw invalid('malformed');
  if (claims.nbf !== undefined && !isNumericDate(claims.nbf)) throw invalid('malformed');
  const tolerance = rules.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  const nowSeconds = Math.floor(now.getTime() / 1000);
  if (claims.exp <= nowSeconds - tolerance) throw invalid('expired', 'The access token expired');
  if (claims.nbf !== undefined && (claims.nbf as number) > nowSeconds + tolerance)
    throw invalid('not_yet_valid');
  if (!hasClaimShapes(claims)) throw invalid('malformed', 'The access token is malformed');
  return claims;
}
