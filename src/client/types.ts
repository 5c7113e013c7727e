/**
 * The bodies `@latchkey/client` returns, as plain types: the package depends on nothing, not
 * even in its `.d.ts`. The server's schemas (src/http/responses.ts) stay the one home of each
 * shape: test/client-types.test.ts fails to compile when one of these drifts from them.
 */

/** Login, MFA login, refresh and step-up answer this (API.md, Tokens). */
export interface TokenPair {
  access_token: string;
  token_type: 'Bearer';
  /** Seconds. */
  expires_in: number;
  /** Absent with cookie delivery: the browser holds it in an HttpOnly cookie. */
  refresh_token?: string;
  /** Seconds until the session ends unless refreshed; never past its absolute end. */
  refresh_token_expires_in: number;
  session_id: string;
}

/** A login of an account with MFA: finish it with `loginMfa(mfa_token, …)`. */
export interface MfaRequired {
  mfa_required: true;
  mfa_token: string;
  methods: ('totp' | 'recovery_code' | 'passkey')[];
}

/** The account `register` created. Times are ISO 8601 UTC strings. */
export interface RegisteredUser {
  id: string;
  email: string;
  name: string | null;
  created_at: string;
}

/** The signed-in user. */
export interface Me {
  id: string;
  email: string;
  name: string | null;
  email_verified: boolean;
  mfa_enabled: boolean;
  created_at: string;
}

/** One signed-in device. */
export interface Session {
  id: string;
  device_name: string | null;
  ip_address: string | null;
  user_agent: string | null;
  location: string | null;
  created_at: string;
  last_active_at: string;
  expires_at: string;
  /** The session this client is signed in with. */
  current: boolean;
  remembered: boolean;
  acr: 'aal1' | 'aal2';
}

export interface SecurityEvent {
  id: string;
  type: string;
  created_at: string;
  session_id: string | null;
  ip_address: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
}

/** A page of the account's security activity, newest first; `next_cursor` for the next page. */
export interface SecurityEvents {
  events: SecurityEvent[];
  next_cursor: string | null;
}

/** The answer of a verification or a confirmed change: the address the account has now. */
export interface EmailVerified {
  email: string;
  email_verified: true;
}

/** A reverted change: the address put back, and how many sessions were signed out. */
export interface EmailChangeReverted extends EmailVerified {
  revoked_sessions: number;
}

/** A requested change: nothing changes until the link sent to `pending_email` is used. */
export interface EmailChangePending {
  status: 'confirmation_sent';
  pending_email: string;
}

/** A pending TOTP factor: show `qr_svg` (or `otpauth_uri`, or `secret` to type in), then `activateTotp`. */
export interface TotpEnrollment {
  secret: string;
  otpauth_uri: string;
  /** An SVG document of the QR code of `otpauth_uri`. */
  qr_svg: string;
}

/**
 * What an RFC 9470 step-up challenge asks for: `acrValues` `"aal2"` (a TOTP code) and/or a
 * sign-in at most `maxAge` seconds old (a code or the password).
 */
export interface StepUpChallenge {
  acrValues?: string;
  maxAge?: number;
}

/** A step-up factor: a TOTP code (`acr` aal2) or the password (aal1, a fresh `auth_time` only). */
export type StepUpFactor = { code: string } | { password: string };

/** The second factor of an MFA login or a password reset. */
export type SecondFactor = { code: string } | { recoveryCode: string };
