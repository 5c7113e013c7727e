import type { z } from 'zod';
import type * as R from '../http/responses.js';

/**
 * `latchkey/client`: a small typed client for single-page apps, mobile apps and tests.
 * It keeps the access token in memory, refreshes it when a call answers 401 (once per call),
 * and makes parallel calls share one refresh (single flight): with rotating refresh tokens,
 * two refreshes of the same token would be a replay.
 */

export type TokenPair = z.infer<typeof R.TokenPair>;
export type MfaRequired = z.infer<typeof R.MfaRequired>;
export type Me = z.infer<typeof R.Me>['user'];
export type Session = z.infer<typeof R.Session>;
export type SecurityEvents = z.infer<typeof R.SecurityEvents>;

/** The answer of a verification or a confirmed change: the address the account has now. */
export type EmailVerified = z.infer<typeof R.EmailVerified>;
/** A reverted change: the address put back, and how many sessions were signed out. */
export type EmailChangeReverted = z.infer<typeof R.EmailChangeReverted>;
/** A requested change: nothing changes until the link sent to `pending_email` is used. */
export type EmailChangePending = z.infer<typeof R.EmailChangePending>;

/** Where the refresh token lives between page loads: nowhere in JS with cookie delivery. */
export interface RefreshTokenStore {
  get(): string | undefined | Promise<string | undefined>;
  set(token: string | undefined): void | Promise<void>;
}

export interface ClientOptions {
  /** The Latchkey server, e.g. `https://auth.example.com`. */
  baseUrl: string;
  /**
   * `cookie` (browsers, recommended): the refresh token is an HttpOnly cookie JS never sees;
   * `body`: the client keeps it in `refreshTokenStore` (mobile apps, servers, tests).
   */
  delivery?: 'cookie' | 'body';
  refreshTokenStore?: RefreshTokenStore;
  clientId?: string;
  fetch?: (input: string, init?: RequestInit) => Promise<Response>;
  /** Called when the session is over (refresh refused): show the login page. */
  onSessionEnded?: () => void;
}

/** A non-2xx answer, with the contract's error code. */
export class LatchkeyError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
    readonly wwwAuthenticate: string | null,
  ) {
    super(`${status} ${code}: ${description}`);
    this.name = 'LatchkeyError';
  }
}

async function errorOf(response: Response): Promise<LatchkeyError> {
  const body = (await response.json().catch(() => ({}))) as { error?: string; error_description?: string };
  return new LatchkeyError(
    response.status,
    body.error ?? `http_${response.status}`,
    body.error_description ?? response.statusText,
    response.headers.get('www-authenticate'),
  );
}

