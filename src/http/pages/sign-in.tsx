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
import { assertionOf, optionsAnswer, postedByPasskey, sentence } from './passkey-forms.js';
import { pageOf } from './render.js';
import { lifetime } from './views/email.js';
import type { Notice } from './views/layout.js';
import { MFA_PATH, MfaPage, SessionLimitPage, SignInPage } from './views/sign-in.js';

/** What a refused passkey sign-in is told: as a wrong password, nothing about why (API.md: invalid_passkey). */
const PASSKEY_SIGN_IN_REFUSED = 'The passkey was not accepted. Try again, or sign in with your password.';

/**
 * Signing in and out: the password, then the second factor when the account has MFA, then
 * (SESSION_LIMIT_POLICY=reject) the device to sign out. The services answer "MFA required"
 * and "session limit reached" as typed results, so each step is a branch, not a caught error.
 * A passkey (issue #20) signs in on its own (discoverable, from the email field's autofill
 * or a button) or stands in for the code of the second step.
 */
export function signInPages(app: PageApp, deps: PageDeps): void {
  const { auth, mfa, passkeys, clock, device, session } = deps;
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
        // The account's passkeys are offered beside the code (the login's `methods`).
        return c.redirect(result.methods.includes('passkey') ? `${MFA_PATH}?passkey=1` : MFA_PATH, 303);
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

  /** Options for a sign-in with a passkey alone: no user named, the browser offers what it holds. */
  app.post('/sign-in/passkey/options', (c) =>
    optionsAnswer(c, () => passkeys.assertionOptions('sign_in', {}, device(c).ipAddress), ['rate_limited']),
  );

  /**
   * A passkey's assertion, from the autofill or the button: as the password's sign-in, in
   * cookies, with the same choices (remember, device name) and the same refusals on the page
   * (a refused passkey reads like a wrong password: nothing about which check failed).
   */
  app.post('/sign-in/passkey', async (c) => {
    const body = await c.req.parseBody();
    const remember = text(body.remember) === 'yes';
    const deviceName = text(body.device_name).trim().slice(0, 100) || null;
    const again = (status: 400 | 401 | 403 | 429, problem: { passkey?: string; notice?: Notice }) =>
      c.html(
        <SignInPage
          page={pageOf(c)}
          remember={remember}
          rememberFor={rememberFor}
          passkeyError={problem.passkey}
          notice={problem.notice}
        />,
        status,
      );
    const response = assertionOf(body.response);
    if (!response) return again(400, { passkey: PASSKEY_SIGN_IN_REFUSED });
    try {
      const result = await passkeys.signIn({
        response,
        deviceName,
        remember,
        delivery: 'cookie',
        device: device(c),
      });
      if ('sessionLimitReached' in result) return sessionLimitPage(c, result);
      setTokenCookies(c, result);
      return c.redirect(SESSIONS, 303);
    } catch (error) {
      const failure = expected(
        error,
        'invalid_passkey',
        'rate_limited',
        'account_disabled',
        'email_not_verified',
      );
      switch (failure.code) {
        case 'rate_limited':
          return again(429, { notice: { kind: 'error', text: problemText(c, failure) } });
        case 'account_disabled':
          return again(403, {
            notice: { kind: 'error', text: 'This account is disabled. Contact your administrator.' },
          });
        case 'email_not_verified':
          return again(403, { notice: { kind: 'error', text: sentence(failure.description) } });
        default:
          return again(401, { passkey: PASSKEY_SIGN_IN_REFUSED });
      }
    }
  });

  app.get('/sign-in/mfa', (c) => {
    if (!mfaCookie(c)) return c.redirect(SIGN_IN, 303);
    return c.html(<MfaPage page={pageOf(c)} passkey={c.req.query('passkey') === '1'} />);
  });

  /** Options for a passkey as the second step: bound to this login's `mfa_token` (its cookie). */
  app.post('/sign-in/mfa/passkey-options', async (c) => {
    const mfaToken = mfaCookie(c);
    if (!mfaToken) return c.redirect(`${SIGN_IN}?notice=mfa_restart`, 303);
    try {
      return await optionsAnswer(
        c,
        () => mfa.secondFactorPasskeyOptions(mfaToken, device(c).ipAddress),
        ['not_found', 'rate_limited'],
        { not_found: 'This account has no passkey. Enter the code from your authenticator app.' },
      );
    } catch (error) {
      // Expired or used up: the script follows the redirect to the sign-in page.
      expected(error, 'invalid_mfa_token');
      clearMfaCookie(c);
      return c.redirect(`${SIGN_IN}?notice=mfa_restart`, 303);
    }
  });

  app.post('/sign-in/mfa', async (c) => {
    const mfaToken = mfaCookie(c);
    if (!mfaToken) return c.redirect(`${SIGN_IN}?notice=mfa_restart`, 303);
    const body = await c.req.parseBody();
    const code = text(body.code).trim();
    const recoveryCode = text(body.recovery_code).trim();
    const byPasskey = postedByPasskey(body);
    const passkey = byPasskey ? assertionOf(body.response) : undefined;
    const offerPasskey = c.req.query('passkey') === '1' || byPasskey;
    const page = (errors?: { code?: string; passkey?: string }, notice?: Notice) => (
      <MfaPage page={pageOf(c)} errors={errors} notice={notice} passkey={offerPasskey} />
    );
    if (byPasskey && !passkey) return c.html(page({ passkey: 'The passkey was not accepted.' }), 400);
    if (!passkey && !code && !recoveryCode)
      return c.html(page({ code: 'Enter the code, or a recovery code.' }), 400);
    try {
      const result = await mfa.loginWithSecondFactor({
        mfaToken,
        factor: passkey ? { passkey } : code ? { code } : { recoveryCode },
        device: device(c),
      });
      clearMfaCookie(c);
      // An MFA user at the session limit (SESSION_LIMIT_POLICY=reject) chooses a device too.
      if ('sessionLimitReached' in result) return sessionLimitPage(c, result);
      setTokenCookies(c, result.tokens);
      return c.redirect(SESSIONS, 303);
    } catch (error) {
      const failure = expected(error, 'invalid_code', 'invalid_passkey', 'invalid_mfa_token', 'rate_limited');
      if (failure.code === 'invalid_mfa_token') {
        clearMfaCookie(c);
        return c.redirect(`${SIGN_IN}?notice=mfa_restart`, 303);
      }
      if (failure.code === 'rate_limited') {
        return c.html(page(undefined, { kind: 'error', text: problemText(c, failure) }), 429);
      }
      if (failure.attemptsLeft === 0) {
        // That was the last attempt this mfa_token had: the sign-in starts over.
        clearMfaCookie(c);
        return c.redirect(`${SIGN_IN}?notice=mfa_restart`, 303);
      }
      // "The passkey was not accepted (4 attempts left)": in the passkey's form, a code's at the code.
      return c.html(page(passkey ? { passkey: failure.description } : { code: failure.description }), 401);
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
