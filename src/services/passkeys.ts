import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type { WebAuthnConfig } from '../config/webauthn.js';
import { assuranceOf, FRESH_AAL2, FRESH_AUTH } from '../domain/assurance.js';
import { BearerError, requireAssurance } from '../domain/bearer.js';
import { AuthError } from '../domain/errors.js';
import { base64UrlDecode, base64UrlEncode, randomBytes, sha256Base64url } from '../lib/crypto.js';
import { onFirstUse } from '../lib/lazy.js';
import type { Clock } from '../ports/clock.js';
import type {
  PasskeyRecord,
  PasskeyStore,
  WebAuthnChallenge,
  WebAuthnPurpose,
} from '../ports/passkey-store.js';
import type { LimitPolicy, RateLimiter } from '../ports/rate-limiter.js';
import {
  originOf,
  type RequestOrigin,
  type SecurityEventLog,
  type UserRecord,
  type UserStore,
} from '../ports/store.js';
import { type LimitKeys, rateLimited } from './attempt-limits.js';
import { accountDisabled, DEFAULT_CLIENT_ID, emailNotVerified } from './auth-flow.js';
import type { AuthService } from './auth-service.js';
import { type Caller, callerFacts, userOfCaller } from './session-service.js';
import type { Delivery, IssuedTokens, RequestDevice, SessionLimitReached } from './types.js';

/**
 * The WebAuthn library, loaded at the first ceremony: with its ASN.1 and X.509 code it is about
 * 13 MiB of resident memory that a server whose users have no passkey never needs (issue #21).
 */
const webauthnLibrary = onFirstUse(() => import('@simplewebauthn/server'));

export type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
};

/** A ceremony's challenge lives this long (W3C WebAuthn §13.4.3 suggests the ceremony's timeout). */
export const CEREMONY_TIMEOUT_MS = 5 * 60 * 1000;
/** Passkeys one account may hold: enough for every device a person owns, a bound on the table. */
export const PASSKEYS_PER_USER = 25;
/** Challenges handed out per client network per window, before any row is written. */
export const CEREMONIES_PER_NETWORK = { points: 300, windowMs: 5 * 60 * 1000 };

/**
 * RFC 8176 `amr` of a passkey assertion, as chosen for Latchkey (README, "Passkeys"):
 * - `hwk` for a device-bound credential (not backup eligible: the key never leaves the
 *   authenticator's hardware), `swk` for a synced one (its key is copied between devices by
 *   a keychain, so we do not claim hardware);
 * - `user`: the authenticator tested user presence (the UP flag, which every accepted
 *   assertion has);
 * - `mfa` when it also verified the user (the UV flag): possession and a PIN or biometric in
 *   one step. Which of the two (`pin`, `fpt`, `face`) the authenticator used is not in the
 *   assertion, so neither is claimed.
 */
export function passkeyAmr(passkey: Pick<PasskeyRecord, 'deviceType'>, userVerified: boolean): string[] {
  return [passkey.deviceType === 'singleDevice' ? 'hwk' : 'swk', 'user', ...(userVerified ? ['mfa'] : [])];
}

export interface PasskeyServiceDeps {
  store: PasskeyStore & Pick<UserStore, 'findUserById'> & SecurityEventLog;
  clock: Clock;
  webauthn: WebAuthnConfig;
  rateLimiter: RateLimiter;
  keys: LimitKeys;
  /** Ceremonies started per network (challenge rows written). */
  ceremonyLimit?: LimitPolicy;
  /** Sign-in attempts per network, the budget password logins count against too (LOGIN_FAILURES_PER_IP). */
  signInLimit: LimitPolicy;
  /** Opens a session for a signed-in user: the one path every login takes (AuthService.openSession). */
  openSession: AuthService['openSession'];
  /** REQUIRE_EMAIL_VERIFICATION: an unverified address signs in with nothing, a passkey included. */
  requireEmailVerification: boolean;
}

/** An accepted assertion: the passkey, whether the user was verified, its RFC 8176 methods. */
export interface AcceptedAssertion {
  passkey: PasskeyRecord;
  userVerified: boolean;
  amr: string[];
}

export type AssertionCheck = AcceptedAssertion | { refused: 'invalid' | 'cloned' };

