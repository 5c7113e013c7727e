import type { DeviceInfo, RequestOrigin } from '../ports/store.js';

/** What the HTTP layer sends back for a login, an MFA login, a refresh or a step-up. */
export interface IssuedTokens {
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  refreshTokenExpiresIn: number;
  sessionId: string;
  remembered: boolean;
  /** RFC 9449 §5: `DPoP` when the access token is bound to a key (`cnf.jkt`), else `Bearer`. */
  tokenType: 'Bearer' | 'DPoP';
}

/**
 * The request facts every flow records: client IP, user agent and trusted location, and the
 * country (ISO 3166-1 alpha-2) when a trusted edge tells it; and on a token request, the
 * key its DPoP proof was signed with (RFC 9449 §5, checked by the HTTP layer with
 * services/dpop.ts), to which a new session is bound.
 */
export type RequestDevice = DeviceInfo & RequestOrigin & { country?: string | null; dpopJkt?: string | null };

export type Delivery = 'body' | 'cookie';

export type SecondFactorMethod = 'totp' | 'recovery_code' | 'passkey';

/** A password login of a user with MFA: the second step is `POST /v1/auth/login/mfa`. */
export interface MfaRequired {
  mfaRequired: true;
  mfaToken: string;
  /** The second factors the account has: `totp` and `recovery_code`, and `passkey` when it has one. */
  methods: SecondFactorMethod[];
}

/**
 * SESSION_LIMIT_POLICY=reject: the login is held, with the user's live sessions and a
 * `limit_token` good for one thing, for 5 minutes: revoking one of them and finishing this
 * login (AuthService.completeHeldLogin). An outcome the caller shows, not an error.
 */
export interface SessionLimitReached {
  sessionLimitReached: true;
  limitToken: string;
  message: string;
  sessions: {
    id: string;
    deviceName: string | null;
    userAgent: string | null;
    location: string | null;
    lastActiveAt: Date;
  }[];
}
