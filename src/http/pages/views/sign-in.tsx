import { describeUserAgent } from './format.js';
import { CodeField, Csrf, Field, Layout, type Notice, type PageContext, When } from './layout.js';
import { ResendLink } from './sign-up.js';

/** The sign-in flow: password, then the second factor, then (SESSION_LIMIT_POLICY=reject) a device to sign out. */

export function SignInPage(props: {
  page: PageContext;
  notice?: Notice | undefined;
  email?: string;
  remember?: boolean;
  /** How long a remembered device stays signed in (SESSION_REMEMBER_TTL), e.g. "90 days". */
  rememberFor: string;
  /** REQUIRE_EMAIL_VERIFICATION refused this address's sign-in: offer a new confirmation link. */
  unverified?: boolean;
  errors?: { email?: string; password?: string };
}) {
  return (
    <Layout page={props.page} title="Sign in" notice={props.notice}>
      <form method="post" action="/account/sign-in" class="card" novalidate>
        <Csrf page={props.page} />
        <Field
          form="sign-in"
          name="email"
          label="Email"
          type="email"
          autocomplete="username"
          inputmode="email"
          value={props.email ?? ''}
          error={props.errors?.email}
          autofocus={!props.email}
        />
        <Field
          form="sign-in"
          name="password"
          label="Password"
          type="password"
          autocomplete="current-password"
          error={props.errors?.password}
          autofocus={Boolean(props.email)}
        />
        <Field
          form="sign-in"
          name="device_name"
          label="Name this device (optional)"
          autocomplete="off"
          maxlength={100}
          required={false}
          hint="Shown in your list of devices, e.g. “Work laptop”."
        />
        <label class="check">
          <input type="checkbox" name="remember" value="yes" checked={props.remember ?? false} />
          Remember this device for {props.rememberFor}
        </label>
        <div class="actions">
          <button type="submit">Sign in</button>
          <a href="/account/password/forgot">Forgot password?</a>
        </div>
      </form>
      {props.unverified && props.email ? <ResendLink page={props.page} email={props.email} /> : null}
      {props.page.brand.signupPage ? (
        <p>
          New here? <a href="/account/sign-up">Create an account</a>
        </p>
      ) : null}
    </Layout>
  );
}

export function MfaPage(props: {
  page: PageContext;
  notice?: Notice | undefined;
  errors?: { code?: string };
}) {
  return (
    <Layout page={props.page} title="Two-step verification" notice={props.notice}>
      <form method="post" action="/account/sign-in/mfa" class="card" novalidate>
        <Csrf page={props.page} />
        <p>Enter the six-digit code from your authenticator app.</p>
        <CodeField form="mfa" error={props.errors?.code} autofocus required={false} />
        <details>
          <summary>Use a recovery code instead</summary>
          <Field
            form="mfa"
            name="recovery_code"
            label="Recovery code"
            autocomplete="off"
            required={false}
            hint="One of the codes you saved when you turned on two-step verification. Each works once."
          />
        </details>
        <div class="actions">
          <button type="submit">Verify</button>
          <a href="/account/sign-in">Start again</a>
        </div>
      </form>
    </Layout>
  );
}

/** SESSION_LIMIT_POLICY=reject: the login is held until one device is signed out. */
export function SessionLimitPage(props: {
  page: PageContext;
  message: string;
  now: Date;
  sessions: {
    id: string;
    device_name: string | null;
    user_agent: string | null;
    location: string | null;
    last_active_at: string;
  }[];
}) {
  return (
    <Layout page={props.page} title="Too many devices" notice={{ kind: 'error', text: props.message }}>
      {props.sessions.map((session) => (
        <article class="card" aria-labelledby={`limit-${session.id}`}>
          <h2 id={`limit-${session.id}`}>
            {session.device_name ?? describeUserAgent(session.user_agent) ?? 'Unknown device'}
          </h2>
          <p class="muted">
            {session.location || 'Unknown location'} · last active{' '}
            <When at={new Date(session.last_active_at)} now={props.now} />
          </p>
          <form method="post" action="/account/sign-in/session-limit">
            <Csrf page={props.page} />
            <input type="hidden" name="revoke_session_id" value={session.id} />
            <button type="submit" class="danger">
              Sign out this device and continue
            </button>
          </form>
        </article>
      ))}
    </Layout>
  );
}