/** The public view of a passkey (never its public key). */
export interface PasskeyView {
  id: string;
  name: string;
  deviceType: PasskeyRecord['deviceType'];
  backedUp: boolean;
  transports: string[];
  aaguid: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export const passkeyView = (passkey: PasskeyRecord): PasskeyView => ({
  id: passkey.id,
  name: passkey.name,
  deviceType: passkey.deviceType,
  backedUp: passkey.backedUp,
  transports: passkey.transports,
  aaguid: passkey.aaguid,
  createdAt: passkey.createdAt,
  lastUsedAt: passkey.lastUsedAt,
});

const MAX_CLIENT_DATA_CHARS = 4096;
const TRANSPORTS = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);

/**
 * The challenge a response answers, read from its clientDataJSON (bounded before it is
 * decoded or parsed). Undefined for anything that is not a well-formed client data.
 */
function challengeOf(clientDataJSON: unknown): string | undefined {
  if (typeof clientDataJSON !== 'string' || clientDataJSON.length > MAX_CLIENT_DATA_CHARS) return undefined;
  try {
    const data: unknown = JSON.parse(new TextDecoder().decode(base64UrlDecode(clientDataJSON)));
    if (typeof data !== 'object' || data === null) return undefined;
    const challenge = (data as { challenge?: unknown }).challenge;
    return typeof challenge === 'string' && challenge.length > 0 && challenge.length <= 128
      ? challenge
      : undefined;
  } catch {
    return undefined;
  }
}

const userHandleOf = (userId: string) => new TextEncoder().encode(userId);

/**
 * Passkeys (W3C WebAuthn Level 3, issue #20): registering, listing, renaming and removing
 * them, and checking assertions for a sign-in, the second step of a password login and a
 * step-up. Every challenge is random, stored only as a hash with its purpose and what it is
 * bound to (the session, the `mfa_token`), lives 5 minutes and is taken (deleted) by the
 * first response that names it, right or wrong (§13.4.3: single use).
 */
