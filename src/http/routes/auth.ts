import type { Context } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { authorizationToken } from '../../domain/bearer.js';
import { AuthError } from '../../domain/errors.js';
import { DEFAULT_CLIENT_ID } from '../../services/auth-flow.js';
import type { IssuedTokens, SessionLimitReached } from '../../services/types.js';
import type { RouteContext } from '../context.js';
import { keep, MFA_REQUIRED } from '../context-keys.js';
import { type AuthVariables, authorizeRequest } from '../middleware/require-auth.js';
import { requestDevice, tokenRequestDevice } from '../request.js';
import * as R from '../responses.js';
import { BAD_INPUT, BEARER_ERRORS, bearerGuard, routeTable } from '../route-table.js';
import {
  LoginBody,
  LogoutBody,
  MfaLoginBody,
  MfaTokenBody,
  PasskeySignInBody,
  RefreshBody,
  RegisterBody,
  SessionLimitBody,
  StepUpBody,
  withoutExtensions,
} from '../schemas.js';
import { cookieCount, soleCookie } from '../sole-cookie.js';

/**
 * The refresh cookie is sent to these routes only (API.md, Cookie delivery). That path rules
 * out the `__Host-` prefix (it needs `Path=/`), so the name is `__Secure-` (REFRESH_COOKIE_NAME
 * must start so): no http:// response, a network attacker's included, can set it (RFC 6265bis
 * §4.1.3.1). A sibling subdomain still can, for the parent domain and a longer path that
 * browsers send first (RFC 6265bis §8.6): a request carrying the name twice uses neither.
 */
export const REFRESH_COOKIE_PATH = '/v1/auth';
const refreshCookieOptions = {
  httpOnly: true,
  secure: true,
  sameSite: 'Strict',
  path: REFRESH_COOKIE_PATH,
} as const;

