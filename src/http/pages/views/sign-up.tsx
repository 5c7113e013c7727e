import { RESEND_PATH } from './email.js';
import { Csrf, Field, Layout, type Notice, type PageContext } from './layout.js';

/** Creating an account on the account pages (SIGNUP_PAGE): the same rules as POST /v1/auth/register. */

export interface SignUpErrors {
  name?: string;
  email?: string;
  password?: string;
}

export function SignUpPage(props: {
  page: PageContext;
  notice?: Notice | undefined;
  name?: string;
  email?: string;
  errors?: SignUpErrors;
}) {
  const errors = props.errors ?? {};
  return (
    <Layout page={props.page} title="Create an account" notice={props.notice}>
      <form method="post" action="/account/sign-up" class="card" novalidate>
        <Csrf page={props.page} />
        <Field
          form="sign-up"
          name="name"
          label="Your name (optional)"
          autocomplete="name"
          maxlength={200}
          required={false}
          value={props.name ?? ''}
          error={errors.name}
        />
        <Field
          form="sign-up"
          name="email"
          label="Email"
          type="email"
          autocomplete="username"
          inputmode="email"
          maxlength={254}
          value={props.email ?? ''}
          error={errors.email}
          autofocus={!props.email || Boolean(errors.email)}
        />
        <Field
          form="sign-up"
          name="password"
          label="Password"
          type="password"
          autocomplete="new-password"
          hint="8 to 128 characters; common and easily guessed passwords are refused. A few unrelated words make a good one."
          error={errors.password}
          autofocus={Boolean(props.email) && !errors.email}
        />
        <div class="actions">
          <button type="submit">Create account</button>
        </div>
      </form>
      <p>
        Already have an account? <a href="/account/sign-in">Sign in</a>
      </p>
    </Layout>
  );
}

/** A new confirmation link for this address (the email pages' resend form, one answer for every address). */
export const ResendLink = (props: { page: PageContext; email: string }) => (
  <form method="post" action={RESEND_PATH} class="actions">
    <Csrf page={props.page} />
    <input type="hidden" name="email" value={props.email} />
    <button type="submit" class="secondary">
      Send a new link
    </button>
    <a href="/account/sign-in">Sign in</a>
  </form>
);

/** REQUIRE_EMAIL_VERIFICATION: the account exists; signing in waits for the link in the mail. */
export function SignUpCheckMailPage(props: { page: PageContext; email: string; lifetime: string }) {
  return (
    <Layout
      page={props.page}
      title="Check your email"
      notice={{ kind: 'success', text: 'Your account was created.' }}
    >
      <p>
        We sent a link to <strong>{props.email}</strong>. Open it to confirm the address; then you can sign
        in. The link works once, for {props.lifetime}.
      </p>
      <p class="muted">Nothing arrived? Check the spam folder and the address above.</p>
      <ResendLink page={props.page} email={props.email} />
    </Layout>
  );
}
