/**
 * Every failure a client can see has a stable snake_case code. The HTTP layer maps codes
 * to statuses in one place (`src/http/errors.ts`); messages never carry a token, hash,
 * code or secret.
 */
export type AuthErrorCode =
  | 'invalid_request'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'invalid_credentials'
  /** A password or code re-entered on a Bearer route (password change, step-up): 403, the token is fine. */
  | 'wrong_password'
  | 'wrong_code'
  /** A wrong code on the MFA login (API.md: 401 invalid_code). */
  | 'invalid_code'
  | 'invalid_mfa_token'
  | 'mfa_already_enabled'
  | 'mfa_not_enabled'
  | 'invalid_password'
  | 'email_taken'
  | 'invalid_grant'
  /** RFC 6749 §5.2, on the /oauth endpoints. */
  | 'invalid_client'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'refresh_token_reused'
  | 'invalid_token'
  /** RFC 9449 §5, §7.1: a DPoP proof missing where required, invalid, replayed, or by another key. 400 at the token endpoints, 401 on resource routes. */
  | 'invalid_dpop_proof'
  /** RFC 9449 §8, §9: the proof must carry the nonce this server hands out in `DPoP-Nonce`. */
  | 'use_dpop_nonce'
  | 'insufficient_user_authentication'
  | 'invalid_origin'
  | 'not_found'
  | 'rate_limited'
  /** SESSION_LIMIT_POLICY=reject: the body lists the sessions and carries a `limit_token`. */
  | 'session_limit_reached'
  | 'invalid_limit_token'
  /** A token from an email link (password reset): unknown, expired, used, forged or truncated. 400. */
  | 'invalid_email_token'
  /** A password reset of an account with TOTP, sent without a code or recovery code: 403. */
  | 'mfa_required'
  /** The password was right, but an admin disabled the account: 403, after the check only. */
  | 'account_disabled'
  /** REQUIRE_EMAIL_VERIFICATION: the right password, but the address was never verified. */
  | 'email_not_verified'
  /** A webhook delivery that cannot be replayed: only a failed one can. 409. */
  | 'delivery_not_replayable'
  /** An admin action a disabled user cannot take part in (a reset link): 409, enable first. */
  | 'user_disabled'
  /** An outbox message that cannot be retried: not failed, or its body erased. 409. */
  | 'mail_not_retryable'
  /** Passkeys (issue #20): a sign-in or second-factor assertion that was not accepted. 401. */
  | 'invalid_passkey'
  /** A step-up assertion that was not accepted (the session itself is fine, as `wrong_code`). 403. */
  | 'wrong_passkey'
  /** A registration response that was not accepted (challenge, origin, RP ID, signature). 400. */
  | 'passkey_not_accepted'
  /** The credential is registered already (to this account or another). 409. */
  | 'passkey_exists'
  /** The account holds the most passkeys it may (PASSKEYS_PER_USER). 409. */
  | 'passkey_limit_reached'
  /** A valid token without the rights the route needs (the admin API for a non-admin). */
  | 'forbidden'
  | 'temporarily_unavailable'
  | 'server_error';

/** RFC 9470 §3 challenge parameters, for `insufficient_user_authentication`. */
export interface StepUpChallenge {
  acrValues?: string;
  maxAge?: number;
}

export interface AuthErrorOptions {
  /** RFC 9470 step-up parameters, for `insufficient_user_authentication`. */
  challenge?: StepUpChallenge;
  /** For `rate_limited`: seconds until the caller may try again (`Retry-After`). */
  retryAfterSeconds?: number;
  /** For `invalid_code` on the MFA login: the tries its mfa_token has left (0: log in again). */
  attemptsLeft?: number;
  /** More fields for the JSON body, set by the HTTP layer (the session list of `session_limit_reached`). */
  extra?: Record<string, unknown>;
}

export class AuthError extends Error {
  readonly challenge?: StepUpChallenge;
  readonly retryAfterSeconds?: number;
  readonly attemptsLeft?: number;
  readonly extra?: Record<string, unknown>;

  constructor(
    readonly code: AuthErrorCode,
    readonly description: string,
    options: AuthErrorOptions = {},
  ) {
    super(description);
    this.name = 'AuthError';
    if (options.challenge !== undefined) this.challenge = options.challenge;
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
    if (options.attemptsLeft !== undefined) this.attemptsLeft = options.attemptsLeft;
    if (options.extra !== undefined) this.extra = options.extra;
  }
}
