import type { SessionLimitReached } from '../../services/types.js';
import {
  clearLimitCookie,
  clearMfaCookie,
  clearTokenCookies,
  limitCookie,
  mfaCookie,
  setLimitCookie,
  setMfaCookie,
  setTokenCookies,
} from './cookies.js';
import { type PageApp, type PageContextOf, type PageDeps, SESSIONS, SIGN_IN, text } from './env.js';
import { expected, problemText } from './failures.js';
import { noticeOf } from './notices.js';
import { pageOf } from './render.js';
import { lifetime } from './views/email.js';
import type { Notice } from './views/layout.js';
import { MfaPage, SessionLimitPage, SignInPage } from './views/sign-in.js';

/**
 * Signing in and out: the password, then the second factor when the account has MFA, then
 * (SESSION_LIMIT_POLICY=reject) the device to sign out. The services answer "MFA required"
 * and "session limit reached" as typed results, so each step is a branch, not a caught error.
 */
export function signInPages(app: PageApp, deps: PageDeps): void {
  const { auth, mfa, clock, device, session } = deps;
  // SESSION_REMEMBER_TTL in words ("90 days"), as the mails' link lifetimes are written.
  const rememberFor = lifetime(deps.config.sessionRememberTtlSeconds);

  /** SESSION_LIMIT_POLICY=reject: the held login's page, its limit_token kept in a cookie. */
  const sessionLimitPage = (c: PageContextOf, held: SessionLimitReached) => {
    setLimitCookie(c, held.limitToken);
    return c.html(
      <SessionLimitPage
        page={pageOf(c)}
        message={held.message}
        sessions={held.sessions.map((limited) => ({
          id: limited.id,
          device_name: limited.deviceName,
          user_agent: limited.userAgent,
          location: limited.location,
          last_active_at: limited.lastActiveAt.toISOString(),
        }))}
        now={clock.now()}
      />,
      409,
    );
  };

  app.get('/sign-in', async (c) => {
    if (await session.signedInCaller(c)) return c.redirect(SESSIONS, 303);
    return c.html(<SignInPage page={pageOf(c)} rememberFor={rememberFor} notice={noticeOf(c.req.query())} />);
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
      unverified = false,
    ) =>
      c.html(
        <SignInPage
          page={pageOf(c)}
          email={email}
          remember={remember}
          rememberFor={rememberFor}
          unverified={unverified}
          errors={errors}
          notice={notice}
        />,
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
        'email_not_verified',
      );
      switch (failure.code) {
        case 'email_not_verified':
          // Said only after the right password (services/password-login.ts), with a way to a new link.
          return again(403, {}, { kind: 'error', text: `${failure.description}.` }, true);
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
      if (failure.attemptsLeft === 0) {
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
    const caller = await session.signedInCaller(c);
    if (caller) await deps.sessions.revoke(caller, caller.sid).catch((error) => expected(error, 'not_found'));
    clearTokenCookies(c);
    return c.redirect(`${SIGN_IN}?notice=signed_out`, 303);
  });
}
