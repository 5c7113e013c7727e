import { errors } from 'jose';
import { ACCESS_TOKEN_TYPE, type AccessTokenClaims, verifyAccessToken } from '../domain/access-token.js';
import { compactJws } from '../lib/crypto.js';
import { toEpochSeconds } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import type { SessionGrant } from '../ports/store.js';
import type { KeyRing } from './key-ring.js';

export type { AccessTokenClaims };

export interface AccessTokens {
  /** `expiresAt`: when the session's refresh token ends; the access token never outlives it. */
  issue(
    grant: SessionGrant & { expiresAt: Date; emailVerified: boolean },
  ): Promise<{ token: string; expiresIn: number }>;
  /** Verifies signature, `typ`, issuer, audience, expiry and claim shapes; throws `invalid_token`. */
  verify(token: string): Promise<AccessTokenClaims>;
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
      // Never past the session's absolute end (the refresh token's expiry is capped by it):
      // an access token must not keep a session alive that has ended (issue #15 §8).
      const exp = Math.min(iat + ttlSeconds, Math.floor(grant.expiresAt.getTime() / 1000));
      // RFC 9068 §2.2: the claims of a JWT access token, plus sid and client_id.
      const token = await compactJws(
        alg,
        key,
        { alg, typ: ACCESS_TOKEN_TYPE, kid },
        {
          iss: issuer,
          sub: grant.userId,
          aud: audience,
          iat,
          exp,
          jti: crypto.randomUUID(),
          client_id: grant.clientId,
          sid: grant.sessionId,
          auth_time: toEpochSeconds(grant.authTime),
          acr: grant.acr,
          amr: grant.amr,
          email_verified: grant.emailVerified,
          // RFC 9449 §6.1: the key the token is bound to; its holder must prove it at each use.
          ...(grant.dpopJkt ? { cnf: { jkt: grant.dpopJkt } } : {}),
        },
      );
      return { token, expiresIn: Math.max(0, exp - iat) };
    },

    verify(token) {
      return verifyAccessToken(
        token,
        async (header) => {
          const key = await keyRing.verificationKey(header);
          if (!key) throw new errors.JWKSNoMatchingKey();
          return key;
        },
        { issuer, audience },
        clock.now(),
      );
    },
  };
}
