import { describeUserAgent } from './format.js';
import { CodeField, Csrf, Field, Layout, type Notice, type PageContext, When } from './layout.js';
import { NeedsJavaScript, PASSKEY_URLS, PasskeyForm } from './passkeys.js';
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
  /** A passkey the server refused (shown in the passkey form, where the script shows its own). */
  passkeyError?: string | undefined;
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
          // `webauthn`: the browser also offers this site's passkeys in the field's autofill
          // (WebAuthn Level 3 §5.1.4, conditional mediation; the autofill form below asks).
          autocomplete="username webauthn"
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
          <input
            type="checkbox"
            id="sign-in-remember"
            name="remember"
            value="yes"
            checked={props.remember ?? false}
          />
          Remember this device for {props.rememberFor}
        </label>
        <div class="actions">
          <button type="submit">Sign in</button>
          <a href="/account/password/forgot">Forgot password?</a>
        </div>
      </form>
      {/* Passkeys offered in the email field's autofill, and by this button without an email. */}
      <PasskeyForm
        page={props.page}
        kind="autofill"
        action={PASSKEY_URLS.signIn}
        optionsUrl={PASSKEY_URLS.signInOptions}
        label="Sign in with a passkey"
        buttonClass="secondary"
        class="card"
        error={props.passkeyError}
      >
        <p>Or use a passkey: no email or password needed.</p>
        {/* The same choices as the password form (ACCOUNT_SCRIPT copies them, `data-mirror`). */}
        <input
          type="hidden"
          name="remember"
          value={props.remember ? 'yes' : ''}
          data-mirror="sign-in-remember"
        />
        <input type="hidden" name="device_name" value="" data-mirror="sign-in-device_name" />
      </PasskeyForm>
      <NeedsJavaScript text="Signing in with a passkey needs JavaScript." />
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
  errors?: { code?: string; passkey?: string };
  /** The account has a passkey: offer it in place of the code (the login's `methods`). */
  passkey?: boolean;
}) {
  // The query keeps the passkey offered when the page comes back after a wrong code.
  const action = props.passkey ? `${MFA_PATH}?passkey=1` : MFA_PATH;
  return (
    <Layout page={props.page} title="Two-step verification" notice={props.notice}>
      <form method="post" action={action} class="card" novalidate>
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
      {props.passkey ? (
        <PasskeyForm
          page={props.page}
          kind="authenticate"
          action={action}
          optionsUrl={PASSKEY_URLS.mfaOptions}
          label="Use a passkey"
          buttonClass="secondary"
          class="card"
          error={props.errors?.passkey}
        >
          <p>Or confirm with one of your passkeys instead of a code.</p>
        </PasskeyForm>
      ) : null}
    </Layout>
  );
}

/** The second step of the page sign-in. */
export const MFA_PATH = '/account/sign-in/mfa';

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
