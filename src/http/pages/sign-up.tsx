import { RegisterBody } from '../schemas.js';
import { setTokenCookies } from './cookies.js';
import { type PageApp, type PageDeps, SESSIONS, SIGN_IN, text } from './env.js';
import { expected, problemText } from './failures.js';
import { pageOf } from './render.js';
import { lifetime } from './views/email.js';
import type { Notice } from './views/layout.js';
import { SignUpCheckMailPage, type SignUpErrors, SignUpPage } from './views/sign-up.js';

/**
 * Creating an account without JavaScript (issue #20; SIGNUP_PAGE, on by default, as POST
 * /v1/auth/register is open). The form is read by the API's own body schema and the account
 * made by the same service call (`auth.register`): the password policy (length, zxcvbn
 * score), the per-network limit counted before any hashing, the verification mail and the
 * `user_registered` event are the API's, never a copy. Then, as an app would after a 201, it
 * signs in through `auth.login` (every login rule applies); with REQUIRE_EMAIL_VERIFICATION,
 * signing in waits for the link, so the page says to check the mail.
 */
export function signUpPages(app: PageApp, deps: PageDeps): void {
  const { auth, device, session, config } = deps;

  app.get('/sign-up', async (c) => {
    if (await session.signedInCaller(c)) return c.redirect(SESSIONS, 303);
    return c.html(<SignUpPage page={pageOf(c)} />);
  });

  app.post('/sign-up', async (c) => {
    const body = await c.req.parseBody();
    const name = text(body.name).trim();
    const email = text(body.email).trim();
    const password = text(body.password);
    const again = (status: 400 | 409 | 429, errors: SignUpErrors, notice?: Notice) =>
      c.html(
        <SignUpPage page={pageOf(c)} name={name} email={email} errors={errors} notice={notice} />,
        status,
      );

    // The API's body schema: the same bounds and the same shape of an address.
    const parsed = RegisterBody.safeParse({ email, password, name: name || null });
    if (!parsed.success) {
      const fields = new Set(parsed.error.issues.map((issue) => String(issue.path[0])));
      return again(400, {
        ...(fields.has('name') ? { name: 'Use at most 200 characters.' } : {}),
        ...(fields.has('email')
          ? { email: email ? 'Enter an email address, like name@example.com.' : 'Enter your email address.' }
          : {}),
        ...(fields.has('password') ? { password: 'Choose a password.' } : {}),
      });
    }
    try {
      await auth.register({ ...parsed.data, name: parsed.data.name ?? null, origin: device(c) });
    } catch (error) {
      const failure = expected(error, 'invalid_password', 'email_taken', 'rate_limited');
      switch (failure.code) {
        case 'rate_limited':
          return again(429, {}, { kind: 'error', text: problemText(c, failure) });
        case 'email_taken':
          // As the API's 409 (docs/security.md says why registration tells it).
          return again(409, {
            email: 'An account with this email already exists. Sign in, or reset its password.',
          });
        default:
          return again(400, { password: `${failure.description}.` });
      }
    }

    if (config.mail.requireEmailVerification)
      return c.html(
        <SignUpCheckMailPage
          page={pageOf(c)}
          email={parsed.data.email}
          lifetime={lifetime(config.mail.emailVerificationTtlSeconds)}
        />,
        201,
      );
    try {
      const result = await auth.login({
        email: parsed.data.email,
        password: parsed.data.password,
        deviceName: null,
        remember: false,
        delivery: 'cookie',
        device: device(c),
      });
      if ('mfaRequired' in result || 'sessionLimitReached' in result) return c.redirect(SIGN_IN, 303);
      setTokenCookies(c, result);
      return c.redirect(SESSIONS, 303);
    } catch (error) {
      // The account exists; a login limit reached meanwhile leaves signing in to the sign-in page.
      expected(error, 'rate_limited', 'invalid_credentials');
      return c.redirect(SIGN_IN, 303);
    }
  });
}
