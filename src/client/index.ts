import { type DpopKey, type DpopOption, resolveKey, signProof } from './dpop.js';
import type {
  EmailChangePending,
  EmailChangeReverted,
  EmailVerified,
  LoginSecondFactor,
  Me,
  MfaRequired,
  Passkey,
  PasskeyAssertion,
  PasskeyCreationOptions,
  PasskeyRegistration,
  PasskeyRequestOptions,
  RegisteredUser,
  SecondFactor,
  SecurityEvents,
  Session,
  StepUpChallenge,
  StepUpFactor,
  TokenPair,
  TotpEnrollment,
} from './types.js';

export type { DpopAlgorithm, DpopKeyPair, DpopOption, DpopPublicJwk, DpopSigner } from './dpop.js';
export type {
  EmailChangePending,
  EmailChangeReverted,
  EmailVerified,
  LoginSecondFactor,
  Me,
  MfaRequired,
  Passkey,
  PasskeyAssertion,
  PasskeyCreationOptions,
  PasskeyDescriptor,
  PasskeyRegistration,
  PasskeyRequestOptions,
  PasskeyTransport,
  RegisteredUser,
  SecondFactor,
  SecurityEvent,
  SecurityEvents,
  Session,
  StepUpChallenge,
  StepUpFactor,
  TokenPair,
  TotpEnrollment,
} from './types.js';

/**
 * `@latchkey/client`: a small typed client for single-page apps, mobile apps and tests, with
 * no dependency. It keeps the access token in memory, refreshes it when a call answers 401
 * (once per call), and makes parallel calls share one refresh (single flight): with rotating
 * refresh tokens, two refreshes of the same token would be a replay.
 *
 * Passkeys: the client fetches the ceremony's options and sends back what the authenticator
 * made; the ceremony itself (navigator.credentials, or @simplewebauthn/browser's
 * `startRegistration` / `startAuthentication`, or a mobile platform's API) is the app's, so
 * that this package stays dependency-free and runs where there is no browser.
 */

/** Where the refresh token lives between page loads: nowhere in JS with cookie delivery. */
export interface RefreshTokenStore {
  get(): string | undefined | Promise<string | undefined>;
  set(token: string | undefined): void | Promise<void>;
}

/** What `onSessionExpiring` is told: when the session ends, and how many seconds are left. */
export interface SessionExpiring {
  expiresAt: Date;
  secondsLeft: number;
}

export interface ClientOptions {
  /** The Latchkey server, e.g. `https://auth.example.com`. */
  baseUrl: string;
  /**
   * `cookie` (browsers, recommended): the refresh token is an HttpOnly cookie JS never sees;
   * `body`: the client keeps it in `refreshTokenStore` (mobile apps, servers, tests).
   */
  delivery?: 'cookie' | 'body' | undefined;
  /** Body delivery: where the refresh token is kept; in memory by default (lost on reload). */
  refreshTokenStore?: RefreshTokenStore | undefined;
  clientId?: string | undefined;
  /**
   * DPoP (RFC 9449): bind the session's tokens to a key this client holds, so that a copied
   * access or refresh token is useless without it. `true`: a non-extractable ES256 key made here,
   * kept in IndexedDB in a browser (a reload keeps it), in memory elsewhere. Or the app's own:
   * a WebCrypto key pair, or a signer over a platform keystore (Secure Enclave, Android
   * Keystore). Every request then carries a fresh proof, and calls use `Authorization: DPoP`.
   * `baseUrl` must be the server's ISSUER: proofs name the URL they are for (`htu`).
   */
  dpop?: DpopOption | undefined;
  fetch?: ((input: string, init?: RequestInit) => Promise<Response>) | undefined;
  /** Called when the session is over (refresh refused): show the login page. */
  onSessionEnded?: (() => void) | undefined;
  /**
   * Called once, `expiryWarningSeconds` before the session ends (the end each token pair
   * announces, `refresh_token_expires_in`, which is never past the session's absolute end): ask
   * the user to save their work and sign in again. Re-armed by every new token pair; cleared
   * by logout and by the end of the session.
   */
  onSessionExpiring?: ((info: SessionExpiring) => void) | undefined;
  /** How long before the end `onSessionExpiring` is called, in seconds: 300 by default. */
  expiryWarningSeconds?: number | undefined;
  /**
   * A call answered with an RFC 9470 step-up challenge (401 `insufficient_user_authentication`):
   * ask the user for a TOTP code, a passkey (`{ passkey }`, answering `stepUpPasskeyOptions()`)
   * or their password and resolve with it, and the client steps up and sends the call again,
   * once; resolve `undefined` to give up (the call then throws the challenge as a
   * `LatchkeyError`). Without it, every challenge is thrown.
   */
  onStepUpRequired?: ((challenge: StepUpChallenge) => Promise<StepUpFactor | undefined>) | undefined;
  /** The clock, in ms since the epoch: `Date.now` by default (tests inject theirs). */
  now?: (() => number) | undefined;
  /** Runs `callback` after `ms`; returns its cancel. `setTimeout` by default (tests inject theirs). */
  setTimer?: ((callback: () => void, ms: number) => () => void) | undefined;
}