export function createLatchkeyClient(options: ClientOptions) {
  // No regex: lookbehind needs Safari 16.4, and /\/+$/ backtracks on a run of slashes.
  let base = options.baseUrl;
  while (base.endsWith('/')) base = base.slice(0, -1);
  const delivery = options.delivery ?? 'cookie';
  const doFetch = options.fetch ?? ((input: string, init?: RequestInit) => globalThis.fetch(input, init));
  let memoryRefreshToken: string | undefined;
  const store: RefreshTokenStore = options.refreshTokenStore ?? {
    get: () => memoryRefreshToken,
    set: (token) => {
      memoryRefreshToken = token;
    },
  };
  let accessToken: string | undefined;
  let refreshing: Promise<string> | undefined;

  const send = (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    return doFetch(`${base}${path}`, { ...init, headers, body, credentials: 'include' });
  };

  const expectJson = async <T>(response: Response): Promise<T> => {
    if (!response.ok) throw await errorOf(response);
    return (await response.json()) as T;
  };

  /** Keeps a new pair: the access token in memory, the refresh token in the store (body delivery). */
  async function keep(pair: TokenPair): Promise<TokenPair> {
    accessToken = pair.access_token;
    if (pair.refresh_token) await store.set(pair.refresh_token);
    return pair;
  }

  async function refreshOnce(): Promise<string> {
    const token = delivery === 'body' ? await store.get() : undefined;
    if (delivery === 'body' && !token) throw new LatchkeyError(401, 'invalid_grant', 'Not signed in', null);
    const response = await send('/v1/auth/refresh', {
      method: 'POST',
      json: {
        ...(token ? { refresh_token: token } : {}),
        ...(options.clientId ? { client_id: options.clientId } : {}),
      },
    });
    if (!response.ok) {
      const error = await errorOf(response);
      if (response.status === 401) {
        accessToken = undefined;
        await store.set(undefined);
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
   * A call with the access token; on a 401 `invalid_token` it refreshes (shared with any
   * parallel call) and retries once. A 401 `insufficient_user_authentication` is the
   * route asking for a step-up: it is thrown as it is.
   */
  async function authorized(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
    const withToken = (token: string | undefined) => {
      const headers = new Headers(init.headers);
      if (token) headers.set('authorization', `Bearer ${token}`);
      return send(path, { ...init, headers });
    };
    const used = accessToken ?? (await refresh());
    const response = await withToken(used);
    if (response.status !== 401) return response;
    if (!(response.headers.get('www-authenticate') ?? '').includes('error="invalid_token"')) return response;
    // Another call may have refreshed meanwhile: use its token rather than refresh again.
    const next = accessToken && accessToken !== used ? accessToken : await refresh();
    return withToken(next);
  }

  return {
    /** A password login: a token pair, or `{ mfa_required, mfa_token }` to finish with `loginMfa`. */
    async login(email: string, password: string, extra: { deviceName?: string; remember?: boolean } = {}) {
      const result = await expectJson<TokenPair | MfaRequired>(
        await send('/v1/auth/login', {
          method: 'POST',
          json: {
            email,
            password,
            delivery,
            ...(extra.deviceName ? { device_name: extra.deviceName } : {}),
            ...(extra.remember !== undefined ? { remember: extra.remember } : {}),
            ...(options.clientId ? { client_id: options.clientId } : {}),
          },
        }),
      );
      return 'mfa_required' in result ? result : keep(result);
    },
    async loginMfa(mfaToken: string, factor: { code: string } | { recoveryCode: string }) {
      const json =
        'code' in factor
          ? { mfa_token: mfaToken, code: factor.code }
          : { mfa_token: mfaToken, recovery_code: factor.recoveryCode };
      return keep(await expectJson<TokenPair>(await send('/v1/auth/login/mfa', { method: 'POST', json })));
    },
    /** Asks for a reset link by email: resolves the same whether or not the address has an account. */
    async forgotPassword(email: string): Promise<void> {
      const response = await send('/v1/auth/password/forgot', { method: 'POST', json: { email } });
      if (!response.ok) throw await errorOf(response);
    },
    /**
     * Sets a new password with the token of a reset link; every session of that user ends: sign
     * in again afterwards. An account with TOTP needs `factor` (the error `mfa_required` says
     * so; `invalid_code` for a wrong one; `invalid_email_token` for a dead link).
     */
    async resetPassword(
      token: string,
      password: string,
      factor?: { code: string } | { recoveryCode: string },
    ) {
      const json = {
        token,
        password,
        ...(factor && 'code' in factor ? { code: factor.code } : {}),
        ...(factor && 'recoveryCode' in factor ? { recovery_code: factor.recoveryCode } : {}),
      };
      const response = await send('/v1/auth/password/reset', { method: 'POST', json });
      if (!response.ok) throw await errorOf(response);
    },
    /**
     * Verifies the address with the token of a verification link (`?token=lkv_…`). No session
     * needed: whoever holds the link may use it, once. The next access token of each session
     * carries `email_verified: true` (call `refresh()` for one now). `invalid_email_token` for
     * a dead link.
     */
    verifyEmail: async (token: string) =>
      expectJson<EmailVerified>(await send('/v1/auth/email/verify', { method: 'POST', json: { token } })),
    /** Asks for a new verification link: resolves the same whether or not a mail goes out. */
    async resendVerification(email: string): Promise<void> {
      const response = await send('/v1/auth/email/verify/resend', { method: 'POST', json: { email } });
      if (!response.ok) throw await errorOf(response);
    },
    /**
     * Asks to change the signed-in user's address: a confirmation link goes to the new one and a
     * "this wasn't me" link to the current one; nothing changes until `confirmEmailChange`. Needs
     * the current password (`wrong_password`) and a recent sign-in: a 401
     * `insufficient_user_authentication` (with `wwwAuthenticate`) asks for a step-up first.
     */
    changeEmail: async (email: string, password: string) =>
      expectJson<EmailChangePending>(
        await authorized('/v1/users/me/email', { method: 'POST', json: { email, password } }),
      ),
    /** Confirms a change with the token of the link sent to the new address (`?token=lkc_…`). */
    confirmEmailChange: async (token: string) =>
      expectJson<EmailVerified>(
        await send('/v1/auth/email/change/confirm', { method: 'POST', json: { token } }),
      ),
    /**
     * "This wasn't me": undoes a change with the token of the notice sent to the old address
     * (`?token=lkr_…`). Every session of that account ends, this client's too if it is signed in
     * to it (its next call ends in `onSessionEnded`): sign in again afterwards.
     */
    revertEmailChange: async (token: string) =>
      expectJson<EmailChangeReverted>(
        await send('/v1/auth/email/change/revert', { method: 'POST', json: { token } }),
      ),
    refresh,
    /** Any Bearer call of the API, refreshed as needed. */
    fetch: authorized,
    me: async () => (await expectJson<{ user: Me }>(await authorized('/v1/users/me'))).user,
    sessions: async () =>
      (await expectJson<{ sessions: Session[] }>(await authorized('/v1/sessions'))).sessions,
    async revokeSession(id: string) {
      const response = await authorized(`/v1/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' });
      if (!response.ok) throw await errorOf(response);
    },
    events: async (cursor?: string) =>
      expectJson<SecurityEvents>(
        await authorized(`/v1/users/me/events${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`),
      ),
    async logout() {
      const token = delivery === 'body' ? await store.get() : undefined;
      const response = await send('/v1/auth/logout', {
        method: 'POST',
        ...(token ? { json: { refresh_token: token } } : {}),
        ...(!token && accessToken ? { headers: { authorization: `Bearer ${accessToken}` } } : {}),
      });
      accessToken = undefined;
      await store.set(undefined);
      if (!response.ok && response.status !== 401) throw await errorOf(response);
    },
    /** The access token in memory, if any (to call your own APIs). */
    get accessToken() {
      return accessToken;
    },
  };
}

export type LatchkeyClient = ReturnType<typeof createLatchkeyClient>;
