import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { AuthError, type AuthErrorCode } from '../../domain/errors.js';
import { randomToken } from '../../lib/crypto.js';
import type { Caller } from '../../services/session-service.js';
import { qrCodeSvg, totpUri } from '../../services/totp.js';
import type { IssuedTokens, SessionLimitReached } from '../../services/types.js';
import type { RouteContext } from '../context.js';
import { STATUS } from '../errors.js';
import { requestDevice } from '../request.js';
import { FRESH_AUTH_SECONDS } from '../routes/mfa.js';
import { SessionIdParam } from '../schemas.js';
import { AdminStepUpPage, AnalyticsPage } from './admin-page.js';
import {
  clearLimitCookie,
  clearMfaCookie,
  clearTokenCookies,
  conflictingTokenCookies,
  csrfMatches,
  csrfToken,
  limitCookie,
  mfaCookie,
  setLimitCookie,
  setMfaCookie,
  setTokenCookies,
  tokenCookies,
} from './cookies.js';
import type { Notice, PageContext } from './layout.js';
import {
  ActivityPage,
  MessagePage,
  MfaPage,
  RecoveryCodesPage,
  type SecurityErrors,
  SecurityPage,
  SessionLimitPage,
  SessionsPage,
  SignInPage,
  SignOutOthersPage,
  TotpSetupPage,
} from './pages.js';

type PageEnv = {
  Variables: { nonce: string; caller: Caller; email: string; mfaEnabled: boolean; admin: boolean };
};
type PageContextOf = Context<PageEnv>;

const SIGN_IN = '/account/sign-in';
const SESSIONS = '/account/sessions';
const SECURITY = '/account/security';
const EVENTS_PER_PAGE = 25;
/** A TOTP secret as `newTotpSecret` makes it (base32), echoed by the set-up form. */
const BASE32_SECRET = /^[A-Z2-7]{16,64}$/;

/**
 * A form field as text, bounded before anything parses it (issue #15 §2): the longest field
 * we take is a password (API.md's 1024); a longer value reads as empty, so it gets the
 * field's "enter …" error rather than reaching a service.
 */
const FORM_FIELD_MAX = 1024;
const text = (value: unknown): string =>
  typeof value === 'string' && value.length <= FORM_FIELD_MAX ? value : '';

/** Messages named in a redirect's `?notice=`: a fixed list, so a link cannot put words on the page. */
function noticeOf(query: Record<string, string>): Notice | undefined {
  const n = Number.parseInt(query.n ?? '', 10);
  const count = Number.isSafeInteger(n) && n >= 0 ? n : 0;
  const devices = (k: number) => (k === 1 ? '1 other device' : `${k} other devices`);
  switch (query.notice) {
    case 'ended':
      return { kind: 'info', text: 'Your session has ended. Sign in again to continue.' };
    case 'signed_out':
      return { kind: 'info', text: 'You are signed out.' };
    case 'mfa_restart':
      return { kind: 'error', text: 'That sign-in expired or had too many wrong codes. Sign in again.' };
    case 'revoked':
      return { kind: 'info', text: 'The device was signed out.' };
    case 'gone':
      return { kind: 'info', text: 'That device was already signed out.' };
    case 'others':
      return { kind: 'info', text: `Signed out of ${devices(count)}.` };
    case 'password':
      return {
        kind: 'info',
        text: `Your password was changed${count > 0 ? ` and ${devices(count)} signed out` : ''}.`,
      };
    case 'mfa_off':
      return {
        kind: 'info',
        text: `Two-step verification is off${count > 0 ? `; ${devices(count)} signed out` : ''}.`,
      };
    default:
      return undefined;
  }
}

/**
 * What a page says about a failure: for `rate_limited`, "Too many attempts. Try again in 4
 * minutes." with `Retry-After` set on the answer; otherwise the error's own description.
 */