/** A non-2xx answer, with the contract's error code. */
export class LatchkeyError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
    readonly wwwAuthenticate: string | null,
    /** The whole error body: some errors carry more, e.g. `session_limit_reached`'s `limit_token`. */
    readonly body: Record<string, unknown> = {},
  ) {
    super(`${status} ${code}: ${description}`);
    this.name = 'LatchkeyError';
  }

  /** What a step-up challenge (`insufficient_user_authentication`) asks for; else undefined. */
  get challenge(): StepUpChallenge | undefined {
    return this.code === 'insufficient_user_authentication' ? challengeOf(this.wwwAuthenticate) : undefined;
  }
}

/** `acr_values` and `max_age` of a `WWW-Authenticate` challenge; they follow the description. */
function challengeOf(header: string | null): StepUpChallenge {
  const text = header ?? '';
  const challenge: StepUpChallenge = {};
  const acr = text.lastIndexOf('acr_values="') + 12;
  if (acr > 11) challenge.acrValues = text.slice(acr, text.indexOf('"', acr));
  const age = text.lastIndexOf('max_age=') + 8;
  if (age > 7) challenge.maxAge = Number.parseInt(text.slice(age), 10);
  return challenge;
}

async function errorOf(response: Response): Promise<LatchkeyError> {
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  return new LatchkeyError(
    response.status,
    typeof body.error === 'string' ? body.error : `http_${response.status}`,
    typeof body.error_description === 'string' ? body.error_description : response.statusText,
    response.headers.get('www-authenticate'),
    body,
  );
}

/** Resolves for a 2xx answer, throws its `LatchkeyError` otherwise. */
async function ok(response: Response): Promise<void> {
  if (!response.ok) throw await errorOf(response);
}

const expectJson = async <T>(response: Response): Promise<T> => {
  await ok(response);
  return (await response.json()) as T;
};

/**
 * The server wants its nonce in the proof (RFC 9449 §8: 400 `use_dpop_nonce` at a token
 * endpoint; §9: a 401 challenge at a resource), and its answer brings one in `DPoP-Nonce`.
 */
async function nonceAsked(response: Response): Promise<boolean> {
  if (!response.headers.has('dpop-nonce')) return false;
  if (response.status === 401) return !!response.headers.get('www-authenticate')?.includes('use_dpop_nonce');
  const body =
    response.status === 400
      ? await response
          .clone()
          .json()
          .catch(() => undefined)
      : undefined;
  return (body as { error?: unknown } | undefined)?.error === 'use_dpop_nonce';
}

/** What a sign-in may say about its session. */
export interface SignInExtra {
  deviceName?: string | undefined;
  /** A remembered session lasts SESSION_REMEMBER_TTL and its cookie outlives the browser. */
  remember?: boolean | undefined;
}

