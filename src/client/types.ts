/**
 * The bodies `@latchkey/client` returns, as plain types: the package depends on nothing, not
 * even in its `.d.ts`. The server's schemas (src/http/responses.ts) stay the one home of each
 * shape: test/client-types.test.ts fails to compile when one of these drifts from them.
 */

/** Login, MFA login, refresh and step-up answer this (API.md, Tokens). */
export interface TokenPair {
  access_token: string;
  /** `DPoP` when the tokens are bound to the client's key (RFC 9449): send them with a proof. */
  token_type: 'Bearer' | 'DPoP';
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
  /** The session's tokens are bound to a key the device holds (DPoP, RFC 9449). */
  key_bound: boolean;
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
 * What an RFC 9470 step-up challenge asks for: `acrValues` `"aal2"` (a TOTP code or a passkey)
 * and/or a sign-in at most `maxAge` seconds old (a code, a passkey or the password).
 */
export interface StepUpChallenge {
  acrValues?: string;
  maxAge?: number;
}

/**
 * A step-up factor: a TOTP code or a passkey (`acr` aal2), or the password (aal1, a fresh
 * `auth_time` only). A passkey answers the options of `stepUpPasskeyOptions()`.
 */
export type StepUpFactor = { code: string } | { password: string } | { passkey: PasskeyAssertion };

/** The second factor of an MFA login or a password reset. */
export type SecondFactor = { code: string } | { recoveryCode: string };

/** The second step of an MFA login: a code, or a passkey answering `loginMfaPasskeyOptions(mfa_token)`. */
export type LoginSecondFactor = SecondFactor | { passkey: PasskeyAssertion };

/**
 * One of the user's passkeys (never its public key). `multiDevice`: synced between devices by
 * a keychain; `singleDevice`: bound to one authenticator.
 */
export interface Passkey {
  id: string;
  name: string;
  device_type: 'singleDevice' | 'multiDevice';
  backed_up: boolean;
  transports: string[];
  /** The authenticator model's AAGUID (zeros when it hides it). */
  aaguid: string;
  created_at: string;
  last_used_at: string | null;
}

/*
 * The WebAuthn ceremonies' JSON (W3C WebAuthn Level 3, §5.1.10 and §5.4–5.5): the options as
 * the server sends them, and the credentials as `PublicKeyCredential.toJSON()` and
 * @simplewebauthn/browser give them. Binary values are base64url strings. The options are
 * what `startRegistration({ optionsJSON })` / `startAuthentication({ optionsJSON })` take, and
 * what they resolve with goes to the client as it is (test/client-types.test.ts checks both
 * ways at compile time, with no import here).
 */

export type PasskeyTransport = 'ble' | 'cable' | 'hybrid' | 'internal' | 'nfc' | 'smart-card' | 'usb';

/** A credential the options name (`allowCredentials`, `excludeCredentials`). */
export interface PasskeyDescriptor {
  id: string;
  type: 'public-key';
  transports?: PasskeyTransport[];
}

type UserVerification = 'required' | 'preferred' | 'discouraged';

/** `PublicKeyCredentialCreationOptionsJSON`: for navigator.credentials.create(). */
export interface PasskeyCreationOptions {
  challenge: string;
  rp: { id?: string; name: string };
  user: { id: string; name: string; displayName: string };
  pubKeyCredParams: { type: 'public-key'; alg: number }[];
  timeout?: number;
  excludeCredentials?: PasskeyDescriptor[];
  authenticatorSelection?: {
    authenticatorAttachment?: 'platform' | 'cross-platform';
    residentKey?: 'required' | 'preferred' | 'discouraged';
    requireResidentKey?: boolean;
    userVerification?: UserVerification;
  };
  attestation?: 'none' | 'indirect' | 'direct' | 'enterprise';
}

/** `PublicKeyCredentialRequestOptionsJSON`: for navigator.credentials.get(). */
export interface PasskeyRequestOptions {
  challenge: string;
  rpId?: string;
  timeout?: number;
  /** Empty for a sign-in: the browser offers the passkeys it holds (a discoverable credential). */
  allowCredentials?: PasskeyDescriptor[];
  userVerification?: UserVerification;
}

/** `RegistrationResponseJSON`: what navigator.credentials.create() made, as JSON. */
export interface PasskeyRegistration {
  id: string;
  rawId: string;
  type: 'public-key';
  response: {
    clientDataJSON: string;
    attestationObject: string;
    authenticatorData?: string;
    transports?: PasskeyTransport[];
    publicKeyAlgorithm?: number;
    publicKey?: string;
  };
  authenticatorAttachment?: 'platform' | 'cross-platform';
}

/** `AuthenticationResponseJSON`: what navigator.credentials.get() gave, as JSON. */
export interface PasskeyAssertion {
  id: string;
  rawId: string;
  type: 'public-key';
  response: {
    clientDataJSON: string;
    authenticatorData: string;
    signature: string;
    userHandle?: string;
  };
  authenticatorAttachment?: 'platform' | 'cross-platform';
}
