import type { DpopPolicy } from '../domain/dpop.js';
import { AuthError } from '../domain/errors.js';
import type { BindingPolicy } from '../domain/session-binding.js';
import type { SessionLimitPolicy, SessionPolicy } from '../domain/session-policy.js';
import type { Clock } from '../ports/clock.js';
import type { NewEmailToken } from '../ports/email-tokens.js';
import type { PasskeyStore } from '../ports/passkey-store.js';
import type { PasswordHasher } from '../ports/password-hasher.js';
import type { LimitPolicy, RateLimiter } from '../ports/rate-limiter.js';
import type { LoginStore, MfaStore, SecurityEventLog, SessionStore, UserStore } from '../ports/store.js';
import type { AccessTokens } from './access-tokens.js';
import type { LimitKeys } from './attempt-limits.js';

/** What the login, held-login and refresh flows share: dependencies, constants and errors. */

export const DEFAULT_CLIENT_ID = 'default';

/** An `mfa_token` lives 5 minutes and dies after 5 wrong codes (API.md, Abuse limits). */
export const MFA_TOKEN_TTL_MS = 5 * 60 * 1000;
export const MFA_TOKEN_MAX_ATTEMPTS = 5;

export interface AuthServiceDeps {
  /** Accounts, sessions and events, and the one MFA write of a login: its challenge. */
  store: UserStore &
    SessionStore &
    LoginStore &
    SecurityEventLog &
    Pick<MfaStore, 'createMfaChallenge'> &
    Pick<PasskeyStore, 'listPasskeys'>;
  hasher: PasswordHasher;
  clock: Clock;
  accessTokens: AccessTokens;
  refreshSuccessorKey: CryptoKey;
  sessionPolicy: SessionPolicy;
  reuseGraceMs: number;
  /** Verified when the email is unknown, so both failures cost one argon2id verification. */
  dummyPasswordHash: Promise<string>;
  rateLimiter: RateLimiter;
  passwordMinScore: number;
  loginLimits: { perAccount: LimitPolicy; perIp: LimitPolicy; anywhere: LimitPolicy };
  keys: LimitKeys;
  /** Registrations per IP (every attempt counts) and failed refreshes per IP. */
  registerLimit: LimitPolicy;
  refreshFailureLimit: LimitPolicy;
  /** At the session limit: revoke the least recently active (`evict`) or ask (`reject`). */
  sessionLimitPolicy?: SessionLimitPolicy;
  /** Optional binding of a session to its network and browser family (SESSION_BINDING). */
  sessionBinding?: BindingPolicy;
  /** RFC 9449: a client's DPoP policy (DPOP_CLIENTS, DPOP_POLICY); `optional` for all without it. */
  dpopPolicy?: (clientId: string) => DpopPolicy;
  /**
   * Issue #17: a new account gets a verification link (`verificationFor`, written with the
   * account); `required` (REQUIRE_EMAIL_VERIFICATION) refuses the login of an unverified one.
   */
  emailVerification?: {
    required: boolean;
    verificationFor?: (user: { id: string; email: string }, now: Date) => Promise<NewEmailToken>;
  };
}

export const invalidCredentials = () =>
  new AuthError('invalid_credentials', 'The email or password is incorrect');
export const emailNotVerified = () =>
  new AuthError(
    'email_not_verified',
    'Confirm your email address first: use the link we sent, or ask for a new one',
  );
export const accountDisabled = () =>
  new AuthError('account_disabled', 'This account has been disabled by an administrator');