/** setTimeout fires at once past 2^31 - 1 ms (24.8 days): longer waits go in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function createLatchkeyClient(options: ClientOptions) {
  // No regex: lookbehind needs Safari 16.4, and /\/+$/ backtracks on a run of slashes.
  let base = options.baseUrl;
  while (base.endsWith('/')) base = base.slice(0, -1);
  const delivery = options.delivery ?? 'cookie';
  const doFetch = options.fetch ?? ((input: string, init?: RequestInit) => globalThis.fetch(input, init));
  const now = options.now ?? Date.now;
  const setTimer =
    options.setTimer ??
    ((callback: () => void, ms: number) => {
      const id = setTimeout(callback, ms);
      return () => clearTimeout(id);
    });
  const warnMs = Math.max(0, options.expiryWarningSeconds ?? 300) * 1000;
  let memoryRefreshToken: string | undefined;
  const store: RefreshTokenStore = options.refreshTokenStore ?? {
    get: () => memoryRefreshToken,
    set: (token) => {
      memoryRefreshToken = token;
    },
  };
  let accessToken: string | undefined;
  let refreshing: Promise<string> | undefined;
  /** When the session ends (ms), as the last token pair said; and the end already warned of. */
  let sessionEnd: number | undefined;
  let warnedEnd: number | undefined;
  let cancelTimer: (() => void) | undefined;

  /** The scheme of the access token in memory: `DPoP` when the server bound it to our key. */
  let tokenType: TokenPair['token_type'] = 'Bearer';
  let dpopKey: Promise<DpopKey> | undefined;
  /** The server's latest `DPoP-Nonce` (RFC 9449 §8.2: any answer may bring a fresh one). */
  let nonce: string | undefined;
  const proof = async (method: string, url: string, token?: string, withNonce?: string) => {
    if (!options.dpop) return undefined;
    dpopKey ??= resolveKey(options.dpop, base);
    return signProof(
      await dpopKey,
      method,
      new URL(url, globalThis.location?.href).href,
      now(),
      token,
      withNonce,
    );
  };

  /**
   * One request to the server; with `token`, authorized by it. With DPoP each attempt carries a
   * fresh proof (RFC 9449 §4), with `ath` for a DPoP token (§7); an answer asking for a nonce
   * (`use_dpop_nonce` with `DPoP-Nonce`: 400 at a token endpoint, §8; 401 at a resource, §9) is
   * sent again once, with it.
   */
  const send = async (path: string, init: RequestInit & { json?: unknown } = {}, token?: string) => {
    const headers = new Headers(init.headers);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    if (token) headers.set('authorization', `${tokenType} ${token}`);
    const url = `${base}${path}`;
    const attempt = async () => {
      const signed = await proof(init.method ?? 'GET', url, tokenType === 'DPoP' ? token : undefined, nonce);
      if (signed) headers.set('dpop', signed);
      const response = await doFetch(url, { ...init, headers, body, credentials: 'include' });
      const fresh = response.headers.get('dpop-nonce');
      if (fresh && fresh.length <= 512) nonce = fresh;
      return response;
    };
    const response = await attempt();
    return options.dpop && (await nonceAsked(response)) ? attempt() : response;
  };
  const post = (path: string, json?: unknown) => send(path, { method: 'POST', json });

  function disarm() {
    cancelTimer?.();
    cancelTimer = undefined;
  }

  /** Sets the expiry warning for `sessionEnd`, unless that end (give or take a minute) was warned of. */
  function arm() {
    disarm();
    const end = sessionEnd;
    if (end === undefined || !options.onSessionExpiring) return;
    if (warnedEnd !== undefined && end < warnedEnd + 60_000) return;
    cancelTimer = setTimer(
      () => {
        cancelTimer = undefined;
        if (now() < end - warnMs) return arm(); // a long wait's step, or a timer that fired early
        warnedEnd = end;
        options.onSessionExpiring?.({
          expiresAt: new Date(end),
          secondsLeft: Math.max(0, Math.round((end - now()) / 1000)),
        });
      },
      Math.min(Math.max(0, end - warnMs - now()), MAX_TIMER_MS),
    );
  }

  /** Keeps a new pair: the access token in memory, the refresh token in the store (body delivery). */
  async function keep(pair: TokenPair): Promise<TokenPair> {
    accessToken = pair.access_token;
    tokenType = pair.token_type === 'DPoP' ? 'DPoP' : 'Bearer';
    if (pair.refresh_token) await store.set(pair.refresh_token);
    sessionEnd = now() + pair.refresh_token_expires_in * 1000;
    arm();
    return pair;
  }

  /** Forgets the session: tokens, its end and the warning. */
  async function forget() {
    accessToken = undefined;
    sessionEnd = warnedEnd = undefined;
    disarm();
    await store.set(undefined);
  }

  async function refreshOnce(): Promise<string> {
    const token = delivery === 'body' ? await store.get() : undefined;
    if (delivery === 'body' && !token) throw new LatchkeyError(401, 'invalid_grant', 'Not signed in', null);
    const response = await post('/v1/auth/refresh', {
      ...(token ? { refresh_token: token } : {}),
      ...(options.clientId ? { client_id: options.clientId } : {}),
    });
    if (!response.ok) {
      const error = await errorOf(response);
      if (response.status === 401) {
        await forget();
        options.onSessionEnded?.();
      }
      throw error;
    }
    return (await keep((await response.json()) as TokenPair)).access_token;
  }

  /** One refresh at a time: callers that arrive while one runs get its result. */
  function refresh(): Promise<string> {
    refreshing ??= refreshOnce().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  }

  /**
   * Re-authenticates the signed-in user for a fresh `auth_time` (RFC 9470): a TOTP code or a
   * passkey gives `acr` aal2, the password aal1. The session gets a new token pair (kept, as at
   * login). `wrong_code` / `wrong_passkey` / `wrong_password` for a wrong factor;
   * `mfa_not_enabled` for a code without TOTP.
   */
  async function stepUp(factor: StepUpFactor): Promise<TokenPair> {
    return keep(
      await expectJson<TokenPair>(
        await authorized('/v1/auth/step-up', { method: 'POST', json: { ...factor, delivery } }, false),
      ),
    );
  }

  /**
   * A call with the access token; on a 401 `invalid_token` it refreshes (shared with any
   * parallel call) and retries once. A 401 `insufficient_user_authentication` is the route
   * asking for a step-up: with `onStepUpRequired` the client steps up and retries once;
   * without, the answer is returned as it is.
   */
  async function authorized(
    path: string,
    init: RequestInit & { json?: unknown } = {},
    mayStepUp = true,
  ): Promise<Response> {
    const withToken = (token: string | undefined) => send(path, init, token);
    const used = accessToken ?? (await refresh());
    let response = await withToken(used);
    const challenge = () => (response.status === 401 ? (response.headers.get('www-authenticate') ?? '') : '');
    if (challenge().includes('error="invalid_token"')) {
      // Another call may have refreshed meanwhile: use its token rather than refresh again.
      response = await withToken(accessToken && accessToken !== used ? accessToken : await refresh());
    }
    if (mayStepUp && options.onStepUpRequired && challenge().includes('insufficient_user_authentication')) {
      const factor = await options.onStepUpRequired(challengeOf(challenge()));
      if (factor) {
        await stepUp(factor);
        response = await withToken(accessToken);
      }
    }
    return response;
  }

  /** A Bearer call whose answer has no body: resolves on 2xx. */
  const authorizedOk = async (path: string, init: RequestInit & { json?: unknown } = {}) =>
    ok(await authorized(path, init));

  /** The body fields a sign-in (password or passkey) opens its session with. */
  const sessionFields = (extra: SignInExtra) => ({
    delivery,
    ...(extra.deviceName ? { device_name: extra.deviceName } : {}),
    ...(extra.remember !== undefined ? { remember: extra.remember } : {}),
    ...(options.clientId ? { client_id: options.clientId } : {}),
  });

  const passkeyPath = (id: string) => `/v1/passkeys/${encodeURIComponent(id)}`;

  return {
    /**
     * Creates an account (`email_taken`, `invalid_password` for a weak or common one). It does
     * not sign in: call `login` next. A verification link goes to the address.
     */
    register: async (email: string, password: string, name?: string) =>
      (
        await expectJson<{ user: RegisteredUser }>(
          await post('/v1/auth/register', { email, password, ...(name ? { name } : {}) }),
        )
      ).user,
    /** A password login: a token pair, or `{ mfa_required, mfa_token }` to finish with `loginMfa`. */
    async login(email: string, password: string, extra: SignInExtra = {}) {
      const result = await expectJson<TokenPair | MfaRequired>(
        await post('/v1/auth/login', { email, password, ...sessionFields(extra) }),
      );
      return 'mfa_required' in result ? result : keep(result);
    },
    /**
     * Finishes an MFA login with a TOTP code, a recovery code (`invalid_code`) or a passkey
     * answering `loginMfaPasskeyOptions` (`invalid_passkey`); the error's `body.attempts_left`
     * says how many tries the `mfa_token` has left.
     */
    loginMfa: async (mfaToken: string, factor: LoginSecondFactor) =>
      keep(
        await expectJson<TokenPair>(
          await post(
            '/v1/auth/login/mfa',
            'code' in factor
              ? { mfa_token: mfaToken, code: factor.code }
              : 'passkey' in factor
                ? { mfa_token: mfaToken, passkey: factor.passkey }
                : { mfa_token: mfaToken, recovery_code: factor.recoveryCode },
          ),
        ),
      ),
    /**
     * Options for a passkey as the second step of an MFA login (when `methods` lists
     * `passkey`): the account's passkeys, bound to this `mfa_token`. `not_found` without one.
     */
    loginMfaPasskeyOptions: async (mfaToken: string) =>
      expectJson<PasskeyRequestOptions>(
        await post('/v1/auth/login/mfa/passkey-options', { mfa_token: mfaToken }),
      ),
    /**
     * Options for signing in with a passkey, no email needed (a discoverable credential, user
     * verification required): give them to navigator.credentials.get(), then the result to
     * `signInWithPasskey`. With `mediation: 'conditional'` the browser offers the passkeys in the
     * username field's autofill. Each call is a new challenge, valid 5 minutes, usable once.
     */
    passkeyOptions: async () => expectJson<PasskeyRequestOptions>(await post('/v1/auth/passkey/options')),
    /**
     * Signs in with a passkey (`invalid_passkey` when it is not accepted): a token pair at
     * `acr` aal2, kept as at login. The rules of a password login follow (`account_disabled`,
     * `email_not_verified`, `session_limit_reached`).
     */
    signInWithPasskey: async (response: PasskeyAssertion, extra: SignInExtra = {}) =>
      keep(
        await expectJson<TokenPair>(await post('/v1/auth/passkey', { response, ...sessionFields(extra) })),
      ),
    /**
     * With SESSION_LIMIT_POLICY=reject, a login past the limit throws 409
     * `session_limit_reached` whose `body` has `limit_token` and `sessions`: sign one of them
     * out and finish the login here.
     */
    finishHeldLogin: async (limitToken: string, revokeSessionId: string) =>
      keep(
        await expectJson<TokenPair>(
          await post('/v1/auth/login/session-limit', {
            limit_token: limitToken,
            revoke_session_id: revokeSessionId,
          }),
        ),
      ),
    /** Asks for a reset link by email: resolves the same whether or not the address has an account. */
    forgotPassword: async (email: string): Promise<void> =>
      ok(await post('/v1/auth/password/forgot', { email })),
    /**
     * Sets a new password with the token of a reset link; every session of that user ends: sign
     * in again afterwards. An account with TOTP needs `factor` (the error `mfa_required` says
     * so; `invalid_code` for a wrong one; `invalid_email_token` for a dead link).
     */
    resetPassword: async (token: string, password: string, factor?: SecondFactor): Promise<void> =>
      ok(
        await post('/v1/auth/password/reset', {
          token,
          password,
          ...(factor && 'code' in factor ? { code: factor.code } : {}),
          ...(factor && 'recoveryCode' in factor ? { recovery_code: factor.recoveryCode } : {}),
        }),
      ),
    /**
     * Changes the signed-in user's password (`wrong_password`, `invalid_password`). Every
     * other session of the user ends; this one goes on.
     */
    changePassword: async (currentPassword: string, newPassword: string): Promise<void> =>
      authorizedOk('/v1/users/me/password', {
        method: 'POST',
        json: { current_password: currentPassword, new_password: newPassword },
      }),
    /**
     * Verifies the address with the token of a verification link (`?token=lkv_…`). No session
     * needed: whoever holds the link may use it, once. The next access token of each session
     * carries `email_verified: true` (call `refresh()` for one now). `invalid_email_token` for
     * a dead link.
     */
    verifyEmail: async (token: string) =>
      expectJson<EmailVerified>(await post('/v1/auth/email/verify', { token })),
    /** Asks for a new verification link: resolves the same whether or not a mail goes out. */
    resendVerification: async (email: string): Promise<void> =>
      ok(await post('/v1/auth/email/verify/resend', { email })),
    /**
     * Asks to change the signed-in user's address: a confirmation link goes to the new one and a
     * "this wasn't me" link to the current one; nothing changes until `confirmEmailChange`. Needs
     * the current password (`wrong_password`) and a recent sign-in (a step-up challenge).
     */
    changeEmail: async (email: string, password: string) =>
      expectJson<EmailChangePending>(
        await authorized('/v1/users/me/email', { method: 'POST', json: { email, password } }),
      ),
    /** Confirms a change with the token of the link sent to the new address (`?token=lkc_…`). */
    confirmEmailChange: async (token: string) =>
      expectJson<EmailVerified>(await post('/v1/auth/email/change/confirm', { token })),
    /**
     * "This wasn't me": undoes a change with the token of the notice sent to the old address
     * (`?token=lkr_…`). Every session of that account ends, this client's too if it is signed in
     * to it (its next call ends in `onSessionEnded`): sign in again afterwards.
     */
    revertEmailChange: async (token: string) =>
      expectJson<EmailChangeReverted>(await post('/v1/auth/email/change/revert', { token })),
    refresh,
    stepUp,
    /** Options for a passkey step-up of this session: give the result to `stepUp({ passkey })`. */
    stepUpPasskeyOptions: async () =>
      expectJson<PasskeyRequestOptions>(
        await authorized('/v1/auth/step-up/passkey-options', { method: 'POST' }),
      ),
    /**
     * The signed-in user's passkeys. Adding and removing one need a sign-in under 5 minutes old
     * (at aal2 when the account has TOTP): a step-up challenge otherwise. At most 25 each.
     * Passkeys never turn two-step verification on or off: TOTP does.
     */
    passkeys: {
      /** Oldest first. */
      list: async () =>
        (await expectJson<{ passkeys: Passkey[] }>(await authorized('/v1/passkeys'))).passkeys,
      /**
       * Starts adding one: options for navigator.credentials.create(), bound to this session
       * (`passkey_limit_reached` at 25). Give the result to `register`.
       */
      registrationOptions: async () =>
        expectJson<PasskeyCreationOptions>(
          await authorized('/v1/passkeys/registration/options', { method: 'POST' }),
        ),
      /**
       * Finishes adding one (`passkey_not_accepted`: the ceremony expired or the origin, RP ID or
       * signature was wrong; `passkey_exists`); `name` up to 64 characters, else one by its kind.
       */
      register: async (response: PasskeyRegistration, name?: string) =>
        expectJson<Passkey>(
          await authorized('/v1/passkeys', { method: 'POST', json: { response, ...(name ? { name } : {}) } }),
        ),
      rename: async (id: string, name: string) =>
        expectJson<Passkey>(await authorized(passkeyPath(id), { method: 'PATCH', json: { name } })),
      /** It no longer signs in; the device keeps its copy until the user deletes it there. */
      remove: async (id: string): Promise<void> => authorizedOk(passkeyPath(id), { method: 'DELETE' }),
    },
    /**
     * Starts TOTP enrolment (needs a sign-in under 5 minutes old: a step-up challenge otherwise;
     * `mfa_already_enabled`). Show `qr_svg`, then confirm with `activateTotp`.
     */
    enrollTotp: async () =>
      expectJson<TotpEnrollment>(await authorized('/v1/mfa/totp/enroll', { method: 'POST' })),
    /**
     * Confirms enrolment with a first code (`wrong_code`): the 10 recovery codes, shown to the
     * user once. The session becomes aal2; the next call fetches an access token that says so.
     */
    async activateTotp(code: string): Promise<string[]> {
      const { recovery_codes } = await expectJson<{ recovery_codes: string[] }>(
        await authorized('/v1/mfa/totp/activate', { method: 'POST', json: { code } }),
      );
      accessToken = undefined;
      return recovery_codes;
    },
    /** Turns TOTP off (aal2 and a fresh sign-in: a step-up challenge otherwise); every other session ends. */
    disableTotp: async (): Promise<void> => authorizedOk('/v1/mfa/totp', { method: 'DELETE' }),
    /** New recovery codes (aal2, fresh sign-in); the old ones stop working. */
    regenerateRecoveryCodes: async () =>
      (
        await expectJson<{ recovery_codes: string[] }>(
          await authorized('/v1/mfa/recovery-codes', { method: 'POST' }),
        )
      ).recovery_codes,
    /** Any Bearer call of the API, refreshed (and stepped up, with `onStepUpRequired`) as needed. */
    fetch: (path: string, init?: RequestInit & { json?: unknown }) => authorized(path, init),
    me: async () => (await expectJson<{ user: Me }>(await authorized('/v1/users/me'))).user,
    /** Sets the display name (at most 200 characters; `null` or empty clears it). */
    rename: async (name: string | null) =>
      (await expectJson<{ user: Me }>(await authorized('/v1/users/me', { method: 'PATCH', json: { name } })))
        .user,
    sessions: async () =>
      (await expectJson<{ sessions: Session[] }>(await authorized('/v1/sessions'))).sessions,
    revokeSession: async (id: string): Promise<void> =>
      authorizedOk(`/v1/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    /** Signs out every other session (this one too with `includeCurrent`): how many ended. */
    async revokeAllSessions(includeCurrent = false): Promise<number> {
      const { revoked } = await expectJson<{ revoked: number }>(
        await authorized('/v1/sessions/revoke-all', {
          method: 'POST',
          json: { include_current: includeCurrent },
        }),
      );
      if (includeCurrent) await forget();
      return revoked;
    },
    events: async (cursor?: string) =>
      expectJson<SecurityEvents>(
        await authorized(`/v1/users/me/events${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`),
      ),
    /** Deletes the account (fresh sign-in, aal2 with MFA: a step-up challenge otherwise); signs out. */
    async deleteAccount(): Promise<void> {
      await authorizedOk('/v1/users/me', { method: 'DELETE' });
      await forget();
    },
    async logout(): Promise<void> {
      const token = delivery === 'body' ? await store.get() : undefined;
      const response = await send(
        '/v1/auth/logout',
        { method: 'POST', ...(token ? { json: { refresh_token: token } } : {}) },
        token ? undefined : accessToken,
      );
      await forget();
      if (response.status !== 401) await ok(response);
    },
    /** The access token in memory, if any (to call your own APIs). */
    get accessToken() {
      return accessToken;
    },
    /** Its scheme for `Authorization: <tokenType> <accessToken>`: `DPoP` when it is bound to the key. */
    get tokenType() {
      return tokenType;
    },
    /**
     * A DPoP proof for a call to your own API (RFC 9449 §7): `htm` the method, `url` the
     * request's, `accessToken` the token sent with it (for `ath`). Undefined without `dpop`.
     */
    dpopProof: (method: string, url: string, accessToken?: string) => proof(method, url, accessToken),
    /** When the session ends unless refreshed (never past its absolute end), from the last token pair. */
    get sessionExpiresAt(): Date | undefined {
      return sessionEnd === undefined ? undefined : new Date(sessionEnd);
    },
  };
}

export type LatchkeyClient = ReturnType<typeof createLatchkeyClient>;