export function createPasskeys(deps: PasskeyServiceDeps) {
  const { store, clock, webauthn } = deps;
  const ceremonyLimit = deps.ceremonyLimit ?? CEREMONIES_PER_NETWORK;

  /** Counted before the row is written: a botnet cannot fill the challenge table. */
  async function chargeCeremony(ipAddress: string | null) {
    const key = deps.keys.passkeyCeremoniesByNetwork(deps.keys.network(ipAddress));
    const [wait = 0] = await deps.rateLimiter.hit([{ key, policy: ceremonyLimit }], clock.now());
    if (wait > 0) throw rateLimited('Too many passkey requests from here; try again later', wait);
  }

  async function newChallenge(
    purpose: WebAuthnPurpose,
    binding: Pick<WebAuthnChallenge, 'userId' | 'sessionId' | 'mfaChallengeId'>,
  ): Promise<Uint8Array<ArrayBuffer>> {
    // Bytes, not text: the library sends a string challenge as the base64url of its UTF-8,
    // and the browser echoes what was sent, so the stored hash is of what comes back.
    const bytes = randomBytes(32);
    const challenge = base64UrlEncode(bytes);
    const now = clock.now();
    await store.saveWebAuthnChallenge({
      challengeHash: await sha256Base64url(`webauthn:${challenge}`),
      purpose,
      ...binding,
      createdAt: now,
      expiresAt: new Date(now.getTime() + CEREMONY_TIMEOUT_MS),
    });
    return bytes;
  }

  /** Takes the challenge a response answers: its own, live, of this purpose; else undefined. */
  async function takeChallenge(clientDataJSON: unknown, purpose: WebAuthnPurpose) {
    const challenge = challengeOf(clientDataJSON);
    if (!challenge) return undefined;
    const row = await store.takeWebAuthnChallenge(await sha256Base64url(`webauthn:${challenge}`), purpose);
    if (!row || row.expiresAt <= clock.now()) return undefined;
    return { challenge, row };
  }

  const userOf = (caller: Caller) => userOfCaller(store, caller);

  /**
   * Adding or removing a passkey changes how the account can be entered: it asks a fresh
   * authentication, at aal2 when the account has MFA, as turning MFA off and deleting the
   * account do (RFC 9470; OWASP ASVS V2.2 re-authentication before sensitive operations).
   */
  const requireFresh = (caller: Caller, user: UserRecord) =>
    requireAssurance(assuranceOf(caller), user.mfaEnabled ? FRESH_AAL2 : FRESH_AUTH, clock.now());

  async function registrationOptions(caller: Caller, ipAddress: string | null) {
    const user = await userOf(caller);
    requireFresh(caller, user);
    const existing = await store.listPasskeys(user.id);
    if (existing.length >= PASSKEYS_PER_USER) throw limitReached();
    await chargeCeremony(ipAddress);
    const challenge = await newChallenge('registration', {
      userId: user.id,
      sessionId: caller.sid,
      mfaChallengeId: null,
    });
    return (await webauthnLibrary()).generateRegistrationOptions({
      rpName: webauthn.rpName,
      rpID: webauthn.rpId,
      userName: user.email,
      userDisplayName: user.name ?? user.email,
      userID: userHandleOf(user.id),
      challenge,
      timeout: CEREMONY_TIMEOUT_MS,
      attestationType: 'none',
      // One credential per authenticator: the browser refuses to make a second one.
      excludeCredentials: existing.map((passkey) => ({
        id: passkey.credentialId,
        transports: passkey.transports as never,
      })),
      // Discoverable, so that it signs in without an email typed; UV asked for, not required:
      // a security key without a PIN still serves as a second factor.
      authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
      // ES256, EdDSA, RS256 (W3C WebAuthn §5.8.5 recommends ES256 and RS256 at least).
      supportedAlgorithmIDs: [-7, -8, -257],
    });
  }

  /**
   * Stores the passkey a registration ceremony made. The challenge proves the ceremony was
   * started by this session while it was fresh (the options call checked it) at most 5
   * minutes ago, so freshness is not asked again here: a slow ceremony does not fail.
   */
  async function register(
    caller: Caller,
    input: { response: RegistrationResponseJSON; name?: string | null },
  ): Promise<PasskeyView> {
    const user = await userOf(caller);
    const taken = await takeChallenge(input.response.response?.clientDataJSON, 'registration');
    if (!taken || taken.row.userId !== user.id || taken.row.sessionId !== caller.sid)
      throw notAccepted('The passkey ceremony expired or belongs to another session; start again');
    let info: Awaited<ReturnType<typeof verifyRegistrationResponse>>['registrationInfo'];
    try {
      const verification = await (await webauthnLibrary()).verifyRegistrationResponse({
        response: input.response,
        expectedChallenge: taken.challenge,
        expectedOrigin: webauthn.origins,
        expectedRPID: webauthn.rpId,
        requireUserVerification: false,
        supportedAlgorithmIDs: [-7, -8, -257],
      });
      info = verification.verified ? verification.registrationInfo : undefined;
    } catch {
      info = undefined;
    }
    if (!info) throw notAccepted('The passkey was not accepted (origin, RP ID or signature); try again');
    const now = clock.now();
    const transports = (input.response.response.transports ?? []).filter((t) => TRANSPORTS.has(t));
    const passkey: PasskeyRecord = {
      id: crypto.randomUUID(),
      userId: user.id,
      credentialId: info.credential.id,
      publicKey: base64UrlEncode(info.credential.publicKey),
      signCount: info.credential.counter,
      transports,
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      aaguid: info.aaguid,
      name: input.name?.trim() || defaultName(info.credentialDeviceType, transports),
      createdAt: now,
      lastUsedAt: null,
    };
    const added = await store.addPasskey(passkey, PASSKEYS_PER_USER);
    if (added === 'duplicate') throw new AuthError('passkey_exists', 'This passkey is registered already');
    if (added === 'limit_reached') throw limitReached();
    if (added === 'user_gone')
      throw new BearerError('invalid_token', 'The user of this access token no longer exists');
    await store.recordSecurityEvent({
      ...callerFacts(caller),
      type: 'passkey_added',
      details: { passkey_id: passkey.id, name: passkey.name, device_type: passkey.deviceType },
      at: now,
    });
    return passkeyView(passkey);
  }

  async function list(caller: Caller): Promise<PasskeyView[]> {
    return (await store.listPasskeys(caller.sub)).map(passkeyView);
  }

  async function rename(caller: Caller, id: string, name: string): Promise<PasskeyView> {
    const renamed = await store.renamePasskey(caller.sub, id, name.trim());
    if (!renamed) throw new AuthError('not_found', 'No such passkey');
    return passkeyView(renamed);
  }

  async function remove(caller: Caller, id: string): Promise<void> {
    const user = await userOf(caller);
    requireFresh(caller, user);
    // One statement: the row deleted is the one named in the event.
    const passkey = await store.deletePasskey(user.id, id);
    if (!passkey) throw new AuthError('not_found', 'No such passkey');
    await store.recordSecurityEvent({
      ...callerFacts(caller),
      type: 'passkey_removed',
      details: { passkey_id: id, name: passkey.name },
      at: clock.now(),
    });
  }

  /**
   * Options for an assertion. `sign_in` names no user (discoverable credentials: the browser
   * offers the user's passkeys, autofill included); the others list the user's passkeys.
   */
  async function assertionOptions(
    purpose: Exclude<WebAuthnPurpose, 'registration'>,
    binding: { userId?: string; sessionId?: string; mfaChallengeId?: string },
    ipAddress: string | null,
  ): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const passkeys = binding.userId ? await store.listPasskeys(binding.userId) : [];
    if (purpose !== 'sign_in' && passkeys.length === 0)
      throw new AuthError('not_found', 'This account has no passkey');
    await chargeCeremony(ipAddress);
    const challenge = await newChallenge(purpose, {
      userId: binding.userId ?? null,
      sessionId: binding.sessionId ?? null,
      mfaChallengeId: binding.mfaChallengeId ?? null,
    });
    return (await webauthnLibrary()).generateAuthenticationOptions({
      rpID: webauthn.rpId,
      challenge,
      timeout: CEREMONY_TIMEOUT_MS,
      userVerification: purpose === 'sign_in' ? 'required' : 'preferred',
      allowCredentials: passkeys.map((passkey) => ({
        id: passkey.credentialId,
        transports: passkey.transports as never,
      })),
    });
  }

  /**
   * Checks an assertion against the challenge it answers (taken, single use) and the
   * passkey it names (W3C WebAuthn §7.2): the challenge must be of this purpose and bound to
   * the same user, session or `mfa_token`; the user handle must be the passkey's owner; the
   * origin, RP ID and signature must verify; UV is required for a sign-in (a passkey alone
   * is then the whole authentication). The signature counter must move forward when either
   * side counts (§6.1.1): a valid signature with an old counter means a cloned
   * authenticator, which is refused and recorded as a security event.
   */
  async function checkAssertion(input: {
    response: AuthenticationResponseJSON;
    purpose: Exclude<WebAuthnPurpose, 'registration'>;
    userId?: string;
    sessionId?: string;
    mfaChallengeId?: string;
    /** The request's origin, for the event of a suspected clone. */
    origin: RequestOrigin;
  }): Promise<AssertionCheck> {
    const { response, purpose } = input;
    const taken = await takeChallenge(response.response?.clientDataJSON, purpose);
    if (
      !taken ||
      (input.userId !== undefined && taken.row.userId !== input.userId) ||
      (input.sessionId !== undefined && taken.row.sessionId !== input.sessionId) ||
      (input.mfaChallengeId !== undefined && taken.row.mfaChallengeId !== input.mfaChallengeId)
    )
      return { refused: 'invalid' };
    const passkey = await store.findPasskeyByCredentialId(response.id);
    if (!passkey || (input.userId !== undefined && passkey.userId !== input.userId))
      return { refused: 'invalid' };
    if (response.response.userHandle !== undefined) {
      const handle = base64UrlEncode(userHandleOf(passkey.userId));
      if (response.response.userHandle !== handle) return { refused: 'invalid' };
    } else if (purpose === 'sign_in') {
      // A discoverable credential always returns its user handle (§7.2 step 6).
      return { refused: 'invalid' };
    }
    let info: Awaited<ReturnType<typeof verifyAuthenticationResponse>>['authenticationInfo'] | undefined;
    try {
      const verification = await (await webauthnLibrary()).verifyAuthenticationResponse({
        response,
        expectedChallenge: taken.challenge,
        expectedOrigin: webauthn.origins,
        expectedRPID: webauthn.rpId,
        // The counter is compared below, after the signature: a forged response with an old
        // counter is not a clone, only a valid signature is.
        credential: {
          id: passkey.credentialId,
          publicKey: base64UrlDecode(passkey.publicKey),
          counter: 0,
          transports: passkey.transports as never,
        },
        requireUserVerification: purpose === 'sign_in',
      });
      info = verification.verified ? verification.authenticationInfo : undefined;
    } catch {
      info = undefined;
    }
    if (!info) return { refused: 'invalid' };
    const now = clock.now();
    const counts = info.newCounter > 0 || passkey.signCount > 0;
    if (counts && info.newCounter <= passkey.signCount)
      return cloned(passkey, info.newCounter, now, input.origin);
    const recorded = await store.recordPasskeyUse({
      id: passkey.id,
      expectedCount: passkey.signCount,
      signCount: info.newCounter,
      backedUp: info.credentialBackedUp,
      now,
    });
    // A parallel assertion moved the counter first: with a counter, this one came second.
    if (!recorded)
      return counts ? cloned(passkey, info.newCounter, now, input.origin) : { refused: 'invalid' };
    const used = {
      ...passkey,
      signCount: info.newCounter,
      backedUp: info.credentialBackedUp,
      lastUsedAt: now,
    };
    return { passkey: used, userVerified: info.userVerified, amr: passkeyAmr(passkey, info.userVerified) };
  }

  /**
   * A sign-in with a passkey alone (discoverable credential, UV required): `aal2`, since the
   * authenticator verified the user and proved possession in one step (NIST SP 800-63B
   * §4.2.1: a multi-factor cryptographic authenticator). Counted against the network's login
   * budget before the check, like a password; the same checks as a password login follow
   * (disabled account, unverified address, session limit, in `openSession`).
   */
  async function signIn(input: {
    response: AuthenticationResponseJSON;
    deviceName?: string | null;
    remember?: boolean;
    clientId?: string;
    delivery?: Delivery;
    device: RequestDevice;
  }): Promise<IssuedTokens | SessionLimitReached> {
    const networkKey = deps.keys.loginByNetwork(deps.keys.network(input.device.ipAddress));
    const [wait = 0] = await deps.rateLimiter.hit(
      [{ key: networkKey, policy: deps.signInLimit }],
      clock.now(),
    );
    if (wait > 0) throw rateLimited('Too many failed sign-ins; try again later', wait);
    const check = await checkAssertion({
      response: input.response,
      purpose: 'sign_in',
      origin: input.device,
    });
    if (!('amr' in check)) throw invalidPasskey();
    const user = await store.findUserById(check.passkey.userId);
    if (!user) throw invalidPasskey();
    await deps.rateLimiter.refund([networkKey], clock.now());
    if (user.disabledAt) throw accountDisabled();
    if (deps.requireEmailVerification && user.emailVerifiedAt === null) throw emailNotVerified();
    return deps.openSession(user, {
      deviceName: input.deviceName ?? null,
      remembered: input.remember ?? false,
      clientId: input.clientId ?? DEFAULT_CLIENT_ID,
      device: input.device,
      acr: 'aal2',
      amr: check.amr,
      delivery: input.delivery ?? 'body',
    });
  }

  async function cloned(
    passkey: PasskeyRecord,
    seen: number,
    now: Date,
    origin: RequestOrigin,
  ): Promise<AssertionCheck> {
    await store.recordSecurityEvent({
      userId: passkey.userId,
      type: 'passkey_clone_suspected',
      ...originOf(origin),
      details: {
        passkey_id: passkey.id,
        name: passkey.name,
        stored_count: passkey.signCount,
        seen_count: seen,
      },
      at: now,
    });
    return { refused: 'cloned' };
  }

  return {
    registrationOptions,
    register,
    list,
    rename,
    remove,
    assertionOptions,
    checkAssertion,
    signIn,
    hasPasskeys: async (userId: string) => (await store.listPasskeys(userId)).length > 0,
  };
}

export type Passkeys = ReturnType<typeof createPasskeys>;

const limitReached = () =>
  new AuthError(
    'passkey_limit_reached',
    `An account holds at most ${PASSKEYS_PER_USER} passkeys; remove one first`,
  );

const invalidPasskey = () =>
  new AuthError('invalid_passkey', 'The passkey was not accepted; try again or sign in with your password');

const notAccepted = (message: string) => new AuthError('passkey_not_accepted', message);

/** A name until the user gives one: what kind of passkey it is. */
function defaultName(deviceType: PasskeyRecord['deviceType'], transports: string[]): string {
  if (deviceType === 'multiDevice') return 'Synced passkey';
  if (transports.includes('usb') || transports.includes('nfc')) return 'Security key';
  return 'Passkey';
}