export function authRoutes(ctx: RouteContext) {
  const { config, auth, sessions, mfa, passkeys } = ctx;
  const table = routeTable<{ Variables: AuthVariables }>('/v1/auth');
  const device = (c: Context) => requestDevice(c, config, ctx.getClientIp);
  const tokenDevice = (c: Context, clientId?: string) => tokenRequestDevice(c, ctx, clientId);

  /** Token pair response (API.md, Tokens); the refresh token is left out when it went into the cookie. */
  const tokenResponse = (c: Context, tokens: IssuedTokens, delivery: 'body' | 'cookie') => {
    if (delivery === 'cookie') {
      setCookie(c, config.refreshCookieName, tokens.refreshToken, {
        ...refreshCookieOptions,
        // Remembered sessions survive the browser closing; others die with it.
        ...(tokens.remembered ? { maxAge: tokens.refreshTokenExpiresIn } : {}),
      });
    }
    return c.json({
      access_token: tokens.accessToken,
      token_type: tokens.tokenType,
      expires_in: tokens.expiresIn,
      ...(delivery === 'body' ? { refresh_token: tokens.refreshToken } : {}),
      refresh_token_expires_in: tokens.refreshTokenExpiresIn,
      session_id: tokens.sessionId,
    });
  };

  const clearRefreshCookie = (c: Context) => deleteCookie(c, config.refreshCookieName, refreshCookieOptions);
  /** Sent twice (one planted by another host), it is not used at all: see soleCookie. */
  const refreshCookie = (c: Context) => soleCookie(c, config.refreshCookieName);
  /** No usable token: say so, or that the cookie came twice, which the client cannot see itself. */
  const noRefreshToken = (c: Context, message: string) =>
    new AuthError(
      'invalid_request',
      cookieCount(c, config.refreshCookieName) > 1
        ? 'The refresh cookie was sent twice, one not set by this server: clear the cookies of this site and sign in again'
        : message,
    );

  /**
   * A cookie is sent by the browser whoever wrote the page, so a cookie refresh or logout must
   * come from an allowed origin, whatever the content type (a JSON or empty body is not a
   * CSRF defence). OWASP CSRF Prevention: verify Origin; Fetch Metadata when present.
   */
  const assertAllowedOrigin = (c: Context) => {
    const site = c.req.header('sec-fetch-site');
    const origin = c.req.header('origin');
    if (site === 'none' || !origin || !config.allowedOrigins.includes(origin)) {
      throw new AuthError('invalid_origin', 'This request must come from an allowed origin');
    }
  };

  table.route(
    {
      method: 'post',
      path: '/register',
      tag: 'auth',
      summary: 'Create an account',
      body: { schema: RegisterBody },
      ok: { status: 201, description: 'Created', schema: R.RegisteredUser },
      errors: [...BAD_INPUT, 'invalid_password', 'email_taken', 'rate_limited'],
    },
    async (c, { body }) => {
      const user = await auth.register({
        email: body.email,
        password: body.password,
        name: body.name ?? null,
        origin: device(c),
      });
      return c.json(
        {
          user: { id: user.id, email: user.email, name: user.name, created_at: user.createdAt.toISOString() },
        },
        201,
      );
    },
  );

  table.route(
    {
      method: 'post',
      path: '/login',
      tag: 'auth',
      summary: 'Log in with email and password',
      description:
        'A token pair, or `mfa_required` with an `mfa_token` when the user has MFA. Same body and timing for an unknown email and a wrong password.',
      body: { schema: LoginBody },
      ok: {
        status: 200,
        description: 'Token pair, or MFA required',
        schema: R.TokenPair,
        alternatives: [R.MfaRequired],
      },
      errors: [...BAD_INPUT, 'invalid_credentials', 'rate_limited', 'session_limit_reached'],
    },
    async (c, { body }) => {
      const result = await auth.login({
        email: body.email,
        password: body.password,
        deviceName: body.device_name ?? null,
        remember: body.remember ?? false,
        ...(body.client_id ? { clientId: body.client_id } : {}),
        delivery: body.delivery ?? 'body',
        device: await tokenDevice(c, body.client_id ?? DEFAULT_CLIENT_ID),
      });
      if ('mfaRequired' in result) {
        keep(c, MFA_REQUIRED, true);
        return c.json({ mfa_required: true, mfa_token: result.mfaToken, methods: result.methods });
      }
      if ('sessionLimitReached' in result) throw sessionLimitError(result);
      return tokenResponse(c, result, body.delivery ?? 'body');
    },
  );

  table.route(
    {
      method: 'post',
      path: '/login/mfa',
      tag: 'auth',
      summary: 'Finish an MFA login with a TOTP code, a recovery code or a passkey',
      description:
        "A passkey answers the options of `POST /v1/auth/login/mfa/passkey-options` (same `mfa_token`); a wrong one is `invalid_passkey` and spends one of the token's attempts, as a wrong code does.",
      body: { schema: MfaLoginBody },
      ok: { status: 200, description: 'Token pair with acr aal2', schema: R.TokenPair },
      errors: [...BAD_INPUT, 'invalid_code', 'invalid_passkey', 'invalid_mfa_token', 'rate_limited'],
    },
    async (c, { body }) => {
      const result = await mfa.loginWithSecondFactor({
        mfaToken: body.mfa_token,
        factor:
          'code' in body
            ? { code: body.code }
            : 'passkey' in body
              ? { passkey: withoutExtensions(body.passkey) }
              : { recoveryCode: body.recovery_code },
        device: await tokenDevice(c),
      });
      if ('sessionLimitReached' in result) throw sessionLimitError(result);
      return tokenResponse(c, result.tokens, result.delivery);
    },
  );

  table.route(
    {
      method: 'post',
      path: '/login/mfa/passkey-options',
      tag: 'passkeys',
      summary: 'Options for a passkey as the second step of an MFA login',
      description:
        "The account's passkeys as `allowCredentials`, and a challenge bound to this `mfa_token` (5 minutes, single use). Pass them to navigator.credentials.get() and send the result as `passkey` to `POST /v1/auth/login/mfa`.",
      body: { schema: MfaTokenBody },
      ok: {
        status: 200,
        description: 'PublicKeyCredentialRequestOptionsJSON',
        schema: R.PasskeyRequestOptions,
      },
      errors: [...BAD_INPUT, 'invalid_mfa_token', 'not_found', 'rate_limited'],
    },
    async (c, { body }) => c.json(await mfa.secondFactorPasskeyOptions(body.mfa_token, device(c).ipAddress)),
  );

  table.route(
    {
      method: 'post',
      path: '/passkey/options',
      tag: 'passkeys',
      summary: 'Options for signing in with a passkey (no email needed)',
      description:
        "A challenge for a discoverable credential (5 minutes, single use), user verification required: the browser offers the passkeys it holds for this site, in a dialog or in the username field's autofill (conditional mediation).",
      ok: {
        status: 200,
        description: 'PublicKeyCredentialRequestOptionsJSON',
        schema: R.PasskeyRequestOptions,
      },
      errors: ['rate_limited'],
    },
    async (c) => c.json(await passkeys.assertionOptions('sign_in', {}, device(c).ipAddress)),
  );

  table.route(
    {
      method: 'post',
      path: '/passkey',
      tag: 'passkeys',
      summary: 'Sign in with a passkey',
      description:
        'The assertion answering `POST /v1/auth/passkey/options`. A token pair at `acr` aal2 (the authenticator verified the user): `amr` is `hwk` (device-bound) or `swk` (synced), with `user` and `mfa`. The same checks as a password login follow: a disabled account, an unverified address (REQUIRE_EMAIL_VERIFICATION), the session limit.',
      body: { schema: PasskeySignInBody },
      ok: { status: 200, description: 'Token pair', schema: R.TokenPair },
      errors: [
        ...BAD_INPUT,
        'invalid_passkey',
        'account_disabled',
        'email_not_verified',
        'rate_limited',
        'session_limit_reached',
      ],
    },
    async (c, { body }) => {
      const result = await passkeys.signIn({
        response: withoutExtensions(body.response),
        deviceName: body.device_name ?? null,
        remember: body.remember ?? false,
        ...(body.client_id ? { clientId: body.client_id } : {}),
        delivery: body.delivery ?? 'body',
        device: await tokenDevice(c, body.client_id ?? DEFAULT_CLIENT_ID),
      });
      if ('sessionLimitReached' in result) throw sessionLimitError(result);
      return tokenResponse(c, result, body.delivery ?? 'body');
    },
  );

  /** SESSION_LIMIT_POLICY=reject: sign one device out and finish the held login. */
  table.route(
    {
      method: 'post',
      path: '/login/session-limit',
      tag: 'auth',
      summary: 'Sign one device out and finish a login held at the session limit',
      description:
        'With SESSION_LIMIT_POLICY=reject, a login past the limit answers 409 `session_limit_reached` with `sessions` and a `limit_token` (5 minutes, once).',
      body: { schema: SessionLimitBody },
      ok: { status: 200, description: 'Token pair', schema: R.TokenPair },
      errors: [...BAD_INPUT, 'invalid_limit_token', 'not_found', 'session_limit_reached'],
    },
    async (c, { body }) => {
      const { tokens, delivery } = await auth.completeHeldLogin({
        limitToken: body.limit_token,
        revokeSessionId: body.revoke_session_id,
        device: await tokenDevice(c),
      });
      return tokenResponse(c, tokens, delivery);
    },
  );

  table.route(
    {
      method: 'post',
      path: '/step-up',
      tag: 'auth',
      summary: 'Re-authenticate (TOTP code or passkey: aal2; password: aal1) for a fresh auth_time',
      description:
        'A passkey answers the options of `POST /v1/auth/step-up/passkey-options`; a wrong one is `wrong_passkey`.',
      security: bearerGuard(ctx),
      body: { schema: StepUpBody },
      ok: { status: 200, description: 'Token pair', schema: R.TokenPair },
      errors: [
        ...BAD_INPUT,
        ...BEARER_ERRORS,
        'wrong_code',
        'wrong_password',
        'wrong_passkey',
        'mfa_not_enabled',
        'rate_limited',
      ],
    },
    async (c, { body }) => {
      const tokens = await mfa.stepUp(
        c.get('caller'),
        'code' in body
          ? { code: body.code }
          : 'passkey' in body
            ? { passkey: withoutExtensions(body.passkey) }
            : { password: body.password },
        // The key this request proved with its bound access token, if any.
        { ...device(c), dpopJkt: c.get('dpopJkt') },
      );
      return tokenResponse(c, tokens, body.delivery ?? 'body');
    },
  );

  table.route(
    {
      method: 'post',
      path: '/step-up/passkey-options',
      tag: 'passkeys',
      summary: 'Options for a passkey step-up of this session',
      description:
        "The account's passkeys as `allowCredentials`, and a challenge bound to this session (5 minutes, single use). Send the result as `passkey` to `POST /v1/auth/step-up`.",
      security: bearerGuard(ctx),
      ok: {
        status: 200,
        description: 'PublicKeyCredentialRequestOptionsJSON',
        schema: R.PasskeyRequestOptions,
      },
      errors: [...BEARER_ERRORS, 'not_found', 'rate_limited'],
    },
    async (c) => c.json(await mfa.stepUpPasskeyOptions(c.get('caller'), device(c).ipAddress)),
  );

  table.route(
    {
      method: 'post',
      path: '/refresh',
      tag: 'auth',
      summary: 'Rotate a refresh token',
      description:
        'From the body or the refresh cookie. A token replayed after the 10 s grace window revokes its session (`refresh_token_reused`).',
      body: { schema: RefreshBody, optional: true },
      ok: { status: 200, description: 'New token pair', schema: R.TokenPair },
      errors: [...BAD_INPUT, 'invalid_grant', 'refresh_token_reused', 'invalid_origin', 'rate_limited'],
    },
    async (c, { body }) => {
      const cookie = body.refresh_token ? undefined : refreshCookie(c);
      const refreshToken = body.refresh_token ?? cookie;
      if (!refreshToken) throw noRefreshToken(c, 'refresh_token is required (in the body or the cookie)');
      if (cookie) assertAllowedOrigin(c);
      try {
        const tokens = await auth.refresh({
          refreshToken,
          ...(body.client_id ? { clientId: body.client_id } : {}),
          device: await tokenDevice(c, body.client_id ?? DEFAULT_CLIENT_ID),
        });
        return tokenResponse(c, tokens, cookie ? 'cookie' : 'body');
      } catch (error) {
        if (cookie && error instanceof AuthError) clearRefreshCookie(c);
        throw error;
      }
    },
  );

  table.route(
    {
      method: 'post',
      path: '/logout',
      tag: 'auth',
      summary: 'End a session (refresh token, Bearer token or cookie)',
      body: { schema: LogoutBody, optional: true },
      ok: { status: 204, description: 'The session is revoked' },
      errors: [...BAD_INPUT, 'invalid_token', 'invalid_origin'],
    },
    async (c, { body }) => {
      const authorization = c.req.header('authorization');
      const cookie = refreshCookie(c);
      if (body.refresh_token) {
        await auth.logoutWithRefreshToken(body.refresh_token, device(c));
      } else if (authorizationToken(authorization)) {
        // The guard's checks: a DPoP-bound token needs its proof here too (RFC 9449 §7).
        const { claims: caller } = await authorizeRequest(c, ctx);
        await sessions.revoke(caller, caller.sid);
      } else if (cookie) {
        assertAllowedOrigin(c);
        await auth.logoutWithRefreshToken(cookie, device(c));
      } else {
        throw noRefreshToken(c, 'Send a refresh_token, a Bearer access token or the refresh cookie');
      }
      if (cookie) clearRefreshCookie(c);
      return c.body(null, 204);
    },
  );

  return table.done();
}

/** The contract's 409 for a held login (API.md, SESSION_LIMIT_POLICY=reject): the sessions and a `limit_token`. */
function sessionLimitError(held: SessionLimitReached): AuthError {
  return new AuthError('session_limit_reached', held.message, {
    extra: {
      limit_token: held.limitToken,
      sessions: held.sessions.map((session) => ({
        id: session.id,
        device_name: session.deviceName,
        user_agent: session.userAgent,
        location: session.location,
        last_active_at: session.lastActiveAt.toISOString(),
      })),
    },
  });
}
