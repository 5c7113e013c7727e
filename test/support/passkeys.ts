import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { type CallOptions, call, decodeJwtPart, type Requester } from './client.js';
import {
  type AssertionOverrides,
  type RegistrationOverrides,
  SoftAuthenticator,
  type SoftAuthenticatorSettings,
} from './soft-authenticator.js';

/**
 * Passkey ceremonies over Latchkey's HTTP API with the software authenticator: the options
 * call, the authenticator's answer, and the finishing call, as a page with
 * @simplewebauthn/browser would make them. Every helper answers the raw `call` result, so
 * that tests can assert refusals as well as successes; the hostile parts are the
 * authenticator's overrides (test/support/soft-authenticator.ts).
 */

/** The test harness's ISSUER (test/support/harness.ts): the default WEBAUTHN_ORIGINS. */
export const PASSKEY_ORIGIN = 'http://localhost:3000';
/** The default WEBAUTHN_RP_ID: the ISSUER's host. */
export const PASSKEY_RP_ID = 'localhost';

export type CallResult = Awaited<ReturnType<typeof call>>;

/** An authenticator on the harness's origin: device-bound, UV capable, counting, unless told otherwise. */
export const softAuthenticator = (settings: Partial<SoftAuthenticatorSettings> = {}) =>
  new SoftAuthenticator({ origin: PASSKEY_ORIGIN, rpId: PASSKEY_RP_ID, ...settings });

/** The access token's claims, unverified (the token tests verify signatures). */
export const claimsOf = (accessToken: string) => decodeJwtPart(accessToken, 1);

/** POST /v1/passkeys/registration/options. */
export const registrationOptions = (app: Requester, token: string, headers: Record<string, string> = {}) =>
  call(app, '/v1/passkeys/registration/options', { method: 'POST', token, headers });

/** POST /v1/passkeys with a registration response (hostile or not). */
export const finishRegistration = (
  app: Requester,
  token: string,
  response: RegistrationResponseJSON,
  name?: string,
) => call(app, '/v1/passkeys', { body: { response, ...(name === undefined ? {} : { name }) }, token });

/**
 * A whole registration: options, navigator.credentials.create() with `authenticator`, the
 * finishing call. Throws when the options are refused (the caller asserts the finish).
 */
export async function addPasskey(
  app: Requester,
  token: string,
  authenticator: SoftAuthenticator,
  options: { name?: string; overrides?: RegistrationOverrides } = {},
): Promise<CallResult & { response: RegistrationResponseJSON }> {
  const created = await registrationOptions(app, token);
  if (created.status !== 200)
    throw new Error(`registration options: ${created.status} ${JSON.stringify(created.json)}`);
  const response = await authenticator.register(
    created.json as PublicKeyCredentialCreationOptionsJSON,
    options.overrides,
  );
  return { ...(await finishRegistration(app, token, response, options.name)), response };
}

/** The contract's passkey JSON (docs/API.md, Passkeys). */
export interface PasskeyJson {
  id: string;
  name: string;
  device_type: 'singleDevice' | 'multiDevice';
  backed_up: boolean;
  transports: string[];
  aaguid: string;
  created_at: string;
  last_used_at: string | null;
}

/** A registration that must succeed: the new passkey's JSON. */
export async function registerPasskey(
  app: Requester,
  token: string,
  authenticator: SoftAuthenticator,
  options: { name?: string; overrides?: RegistrationOverrides } = {},
): Promise<PasskeyJson> {
  const res = await addPasskey(app, token, authenticator, options);
  if (res.status !== 201) throw new Error(`passkey registration: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json;
}

/** POST /v1/auth/passkey/options: a discoverable sign-in's options. */
export const signInOptions = (app: Requester, headers: Record<string, string> = {}) =>
  call(app, '/v1/auth/passkey/options', { method: 'POST', headers });

/** Answers request options with `authenticator`; throws when the options call failed. */
export async function assertion(
  options: CallResult,
  authenticator: SoftAuthenticator,
  overrides: AssertionOverrides = {},
): Promise<AuthenticationResponseJSON> {
  if (options.status !== 200)
    throw new Error(`passkey options: ${options.status} ${JSON.stringify(options.json)}`);
  return authenticator.authenticate(options.json as PublicKeyCredentialRequestOptionsJSON, overrides);
}

/** POST /v1/auth/passkey with an assertion and the rest of the body (device_name, delivery, …). */
export const finishSignIn = (
  app: Requester,
  response: AuthenticationResponseJSON,
  body: Record<string, unknown> = {},
  options: Pick<CallOptions, 'headers'> = {},
) => call(app, '/v1/auth/passkey', { body: { response, ...body }, ...options });

/** A whole discoverable sign-in: options, navigator.credentials.get(), POST /v1/auth/passkey. */
export async function signInWithPasskey(
  app: Requester,
  authenticator: SoftAuthenticator,
  options: {
    overrides?: AssertionOverrides;
    body?: Record<string, unknown>;
    headers?: Record<string, string>;
  } = {},
): Promise<CallResult & { response: AuthenticationResponseJSON }> {
  const response = await assertion(
    await signInOptions(app, options.headers),
    authenticator,
    options.overrides,
  );
  return {
    ...(await finishSignIn(app, response, options.body, { headers: options.headers ?? {} })),
    response,
  };
}

/** POST /v1/auth/login/mfa/passkey-options for an `mfa_token`. */
export const secondFactorOptions = (app: Requester, mfaToken: string) =>
  call(app, '/v1/auth/login/mfa/passkey-options', { body: { mfa_token: mfaToken } });

/** POST /v1/auth/login/mfa with a passkey. */
export const finishSecondFactor = (app: Requester, mfaToken: string, response: AuthenticationResponseJSON) =>
  call(app, '/v1/auth/login/mfa', { body: { mfa_token: mfaToken, passkey: response } });

/** The second step of an MFA login with a passkey: options for the token, get(), /login/mfa. */
export async function secondFactorWithPasskey(
  app: Requester,
  mfaToken: string,
  authenticator: SoftAuthenticator,
  overrides: AssertionOverrides = {},
): Promise<CallResult & { response: AuthenticationResponseJSON }> {
  const response = await assertion(await secondFactorOptions(app, mfaToken), authenticator, overrides);
  return { ...(await finishSecondFactor(app, mfaToken, response)), response };
}

/** POST /v1/auth/step-up/passkey-options for the session of `token`. */
export const stepUpOptions = (app: Requester, token: string) =>
  call(app, '/v1/auth/step-up/passkey-options', { method: 'POST', token });

/** POST /v1/auth/step-up with a passkey. */
export const finishStepUp = (app: Requester, token: string, response: AuthenticationResponseJSON) =>
  call(app, '/v1/auth/step-up', { body: { passkey: response }, token });

/** A step-up of the session of `token` with a passkey: options, get(), /step-up. */
export async function stepUpWithPasskey(
  app: Requester,
  token: string,
  authenticator: SoftAuthenticator,
  overrides: AssertionOverrides = {},
): Promise<CallResult & { response: AuthenticationResponseJSON }> {
  const response = await assertion(await stepUpOptions(app, token), authenticator, overrides);
  return { ...(await finishStepUp(app, token, response)), response };
}

/**
 * Request options with `allowCredentials` emptied: what a hostile client does to have a
 * credential the options did not list sign (the authenticator then picks among all it holds).
 */
export const withoutAllowList = (options: CallResult): CallResult => ({
  ...options,
  json: { ...options.json, allowCredentials: [] },
});
