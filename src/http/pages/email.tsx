import { EMAIL_MAX_LENGTH } from '../../domain/credentials.js';
import { AuthError } from '../../domain/errors.js';
import { changeEmailToken, revertEmailToken, verifyEmailToken } from '../../services/email-address.js';
import type { Caller } from '../../services/session-service.js';
import { EMAIL_SHAPE } from '../schemas.js';
import { clearMfaCookie, clearTokenCookies, type LinkCookie, linkCookie } from './cookies.js';
import { type PageApp, type PageContextOf, type PageDeps, text } from './env.js';
import { expected, problemText } from './failures.js';
import { pageOf } from './render.js';
import { securityPage } from './security.js';
import {
  ChangeEmailTakenPage,
  ChangeLinkInvalidPage,
  CONFIRM_PATH,
  ConfirmChangePage,
  EmailChangedPage,
  EmailRevertedPage,
  EmailVerifiedPage,
  lifetime,
  REVERT_PATH,
  RevertChangePage,
  RevertEmailTakenPage,
  RevertLinkInvalidPage,
  VERIFY_PATH,
  VerifyEmailPage,
  VerifyLinkInvalidPage,
  VerifySentPage,
} from './views/email.js';

/**
 * How long a link's token may wait in its cookie between the link's GET and the button's POST:
 * the time to read one page, never longer than the token itself lives. The token's life is the
 * service's to judge; this only keeps a week-long revert token from lingering in the browser.
 */
const LINK_COOKIE_MAX_SECONDS = 30 * 60;

/**
 * The address of an account on the pages (issue #17, flow 5): the links of the verification,
 * change and "this wasn't me" mails, and on the security page the confirmation link sent again
 * and the change of address. The same service as the JSON API (services/email-address.ts)
 * decides everything: the tokens, the limits, the freshness an address change needs.
 */
