import { CodeField, Csrf, Field, Layout, type Notice, type PageContext } from './layout.js';

/**
 * Forgot password (issue #17, flow 5): ask for a link, the answer that is the same for every
 * address, the new password with the second factor when the account has one, and the pages
 * that end the flow.
 */

export const FORGOT_PATH = '/account/password/forgot';
export const RESET_PATH = '/account/password/reset';
export const CHANGED_PATH = '/account/password/changed';

export function ForgotPasswordPage(props: {
  page: PageContext;
  notice?: Notice | undefined;
  email?: string;
  error?: string | undefined;
}) {
  return (
    <Layout page={props.page} title="Forgot your password?" notice={props.notice}>
      <form method="post" action={FORGOT_PATH} class="card" novalidate>
        <Csrf page={props.page} />
        <p>Enter the email address of your account. We will send you a link to set a new password.</p>
        <Field
          form="forgot"
          name="email"
          label="Email"
          type="email"
          autocomplete="username"
          inputmode="email"
          maxlength={254}
          value={props.email ?? ''}
          error={props.error}
          autofocus
        />
        <div class="actions">
          <button type="submit">Send the link</button>
          <a href="/account/sign-in">Back to sign in</a>
        </div>
      </form>
    </Layout>
  );
}

/** The answer to every well-formed request, whether or not the address has an account (OWASP: no enumeration). */
export function ForgotSentPage(props: { page: PageContext; email: string; minutes: number }) {
  return (
    <Layout page={props.page} title="Check your email">
      <section class="card">
        <p>
          If there is an account for <strong>{props.email}</strong>, we have sent it a link to set a new
          password. The link works once, for {props.minutes} minutes.
        </p>
        <p class="muted">
          Nothing arrived? Check the spam folder and the address above, then ask again. Only the newest link
          works.
        </p>
        <div class="actions">
          <a href={FORGOT_PATH}>Ask for another link</a>
          <a href="/account/sign-in">Back to sign in</a>
        </div>
      </section>
    </Layout>
  );
}

export interface ResetErrors {
  password?: string;
  code?: string;
}

/**
 * The new password. With `secondFactor`, also the code step of an account with two-step
 * verification: the password is typed again with the code, because the pages keep it nowhere
 * between two requests (not in the HTML, not in a cookie, not on the server).
 */
export function ResetPasswordPage(props: {
  page: PageContext;
  notice?: Notice | undefined;
  secondFactor?: boolean;
  /** The recovery code was the factor tried: its part of the form starts open. */
  recoveryTried?: boolean;
  errors?: ResetErrors;
}) {
  const errors = props.errors ?? {};
  return (
    <Layout page={props.page} title="Set a new password" notice={props.notice}>
      <form method="post" action={RESET_PATH} class="card" novalidate>
        <Csrf page={props.page} />
        <Field
          form="reset"
          name="password"
          label="New password"
          type="password"
          autocomplete="new-password"
          hint={
            props.secondFactor
              ? 'Type it again with each code: it is not kept between tries. 8 to 128 characters; common passwords are refused.'
              : '8 to 128 characters; common passwords are refused. Every device signed in to your account is signed out.'
          }
          error={errors.password}
          autofocus={!errors.code}
        />
        {props.secondFactor ? (
          <>
            <input type="hidden" name="second_factor" value="yes" />
            <CodeField form="reset" error={errors.code} autofocus={Boolean(errors.code)} required={false} />
            <details open={props.recoveryTried ?? false}>
              <summary>Use a recovery code instead</summary>
              <Field
                form="reset"
                name="recovery_code"
                label="Recovery code"
                autocomplete="off"
                required={false}
                hint="One of the codes you saved when you turned on two-step verification. Each works once."
              />
            </details>
          </>
        ) : null}
        <div class="actions">
          <button type="submit">Set the new password</button>
        </div>
      </form>
    </Layout>
  );
}

/** Every unusable link reads the same: unknown, forged, truncated, expired, used or replaced. */
export function ResetLinkInvalidPage(props: { page: PageContext }) {
  return (
    <Layout page={props.page} title="This link cannot be used">
      <section class="card">
        <p>
          The password reset link is invalid, has expired or was already used. A link works once, for a
          limited time, and only the newest one you asked for.
        </p>
        <div class="actions">
          <a class="button" href={FORGOT_PATH}>
            Ask for a new link
          </a>
          <a href="/account/sign-in">Back to sign in</a>
        </div>
      </section>
    </Layout>
  );
}

export function PasswordChangedPage(props: { page: PageContext }) {
  return (
    <Layout page={props.page} title="Password changed">
      <section class="card">
        <p>Your new password is set. Every device that was signed in to your account has been signed out.</p>
        <div class="actions">
          <a class="button" href="/account/sign-in">
            Sign in
          </a>
        </div>
      </section>
    </Layout>
  );
}
