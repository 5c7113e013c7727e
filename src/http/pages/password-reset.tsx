import { EMAIL_MAX_LENGTH } from '../../domain/credentials.js';
import { isWellFormedPasswordResetToken } from '../../services/password-reset.js';
import { EMAIL_SHAPE } from '../schemas.js';
import { clearMfaCookie, clearTokenCookies, linkCookie } from './cookies.js';
import { type PageApp, type PageContextOf, type PageDeps, text } from './env.js';
import { expected, problemText } from './failures.js';
import { pageOf } from './render.js';
import type { Notice } from './views/layout.js';
import {
  CHANGED_PATH,
  ForgotPasswordPage,
  ForgotSentPage,
  PasswordChangedPage,
  RESET_PATH,
  type ResetErrors,
  ResetLinkInvalidPage,
  ResetPasswordPage,
} from './views/password-reset.js';

/**
 * The reset token between the link and the form (linkCookie, ./cookies.ts, says how and why
 * `SameSite=Lax`). It is never written into the page, where a script could read it, and the
 * request log names the route, not the URL.
 */
const RESET_COOKIE = '__Host-latchkey_account_reset';

/**
 * Forgot password on the account pages (issue #17, flow 5): ask for a link by email, open it,
 * set the new password, and for an account with TOTP give a code or a recovery code in the
 * same form. The same service as `POST /v1/auth/password/forgot` and `/reset`: it decides
 * everything (no enumeration, the limits, the token's life, MFA); the pages only show it.
 */
export function passwordResetPages(app: PageApp, deps: PageDeps): void {
  const { passwordReset, device, config } = deps;
  const ttlSeconds = config.mail.passwordResetTtlSeconds;
  const resetCookie = linkCookie(RESET_COOKIE, isWellFormedPasswordResetToken, ttlSeconds);

  const invalidLink = (c: PageContextOf) => {
    resetCookie.clear(c);
    return c.html(<ResetLinkInvalidPage page={pageOf(c)} />, 400);
  };

  app.get('/password/forgot', (c) => c.html(<ForgotPasswordPage page={pageOf(c)} />));

  app.post('/password/forgot', async (c) => {
    const body = await c.req.parseBody();
    const email = text(body.email).trim();
    const again = (status: 400 | 429, error?: string, notice?: Notice) =>
      c.html(<ForgotPasswordPage page={pageOf(c)} email={email} error={error} notice={notice} />, status);
    if (!email) return again(400, 'Enter your email address.');
    // As the API's body (routes/password-reset.ts): bounded, then the shape of an address.
    if (email.length > EMAIL_MAX_LENGTH || !EMAIL_SHAPE.test(email))
      return again(400, 'Enter an email address, like name@example.com.');
    try {
      await passwordReset.requestReset({ email, device: device(c) });
    } catch (error) {
      // Past the network's limit (counted before the work); an address's own limit answers as ever.
      const failure = expected(error, 'rate_limited');
      return again(429, undefined, { kind: 'error', text: problemText(c, failure) });
    }
    // The same page for every address (OWASP Forgot Password Cheat Sheet: no enumeration).
    return c.html(<ForgotSentPage page={pageOf(c)} email={email} minutes={Math.round(ttlSeconds / 60)} />);
  });

  app.get('/password/reset', (c) => {
    const fromLink = c.req.query('token');
    if (fromLink !== undefined) {
      const token = text(fromLink);
      // A truncated or mangled link is told at once; a well-formed one is checked on POST.
      if (!isWellFormedPasswordResetToken(token)) return invalidLink(c);
      resetCookie.set(c, token);
      return c.redirect(RESET_PATH, 303);
    }
    if (!resetCookie.read(c)) return invalidLink(c);
    return c.html(<ResetPasswordPage page={pageOf(c)} />);
  });

  app.post('/password/reset', async (c) => {
    const token = resetCookie.read(c);
    if (!token) return invalidLink(c);
    const body = await c.req.parseBody();
    const password = text(body.password);
    const code = text(body.code).trim();
    const recoveryCode = text(body.recovery_code).trim();
    // Whether this form already had the code step: it keeps it when shown again.
    const secondFactor = text(body.second_factor) === 'yes' || code !== '' || recoveryCode !== '';
    const again = (
      status: 200 | 400 | 401 | 429,
      errors: ResetErrors,
      notice?: Notice,
      withFactor = secondFactor,
    ) =>
      c.html(
        <ResetPasswordPage
          page={pageOf(c)}
          secondFactor={withFactor}
          recoveryTried={recoveryCode !== '' && code === ''}
          errors={errors}
          notice={notice}
        />,
        status,
      );
    if (!password) return again(400, { password: 'Enter a new password.' });
    try {
      await passwordReset.resetPassword({
        token,
        password,
        factor: code ? { code } : recoveryCode ? { recoveryCode } : undefined,
        device: device(c),
      });
    } catch (error) {
      const failure = expected(
        error,
        'invalid_email_token',
        'invalid_password',
        'invalid_request',
        'mfa_required',
        'invalid_code',
        'rate_limited',
      );
      switch (failure.code) {
        case 'invalid_email_token':
          return invalidLink(c);
        case 'mfa_required':
          // A reset must not bypass MFA (issue #17). The password is asked again with the
          // code rather than carried to the next step: it is kept nowhere between requests.
          return secondFactor
            ? again(400, { code: 'Enter the code, or a recovery code.' }, undefined, true)
            : again(
                200,
                {},
                {
                  kind: 'info',
                  text: 'Your account has two-step verification. Enter the new password again, with a code from your authenticator app.',
                },
                true,
              );
        case 'invalid_code':
          // The token is still usable: the service changed nothing (the guess was counted).
          return again(401, { code: failure.description }, undefined, true);
        case 'rate_limited':
          return again(429, {}, { kind: 'error', text: problemText(c, failure) });
        default:
          return again(400, { password: failure.description });
      }
    }
    // Every session of the account has ended, this browser's too: its cookies go with them.
    resetCookie.clear(c);
    clearTokenCookies(c);
    clearMfaCookie(c);
    return c.redirect(CHANGED_PATH, 303);
  });

  app.get('/password/changed', (c) => c.html(<PasswordChangedPage page={pageOf(c)} />));
}