export function emailPages(app: PageApp, deps: PageDeps): void {
  const { emailAddress, mfa, device, config } = deps;
  const { signedIn, adopt } = deps.session;
  const security = securityPage(deps);
  const mail = config.mail;

  const verifyCookie = linkCookie(
    '__Host-latchkey_account_verify',
    verifyEmailToken.isWellFormed,
    Math.min(mail.emailVerificationTtlSeconds, LINK_COOKIE_MAX_SECONDS),
  );
  const changeCookie = linkCookie(
    '__Host-latchkey_account_change',
    changeEmailToken.isWellFormed,
    Math.min(mail.emailChangeTtlSeconds, LINK_COOKIE_MAX_SECONDS),
  );
  const revertCookie = linkCookie(
    '__Host-latchkey_account_revert',
    revertEmailToken.isWellFormed,
    Math.min(mail.emailRevertTtlSeconds, LINK_COOKIE_MAX_SECONDS),
  );

  /**
   * A link's GET: with `?token=`, into the cookie and 303 to the same page without it (a
   * malformed token is told at once); without, the page and its button if the cookie holds a
   * token. A GET never uses the token: mail scanners fetch links (see ./views/email.tsx).
   */
  const linkPage =
    (
      path: string,
      cookie: LinkCookie,
      isWellFormed: (token: string) => boolean,
      page: (c: PageContextOf) => Response | Promise<Response>,
      invalid: (c: PageContextOf) => Response | Promise<Response>,
    ) =>
    (c: PageContextOf) => {
      const fromLink = c.req.query('token');
      if (fromLink !== undefined) {
        const token = text(fromLink);
        if (!isWellFormed(token)) return invalid(c);
        cookie.set(c, token);
        return c.redirect(path, 303);
      }
      return cookie.read(c) ? page(c) : invalid(c);
    };

  // --- Verification ----------------------------------------------------------------------------

  const verifyInvalid = (c: PageContextOf) => {
    verifyCookie.clear(c);
    return c.html(<VerifyLinkInvalidPage page={pageOf(c)} />, 400);
  };

  app.get(
    '/email/verify',
    linkPage(
      VERIFY_PATH,
      verifyCookie,
      verifyEmailToken.isWellFormed,
      (c) => c.html(<VerifyEmailPage page={pageOf(c)} />),
      verifyInvalid,
    ),
  );

  app.post('/email/verify', async (c) => {
    const token = verifyCookie.read(c);
    if (!token) return verifyInvalid(c);
    try {
      const { email } = await emailAddress.verifyEmail({ token, device: device(c) });
      verifyCookie.clear(c);
      return c.html(<EmailVerifiedPage page={pageOf(c)} email={email} />);
    } catch (error) {
      expected(error, 'invalid_email_token');
      return verifyInvalid(c);
    }
  });

  /** A new link from the invalid-link page: one answer for every address (no enumeration). */
  app.post('/email/verify/resend', async (c) => {
    const email = text((await c.req.parseBody()).email).trim();
    const again = (status: 400 | 429, error?: string, notice?: { kind: 'error'; text: string }) =>
      c.html(<VerifyLinkInvalidPage page={pageOf(c)} email={email} error={error} notice={notice} />, status);
    if (!email) return again(400, 'Enter your email address.');
    // As the API's body (ForgotPasswordBody): bounded, then the shape of an address.
    if (email.length > EMAIL_MAX_LENGTH || !EMAIL_SHAPE.test(email))
      return again(400, 'Enter an email address, like name@example.com.');
    try {
      await emailAddress.resendVerification({ email, device: device(c) });
    } catch (error) {
      return again(429, undefined, { kind: 'error', text: problemText(c, expected(error, 'rate_limited')) });
    }
    return c.html(
      <VerifySentPage page={pageOf(c)} email={email} lifetime={lifetime(mail.emailVerificationTtlSeconds)} />,
    );
  });

  // --- Change, confirmed from the new address --------------------------------------------------

  const changeInvalid = (c: PageContextOf) => {
    changeCookie.clear(c);
    return c.html(<ChangeLinkInvalidPage page={pageOf(c)} />, 400);
  };

  app.get(
    '/email/confirm',
    linkPage(
      CONFIRM_PATH,
      changeCookie,
      changeEmailToken.isWellFormed,
      (c) => c.html(<ConfirmChangePage page={pageOf(c)} />),
      changeInvalid,
    ),
  );

  app.post('/email/confirm', async (c) => {
    const token = changeCookie.read(c);
    if (!token) return changeInvalid(c);
    try {
      const { email } = await emailAddress.confirmChange({ token, device: device(c) });
      changeCookie.clear(c);
      return c.html(<EmailChangedPage page={pageOf(c)} email={email} />);
    } catch (error) {
      const failure = expected(error, 'invalid_email_token', 'email_taken');
      if (failure.code === 'invalid_email_token') return changeInvalid(c);
      changeCookie.clear(c);
      return c.html(<ChangeEmailTakenPage page={pageOf(c)} />, 409);
    }
  });

  // --- Change, undone from the old address ("this wasn't me") ---------------------------------

  const revertInvalid = (c: PageContextOf) => {
    revertCookie.clear(c);
    return c.html(<RevertLinkInvalidPage page={pageOf(c)} />, 400);
  };

  app.get(
    '/email/revert',
    linkPage(
      REVERT_PATH,
      revertCookie,
      revertEmailToken.isWellFormed,
      (c) => c.html(<RevertChangePage page={pageOf(c)} />),
      revertInvalid,
    ),
  );

  app.post('/email/revert', async (c) => {
    const token = revertCookie.read(c);
    if (!token) return revertInvalid(c);
    try {
      const { email } = await emailAddress.revertChange({ token, device: device(c) });
      // Every session of the account has ended, this browser's too: its cookies go with them.
      revertCookie.clear(c);
      clearTokenCookies(c);
      clearMfaCookie(c);
      return c.html(<EmailRevertedPage page={pageOf(c)} email={email} />);
    } catch (error) {
      const failure = expected(error, 'invalid_email_token', 'email_taken');
      if (failure.code === 'invalid_email_token') return revertInvalid(c);
      revertCookie.clear(c);
      return c.html(<RevertEmailTakenPage page={pageOf(c)} />, 409);
    }
  });

  // --- The security page: the confirmation link again, and a new address ----------------------

  app.post('/security/email/resend', signedIn, async (c) => {
    const email = c.get('email');
    try {
      await emailAddress.resendVerification({ email, device: device(c) });
    } catch (error) {
      const failure = expected(error, 'rate_limited');
      return security.render(c, 429, {}, { kind: 'error', text: problemText(c, failure) });
    }
    // The per-address limit is silent (as the API's 202): the notice says so.
    return security.render(
      c,
      200,
      {},
      {
        kind: 'info',
        text: `A new confirmation link is on its way to ${email}, unless several were sent in the last hour. It works once, for ${lifetime(mail.emailVerificationTtlSeconds)}; only the newest link works.`,
      },
    );
  });

  /**
   * A new address, with the current password. The change needs a fresh sign-in, at aal2 when
   * the account has MFA (RFC 9470; the service decides, services/email-address.ts): when it
   * answers `insufficient_user_authentication`, the form's own factor steps the session up
   * (the password without MFA, the code with it; as the security page's enrolment and MFA
   * forms do) and the change is asked for once more as the stepped-up caller.
   */
  app.post('/security/email', signedIn, async (c) => {
    const body = await c.req.parseBody();
    const email = text(body.email).trim();
    const password = text(body.password);
    const code = text(body.code).trim();
    const again = (
      status: 200 | 400 | 401 | 403 | 409 | 429,
      errors: Parameters<typeof security.render>[2],
      notice?: { kind: 'info' | 'error'; text: string },
      askCode = false,
    ) => security.render(c, status, errors, notice, { value: email, askCode });

    if (!email) return again(400, { email: 'Enter the new address.' });
    // As the API's body (ChangeEmailBody): bounded, then the shape of an address.
    if (email.length > EMAIL_MAX_LENGTH || !EMAIL_SHAPE.test(email))
      return again(400, { email: 'Enter an email address, like name@example.com.' });
    if (!password) return again(400, { emailPassword: 'Enter your current password.' });

    const request = (caller: Caller) =>
      emailAddress.requestChange(caller, { email, password, device: device(c) });
    let pendingEmail: string;
    try {
      try {
        ({ pendingEmail } = await request(c.get('caller')));
      } catch (error) {
        if (!(error instanceof AuthError) || error.code !== 'insufficient_user_authentication') throw error;
        if (c.get('mfaEnabled') && !code)
          return again(
            401,
            {
              emailCode:
                'Enter the code from your authenticator app: changing the address needs a fresh one.',
            },
            undefined,
            true,
          );
        const factor = c.get('mfaEnabled') ? { code } : { password };
        const caller = await adopt(c, await mfa.stepUp(c.get('caller'), factor, device(c)));
        // The page shown next judges its forms by the stepped-up session.
        c.set('caller', caller);
        ({ pendingEmail } = await request(caller));
      }
    } catch (error) {
      const failure = expected(
        error,
        'wrong_password',
        'wrong_code',
        'email_taken',
        'invalid_request',
        'rate_limited',
      );
      switch (failure.code) {
        case 'rate_limited':
          return again(429, {}, { kind: 'error', text: problemText(c, failure) });
        case 'wrong_password':
          return again(403, { emailPassword: failure.description });
        case 'wrong_code':
          return again(403, { emailCode: failure.description }, undefined, true);
        case 'email_taken':
          return again(409, { email: 'Another account has this address.' });
        default:
          return again(400, { email: failure.description });
      }
    }
    // Nothing changes until the new address confirms (OWASP ASVS V3.7); the form starts empty.
    return security.render(
      c,
      200,
      {},
      {
        kind: 'info',
        text: `We sent a link to ${pendingEmail}. The change happens when you use it; until then your address stays ${c.get('email')}, which we told about the change.`,
      },
    );
  });
}
