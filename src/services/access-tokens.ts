import { base64url, errors, jwtVerify, SignJWT } from 'jose';
import { AuthError } from '../domain/errors.js';
import { toEpochSeconds } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import type { AuthenticatorAssurance, SessionGrant } from '../ports/store.js';
import { type KeyRing, SIGNING_ALGORITHMS } from './key-ring.js';

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
}

export interface AccessTokens {
  issue(grant: SessionGrant): Promise<{ token: string; expiresIn: number }>;
  /** Verifies signature, `typ`, issuer, audience, expiry and claim shapes; throws `invalid_token`. */
  verify(token: string): Promise<AccessTokenClaims>;
}

export const ACCESS_TOKEN_TYPE = 'at+jwt'; // RFC 9068 §2.1

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)$/;

/**
 * RFC 7515 §2, §7.1: base64url without padding, so a JWS has one spelling. Lenient decoders
 * forgive padding and non-zero spare bits in the last character, which would give one token
 * ~32 spellings: trouble for anything keyed on the token string (caches, denylists, logs).
 */
function isCanonicalCompactJws(token: string): boolean {
  const signature = token.match(COMPACT_JWS)?.[1];
  if (!signature) return false;
  try {
    return base64url.encode(base64url.decode(signature)) === signature;
  } catch {
    return false;
  }
}

const REQUIRED_CLAIMS = [
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'jti',
  'client_id',
  'sid',
  'auth_time',
  'acr',
  'amr',
];

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
    payload.amr.every((value) => typeof value === 'string')
  );
}

export function createAccessTokens(options: {
  keyRing: KeyRing;
  clock: Clock;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}): AccessTokens {
  const { keyRing, clock, issuer, audience, ttlSeconds } = options;
  return {
    async issue(grant) {
      const { kid, alg, key } = await keyRing.signingKey();
      const iat = toEpochSeconds(clock.now());
      const token = await new SignJWT({
        client_id: grant.clientId,
        sid: grant.sessionId,
        auth_time: toEpochSeconds(grant.authTime),
        acr: grant.acr,
        amr: grant.amr,
      })
        .setProtectedHeader({ alg, typ: ACCESS_TOKEN_TYPE, kid })
        .setIssuer(issuer)
        .setSubject(grant.userId)
        .setAudience(audience)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSeconds)
        .setJti(crypto.randomUUID())
        .sign(key);
      return { token, expiresIn: ttlSeconds };
    },

    async verify(token) {
      if (!isCanonicalCompactJws(token)) throw new AuthError('invalid_token', 'The access token is invalid');
      try {
        // RFC 8725 §3.1, §3.11 and RFC 9068 §4: pin algorithms, type, issuer and audience.
        const { payload } = await jwtVerify(
          token,
          async (header) => {
            const key = await keyRing.verificationKey(header);
            if (!key) throw new errors.JWKSNoMatchingKey();
            return key;
          },
          {
            algorithms: [...SIGNING_ALGORITHMS],
            typ: ACCESS_TOKEN_TYPE,
            issuer,
            audience,
            currentDate: clock.now(),
            clockTolerance: 5,
            requiredClaims: REQUIRED_CLAIMS,
          },
        );
        if (!hasClaimShapes(payload)) throw new AuthError('invalid_token', 'The access token is malformed');
        return payload;
      } catch (error) {
        if (error instanceof AuthError) throw error;
        const expired = error instanceof errors.JWTExpired;
        throw new AuthError(
          'invalid_token',
          expired ? 'The access token expired' : 'The access token is invalid',
        );
      }
    },
  };
}
