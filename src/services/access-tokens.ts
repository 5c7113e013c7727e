import { errors } from 'jose';
import { compactJws } from '../lib/crypto.js';
import { toEpochSeconds } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import type { SessionGrant } from '../ports/store.js';
import { ACCESS_TOKEN_TYPE, type AccessTokenClaims, verifyAccessToken } from '../verify/claims.js';
import type { KeyRing } from './key-ring.js';

export type { AccessTokenClaims };

export interface AccessTokens {
  issue(grant: SessionGrant): Promise<{ token: string; expiresIn: number }>;
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
          exp: iat + ttlSeconds,
          jti: crypto.randomUUID(),
          client_id: grant.clientId,
          sid: grant.sessionId,
          auth_time: toEpochSeconds(grant.authTime),
          acr: grant.acr,
          amr: grant.amr,
        },
      );
      return { token, expiresIn: ttlSeconds };
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