function problemText(c: Context, error: AuthError): string {
  if (error.code !== 'rate_limited') return error.description;
  const seconds = error.retryAfterSeconds ?? 60;
  c.header('Retry-After', String(seconds));
  const wait = seconds < 90 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`;
  return `Too many attempts. Try again in ${wait}.`;
}

/** Returns the error if it is one of `codes` (the ones a form shows inline); rethrows the rest. */
function expected(error: unknown, ...codes: AuthErrorCode[]): AuthError {
  if (error instanceof AuthError && codes.includes(error.code)) return error;
  throw error;
}

/**
 * `/account`: the pages where people see and end their sessions and manage MFA, served by
 * Latchkey itself with `hono/jsx`. They call the same services as the JSON API and keep
 * tokens in cookies as an SPA with cookie delivery would (./cookies.ts).
 *
 * - CSP: nothing runs or styles the page without this response's nonce; no frames, no
 *   plugins, forms post only here (OWASP ASVS V14.4.3).
 * - CSRF: every POST needs a same-origin Fetch Metadata (or Origin) and the form's echo of
 *   the `__Host-` CSRF cookie, on top of `SameSite=Strict` token cookies (OWASP CSRF
 *   Prevention Cheat Sheet).
 */
export function accountPages(ctx: RouteContext) {
  const { auth, sessions, mfa, admin, clock, config } = ctx;
  const app = new Hono<PageEnv>();
  const issuerOrigin = new URL(config.issuer).origin;
  const device = (c: Context) => requestDevice(c, config, ctx.getClientIp);

  const pageOf = (c: PageContextOf): PageContext => ({
    // Unset only when the request failed before the first middleware: then no CSP names one.
    nonce: c.get('nonce') ?? randomToken(16),
    csrf: csrfToken(c),
    ...(c.var.email ? { email: c.var.email, admin: c.var.admin } : {}),
  });
  /** SESSION_LIMIT_POLICY=reject: the held login's page, its limit_token kept in a cookie. */
  const sessionLimitPage = (c: PageContextOf, held: SessionLimitReached) => {
    setLimitCookie(c, held.limitToken);
    return c.html(
      <SessionLimitPage
        page={pageOf(c)}
        message={held.message}
        sessions={held.sessions.map((session) => ({
          id: session.id,
          device_name: session.deviceName,
          user_agent: session.userAgent,
          location: session.location,
          last_active_at: session.lastActiveAt.toISOString(),
        }))}
        now={clock.now()}
      />,
      409,
    );
  };
  const message = (
    c: PageContextOf,
    title: string,
    body: string,
    status: 200 | 400 | 403 | 404 | 500 | 503,
  ) => c.html(<MessagePage page={pageOf(c)} title={title} text={body} />, status);

  app.onError((error, c) => {
    if (error instanceof AuthError && error.code === 'invalid_token') {
      // The session ended between the check and the action (revoked elsewhere): sign in again.
      clearTokenCookies(c);
      return c.redirect(`${SIGN_IN}?notice=ended`, 303);
    }
    if (error instanceof AuthError) {
      return message(c, 'That did not work', problemText(c, error), STATUS[error.code] as 400);
    }
    // Logged and classified as the JSON API does; the person gets a page, never a stack.
    const unavailable = ctx.handleError(error, c).status === 503;
    return unavailable
      ? message(
          c,
          'Temporarily unavailable',
          'The service cannot reach its database. Try again in a moment.',
          503,
        )
      : message(c, 'Something went wrong', 'The server could not finish this request. Try again.', 500);
  });

  app.use(async function pageHeaders(c, next) {
    const nonce = randomToken(16);
    c.set('nonce', nonce);
    c.header(
      'Content-Security-Policy',
      [
        "default-src 'none'",
        `script-src 'nonce-${nonce}'`,
        `style-src 'nonce-${nonce}'`,
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
      ].join('; '),
    );
    // Personal pages: never kept by a browser or a proxy.
    c.header('Cache-Control', 'no-store');
    if (c.req.method === 'POST') {
      const site = c.req.header('sec-fetch-site');
      const origin = c.req.header('origin');
      const sameOrigin = site
        ? site === 'same-origin'
        : origin === undefined || origin === issuerOrigin || origin === new URL(c.req.url).origin;
      let body: Record<string, unknown>;
      try {
        body = await c.req.parseBody();
      } catch {
        return message(c, 'That did not work', 'The form could not be read. Go back and try again.', 400);
      }
      if (!sameOrigin || !csrfMatches(c, body.csrf)) {
        return message(
          c,
          'Form expired',
          'This form is out of date or came from another site. Go back, reload the page and try again.',
          403,
        );
      }
      // As the JSON API (src/http/request.ts): no NUL reaches a service or the database.
      if (Object.values(body).some((value) => typeof value === 'string' && value.includes('\u0000')))
        return message(c, 'That did not work', 'The form contains characters that are not allowed.', 400);
    }
    await next();
  });

  /** The caller behind the cookies: the access token while it lasts, else one rotation. */
  async function signedInCaller(c: Context): Promise<Caller | undefined> {
    const { accessToken, refreshToken } = tokenCookies(c);
    if (accessToken) {
      try {
        return await sessions.authenticate(accessToken);
      } catch (error) {
        expected(error, 'invalid_token');
      }
    }
    if (refreshToken) {
      try {
        const tokens = await auth.refresh({ refreshToken, device: device(c) });
        setTokenCookies(c, tokens);
        return await sessions.authenticate(tokens.accessToken);
      } catch (error) {
        // Revoked, expired, reused or throttled: this browser is signed out.
        expected(error, 'invalid_grant', 'refresh_token_reused', 'invalid_token', 'rate_limited');
      }
    }
    if (accessToken || refreshToken) clearTokenCookies(c);
    return undefined;
  }

  const signedIn: MiddlewareHandler<PageEnv> = async (c, next) => {
    if (conflictingTokenCookies(c)) {
      return message(
        c,
        'Conflicting cookies',
        'Your browser sent two sign-in cookies for this site, one of them not set by it. Clear the cookies of this site and its parent domain, then sign in again.',
        400,
      );
    }
    const { accessToken, refreshToken } = tokenCookies(c);
    const caller = await signedInCaller(c);
    if (!caller) return c.redirect(accessToken || refreshToken ? `${SIGN_IN}?notice=ended` : SIGN_IN, 303);
    const user = await sessions.me(caller);
    c.set('caller', caller);
    c.set('email', user.email);
    c.set('mfaEnabled', user.mfaEnabled);
    c.set('admin', user.role === 'admin' && !user.disabledAt);
    await next();
  };

  /** New tokens for this browser (after a step-up) and the caller they stand for. */
  async function adopt(c: Context, tokens: IssuedTokens): Promise<Caller> {
    setTokenCookies(c, tokens);
    return sessions.authenticate(tokens.accessToken);
  }

  app.get('/', (c) => c.redirect(SESSIONS, 303));

  // --- Sign in ---------------------------------------------------------------------------

  app.get('/sign-in', async (c) => {
    if (await signedInCaller(c)) return c.redirect(SESSIONS, 303);
    return c.html(<SignInPage page={pageOf(c)} notice={noticeOf(c.req.query())} />);
  });

  app.post('/sign-in', async (c) => {
    const body = await c.req.parseBody();
    const email = text(body.email).trim();
    const password = text(body.password);
    const remember = text(body.remember) === 'yes';
    const deviceName = text(body.device_name).trim().slice(0, 100) || null;
    const again = (
      status: 400 | 401 | 403 | 429,
      errors: { email?: string; password?: string },
      notice?: Notice,
    ) =>
      c.html(
        <SignInPage page={pageOf(c)} email={email} remember={remember} errors={errors} notice={notice} />,
        status,
      );
    if (!email || !password)
      return again(400, {
        ...(email ? {} : { email: 'Enter your email address.' }),
        ...(password ? {} : { password: 'Enter your password.' }),
      });
    try {
      const result = await auth.login({
        email,
        password,
        deviceName,
        remember,
        delivery: 'cookie',
        device: device(c),
      });
      if ('mfaRequired' in result) {
        setMfaCookie(c, result.mfaToken);
        return c.redirect(`${SIGN_IN}/mfa`, 303);
      }
      if ('sessionLimitReached' in result) return sessionLimitPage(c, result);
      setTokenCookies(c, result);
      return c.redirect(SESSIONS, 303);
    } catch (error) {
      const failure = expected(
        error,
        'invalid_credentials',
        'invalid_request',
        'rate_limited',
        'account_disabled',
      );
      switch (failure.code) {
        case 'rate_limited':
          return again(429, {}, { kind: 'error', text: problemText(c, failure) });
        case 'account_disabled':
          return again(
            403,
            {},
            { kind: 'error', text: 'This account is disabled. Contact your administrator.' },
          );
        default:
          // Unknown email and wrong password read the same (API.md: invalid_credentials).
          return again(401, { password: 'The email or password is incorrect.' });
      }
    }
  });

  app.get('/sign-in/mfa', (c) => {
    if (!mfaCookie(c)) return c.redirect(SIGN_IN, 303);
    return c.html(<MfaPage page={pageOf(c)} />);
  });

  app.post('/sign-in/mfa', async (c) => {
    const mfaToken = mfaCookie(c);
    if (!mfaToken) return c.redirect(`${SIGN_IN}?notice=mfa_restart`, 303);
    const body = await c.req.parseBody();
    const code = text(body.code).trim();
    const recoveryCode = text(body.recovery_code).trim();
    if (!code && !recoveryCode)
      return c.html(
        <MfaPage page={pageOf(c)} errors={{ code: 'Enter the code, or a recovery code.' }} />,
        400,
      );
    try {
      const result = await mfa.loginWithSecondFactor({
        mfaToken,
        factor: code ? { code } : { recoveryCode },
        device: device(c),
      });
      clearMfaCookie(c);
      // An MFA user at the session limit (SESSION_LIMIT_POLICY=reject) chooses a device too.
      if ('sessionLimitReached' in result) return sessionLimitPage(c, result);
      setTokenCookies(c, result.tokens);
      return c.redirect(SESSIONS, 303);
    } catch (error) {
      const failure = expected(error, 'invalid_code', 'invalid_mfa_token', 'rate_limited');
      if (failure.code === 'invalid_mfa_token') {
        clearMfaCookie(c);
        return c.redirect(`${SIGN_IN}?notice=mfa_restart`, 303);
      }
      if (failure.code === 'rate_limited') {
        return c.html(
          <MfaPage page={pageOf(c)} notice={{ kind: 'error', text: problemText(c, failure) }} />,
          429,
        );
      }
      if (failure.extra?.attempts_left === 0) {
        // That was the last attempt this mfa_token had: the sign-in starts over.
        clearMfaCookie(c);
        return c.redirect(`${SIGN_IN}?notice=mfa_restart`, 303);
      }
      return c.html(<MfaPage page={pageOf(c)} errors={{ code: failure.description }} />, 401);
    }
  });

  app.post('/sign-in/session-limit', async (c) => {
    const limitToken = limitCookie(c);
    if (!limitToken) return c.redirect(SIGN_IN, 303);
    const body = await c.req.parseBody();
    try {
      const { tokens } = await auth.completeHeldLogin({
        limitToken,
        revokeSessionId: text(body.revoke_session_id),
        device: device(c),
      });
      clearLimitCookie(c);
      setTokenCookies(c, tokens);
      return c.redirect(SESSIONS, 303);
    } catch (error) {
      expected(error, 'invalid_limit_token', 'session_limit_reached', 'invalid_request', 'not_found');
      clearLimitCookie(c);
      return c.redirect(`${SIGN_IN}?notice=mfa_restart`, 303);
    }
  });

  app.post('/sign-out', async (c) => {
    const caller = await signedInCaller(c);
    if (caller) await sessions.revoke(caller, caller.sid).catch((error) => expected(error, 'not_found'));
    clearTokenCookies(c);
    return c.redirect(`${SIGN_IN}?notice=signed_out`, 303);
  });

  // --- Devices -----------------------------------------------------------------------------

  app.get('/sessions', signedIn, async (c) => {
    const caller = c.get('caller');
    // This device first, then the others by latest activity (as GET /v1/sessions orders them).
    const list = (await sessions.list(caller)).sort(
      (x, y) => Number(y.id === caller.sid) - Number(x.id === caller.sid),
    );
    return c.html(
      <SessionsPage
        page={pageOf(c)}
        notice={noticeOf(c.req.query())}
        sessions={list}
        currentSessionId={caller.sid}
        now={clock.now()}
      />,
    );
  });

  app.post('/sessions/:id/revoke', signedIn, async (c) => {
    const id = SessionIdParam.safeParse(c.req.param('id'));
    if (!id.success) return c.redirect(`${SESSIONS}?notice=gone`, 303);
    try {
      await sessions.revoke(c.get('caller'), id.data);
      return c.redirect(`${SESSIONS}?notice=revoked`, 303);
    } catch (error) {
      expected(error, 'not_found');
      return c.redirect(`${SESSIONS}?notice=gone`, 303);
    }
  });

  app.get('/sessions/sign-out-others', signedIn, (c) => c.html(<SignOutOthersPage page={pageOf(c)} />));

  app.post('/sessions/sign-out-others', signedIn, async (c) => {
    const revoked = await sessions.revokeAll(c.get('caller'), { includeCurrent: false });
    return c.redirect(`${SESSIONS}?notice=others&n=${revoked}`, 303);
  });

  // --- Security ----------------------------------------------------------------------------

  const isFresh = (caller: Caller) =>
    clock.now().getTime() / 1000 - caller.auth_time < FRESH_AUTH_SECONDS - 30;
  const security = (
    c: PageContextOf,
    status: 200 | 400 | 403 | 429,
    errors: SecurityErrors = {},
    notice?: Notice,
  ) =>
    c.html(
      <SecurityPage
        page={pageOf(c)}
        notice={notice ?? noticeOf(c.req.query())}
        mfaEnabled={c.get('mfaEnabled')}
        freshAuth={isFresh(c.get('caller'))}
        errors={errors}
      />,
      status,
    );
  /** A form's failure shown next to its field: wrong password or code, weak password, throttling. */
  const securityFailure = (c: PageContextOf, error: unknown, field: keyof SecurityErrors) => {
    const failure = expected(
      error,
      'wrong_password',
      'wrong_code',
      'invalid_password',
      'invalid_request',
      'rate_limited',
    );
    if (failure.code === 'rate_limited') {
      return security(c, 429, {}, { kind: 'error', text: problemText(c, failure) });
    }
    return security(c, failure.code === 'wrong_password' || failure.code === 'wrong_code' ? 403 : 400, {
      [field]: failure.description,
    });
  };

  app.get('/security', signedIn, (c) => security(c, 200));

  app.post('/security/password', signedIn, async (c) => {
    const body = await c.req.parseBody();
    const currentPassword = text(body.current_password);
    const newPassword = text(body.new_password);
    if (!currentPassword || !newPassword)
      return security(c, 400, {
        ...(currentPassword ? {} : { currentPassword: 'Enter your current password.' }),
        ...(newPassword ? {} : { newPassword: 'Enter a new password.' }),
      });
    try {
      const revoked = await sessions.changePassword(c.get('caller'), {
        currentPassword,
        newPassword,
        device: device(c),
      });
      return c.redirect(`${SECURITY}?notice=password&n=${revoked}`, 303);
    } catch (error) {
      const field =
        error instanceof AuthError && error.code === 'wrong_password' ? 'currentPassword' : 'newPassword';
      return securityFailure(c, error, field);
    }
  });

  /** Enrolment needs a fresh sign-in (API.md: fresh auth); a password re-entered here renews it. */
  app.post('/security/totp/enroll', signedIn, async (c) => {
    const body = await c.req.parseBody();
    const password = text(body.password);
    let caller = c.get('caller');
    try {
      if (password) caller = await adopt(c, await mfa.stepUp(caller, { password }, device(c)));
      else if (!isFresh(caller)) return security(c, 400, { enroll: 'Enter your password to continue.' });
      const { secret, qrSvg } = await mfa.enroll(caller);
      return c.html(<TotpSetupPage page={pageOf(c)} secret={secret} qrSvg={qrSvg} />);
    } catch (error) {
      if (error instanceof AuthError && error.code === 'mfa_already_enabled')
        return c.redirect(SECURITY, 303);
      return securityFailure(c, error, 'enroll');
    }
  });

  app.post('/security/totp/activate', signedIn, async (c) => {
    const body = await c.req.parseBody();
    try {
      const codes = await mfa.activate(c.get('caller'), text(body.code).trim());
      return c.html(
        <RecoveryCodesPage page={pageOf(c)} codes={codes} intro="Two-step verification is on." />,
      );
    } catch (error) {
      const failure = expected(error, 'wrong_code', 'rate_limited', 'mfa_already_enabled', 'mfa_not_enabled');
      const secret = text(body.secret);
      if (
        failure.code === 'mfa_already_enabled' ||
        failure.code === 'mfa_not_enabled' ||
        !BASE32_SECRET.test(secret)
      )
        return c.redirect(SECURITY, 303);
      // The same secret again (the one stored is checked, never this echo), so a scanned code still works.
      const qrSvg = qrCodeSvg(totpUri(config.totpIssuer, c.get('email'), secret));
      const problem = problemText(c, failure);
      return c.html(
        <TotpSetupPage page={pageOf(c)} secret={secret} qrSvg={qrSvg} error={problem} />,
        failure.code === 'rate_limited' ? 429 : 403,
      );
    }
  });

  /**
   * New recovery codes and turning MFA off need `aal2` and a fresh sign-in: a fresh code steps
   * the session up (RFC 9470) every time, then `action` runs as the stepped-up caller; a
   * missing or wrong code is shown at `field`.
   */
  const withFreshCode =
    (field: 'regenerate' | 'disable', action: (c: PageContextOf, caller: Caller) => Promise<Response>) =>
    async (c: PageContextOf) => {
      const code = text((await c.req.parseBody()).code).trim();
      if (!code) return security(c, 400, { [field]: 'Enter the code from your authenticator app.' });
      try {
        return await action(c, await adopt(c, await mfa.stepUp(c.get('caller'), { code }, device(c))));
      } catch (error) {
        return securityFailure(c, error, field);
      }
    };

  app.post(
    '/security/recovery-codes',
    signedIn,
    withFreshCode('regenerate', async (c, caller) =>
      c.html(
        <RecoveryCodesPage
          page={pageOf(c)}
          codes={await mfa.regenerateRecoveryCodes(caller)}
          intro="New recovery codes; the old ones no longer work."
        />,
      ),
    ),
  );

  app.post(
    '/security/totp/disable',
    signedIn,
    withFreshCode('disable', async (c, caller) =>
      c.redirect(`${SECURITY}?notice=mfa_off&n=${await mfa.disable(caller)}`, 303),
    ),
  );

  // --- Activity ----------------------------------------------------------------------------

  app.get('/activity', signedIn, async (c) => {
    const cursor = c.req.query('cursor');
    const page = await sessions.events(c.get('caller'), {
      limit: EVENTS_PER_PAGE,
      ...(cursor ? { cursor } : {}),
    });
    return c.html(
      <ActivityPage page={pageOf(c)} events={page.items} nextCursor={page.nextCursor} now={clock.now()} />,
    );
  });

  // --- Administrators ---------------------------------------------------------------------

  /** As the admin API: the role, read from the database now, and an `aal2` session. */
  const adminOnly: MiddlewareHandler<PageEnv> = async (c, next) => {
    if (!c.get('admin')) return message(c, 'Not allowed', 'This page is for administrators.', 403);
    await next();
  };

  app.get('/admin/analytics', signedIn, adminOnly, async (c) => {
    const caller = c.get('caller');
    if (caller.acr !== 'aal2')
      return c.html(<AdminStepUpPage page={pageOf(c)} mfaEnabled={c.get('mfaEnabled')} />, 401);
    const days = Number(c.req.query('days') ?? 30);
    if (!Number.isSafeInteger(days) || days < 1 || days > 90)
      return message(c, 'Analytics', 'Choose between 1 and 90 days.', 400);
    const report = await admin.analytics(days);
    return c.html(<AnalyticsPage page={pageOf(c)} report={report} />);
  });

  app.post('/admin/step-up', signedIn, adminOnly, async (c) => {
    const body = await c.req.parseBody();
    const code = text(body.code).trim();
    const again = (status: 400 | 403 | 429, error: string) =>
      c.html(<AdminStepUpPage page={pageOf(c)} mfaEnabled={c.get('mfaEnabled')} error={error} />, status);
    if (!code) return again(400, 'Enter the code from your authenticator app.');
    try {
      await adopt(c, await mfa.stepUp(c.get('caller'), { code }, device(c)));
      return c.redirect('/account/admin/analytics', 303);
    } catch (error) {
      const failure = expected(error, 'wrong_code', 'rate_limited');
      return again(failure.code === 'rate_limited' ? 429 : 403, problemText(c, failure));
    }
  });

  app.all('*', (c) => message(c, 'Page not found', 'There is no such page.', 404));

  return app;
}
