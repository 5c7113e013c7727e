import { CodeField, Csrf, Field, Layout, type Notice, type PageContext } from './layout.js';
import {
  PASSKEY_URLS,
  type PasskeyErrors,
  PasskeyForm,
  type PasskeysForm,
  PasskeysSection,
} from './passkeys.js';

/** The security page (MFA and password) and the two pages that follow its forms. */

export interface SecurityErrors extends PasskeyErrors {
  enroll?: string;
  regenerate?: string;
  disable?: string;
  /** A passkey that did not confirm new recovery codes, turning MFA off, a change of address. */
  regeneratePasskey?: string;
  disablePasskey?: string;
  emailPasskey?: string;
  currentPassword?: string;
  newPassword?: string;
  /** The change of address: the new one, the current password, the code of an MFA step-up. */
  email?: string;
  emailPassword?: string;
  emailCode?: string;
}

/** The address of the account and the form that changes it. */
export interface EmailForm {
  address: string;
  verified: boolean;
  /** What was typed as the new address, kept when the form comes back with an error. */
  value: string;
  /** Whether the change needs a fresh code (MFA, and the sign-in is not fresh enough). */
  askCode: boolean;
}

export function SecurityPage(props: {
  page: PageContext;
  notice?: Notice | undefined;
  mfaEnabled: boolean;
  /** Whether the sign-in is recent enough (RFC 9470 max_age) to start enrolment without a password. */
  freshAuth: boolean;
  email: EmailForm;
  passkeys: PasskeysForm;
  errors?: SecurityErrors;
}) {
  const errors = props.errors ?? {};
  // A passkey confirms what a code confirms (RFC 9470 step-up, services/mfa-service.ts).
  const hasPasskeys = props.passkeys.list.length > 0;
  return (
    <Layout page={props.page} title="Security" section="security" notice={props.notice}>
      <EmailSection page={props.page} email={props.email} errors={errors} hasPasskeys={hasPasskeys} />
      <section class="card" aria-labelledby="mfa-title">
        <h2 id="mfa-title">
          Two-step verification{' '}
          {props.mfaEnabled ? <span class="badge current">On</span> : <span class="badge">Off</span>}
        </h2>
        {props.mfaEnabled ? (
          <>
            <p>
              {hasPasskeys
                ? 'Signing in with your password asks for a code from your authenticator app, a passkey or a recovery code.'
                : 'Signing in asks for a code from your authenticator app, or a recovery code.'}
            </p>
            <form method="post" action="/account/security/recovery-codes" class="step" novalidate>
              <Csrf page={props.page} />
              <h3>New recovery codes</h3>
              <p class="muted">Your old codes stop working.</p>
              <FreshCodeField
                form="regenerate"
                label="Code to get new recovery codes"
                error={errors.regenerate}
              />
              <button type="submit" class="secondary">
                Generate new recovery codes
              </button>
            </form>
            {hasPasskeys ? (
              <PasskeyForm
                page={props.page}
                kind="authenticate"
                action="/account/security/recovery-codes"
                optionsUrl={PASSKEY_URLS.stepUpOptions}
                label="Generate them with a passkey instead"
                buttonClass="secondary"
                class="alt"
                error={errors.regeneratePasskey}
              />
            ) : null}
            <form method="post" action="/account/security/totp/disable" class="step" novalidate>
              <Csrf page={props.page} />
              <h3>Turn off two-step verification</h3>
              <p class="muted">Every other device is signed out.</p>
              <FreshCodeField
                form="disable"
                label="Code to turn off two-step verification"
                error={errors.disable}
              />
              <button type="submit" class="danger">
                Turn off two-step verification
              </button>
            </form>
            {hasPasskeys ? (
              <PasskeyForm
                page={props.page}
                kind="authenticate"
                action="/account/security/totp/disable"
                optionsUrl={PASSKEY_URLS.stepUpOptions}
                label="Turn it off with a passkey instead"
                buttonClass="danger"
                class="alt"
                error={errors.disablePasskey}
              />
            ) : null}
          </>
        ) : (
          <form method="post" action="/account/security/totp/enroll" novalidate>
            <Csrf page={props.page} />
            <p>Protect your account with a code from an authenticator app each time you sign in.</p>
            {props.freshAuth && !errors.enroll ? null : (
              <Field
                form="enroll"
                name="password"
                label="Confirm your password"
                type="password"
                autocomplete="current-password"
                error={errors.enroll}
              />
            )}
            <button type="submit">Set up an authenticator app</button>
          </form>
        )}
      </section>
      <PasskeysSection
        page={props.page}
        passkeys={props.passkeys}
        mfaEnabled={props.mfaEnabled}
        errors={errors}
      />
      <section class="card" aria-labelledby="password-title">
        <h2 id="password-title">Change password</h2>
        <form method="post" action="/account/security/password" novalidate>
          <Csrf page={props.page} />
          <Field
            form="password"
            name="current_password"
            label="Current password"
            type="password"
            autocomplete="current-password"
            error={errors.currentPassword}
          />
          <Field
            form="password"
            name="new_password"
            label="New password"
            type="password"
            autocomplete="new-password"
            hint="8 to 128 characters; common passwords are refused. Every other device is signed out."
            error={errors.newPassword}
          />
          <button type="submit">Change password</button>
        </form>
      </section>
    </Layout>
  );
}

/**
 * The code that confirms one action of the security page: each form has its own label, so
 * that two code fields on one page never read alike (to the eye or to a screen reader); the
 * same input as CodeField (RFC 6238's six digits, filled as a one-time code).
 */
const FreshCodeField = (props: { form: string; label: string; error?: string | undefined }) => (
  <Field
    form={props.form}
    name="code"
    label={props.label}
    hint="The six-digit code your authenticator app shows now."
    autocomplete="one-time-code"
    inputmode="numeric"
    pattern="[0-9 ]{6,7}"
    maxlength={7}
    error={props.error}
  />
);

/** The address, whether it is confirmed (with the link again if not), and a change of address. */
function EmailSection(props: {
  page: PageContext;
  email: EmailForm;
  errors: SecurityErrors;
  hasPasskeys: boolean;
}) {
  const { email, errors } = props;
  return (
    <section class="card" aria-labelledby="email-title">
      <h2 id="email-title">Email address</h2>
      <p>
        <strong>{email.address}</strong>{' '}
        {email.verified ? (
          <span class="badge current">Confirmed</span>
        ) : (
          <span class="badge">Not confirmed</span>
        )}
      </p>
      {email.verified ? null : (
        <form method="post" action="/account/security/email/resend" novalidate>
          <Csrf page={props.page} />
          <p class="muted">
            Confirm it with the link we sent there, so that you can get back into your account.
          </p>
          <button type="submit" class="secondary">
            Send the confirmation link again
          </button>
        </form>
      )}
      <form method="post" action="/account/security/email" class="step" novalidate>
        <Csrf page={props.page} />
        <h3>Change email address</h3>
        <p class="muted">
          We send a link to the new address; the change happens when you use it. Your current address is told
          about it.
        </p>
        <Field
          form="email"
          name="email"
          label="New email address"
          type="email"
          autocomplete="email"
          inputmode="email"
          maxlength={254}
          value={email.value}
          error={errors.email}
        />
        <Field
          form="email"
          name="password"
          label="Current password"
          type="password"
          autocomplete="current-password"
          error={errors.emailPassword}
        />
        {email.askCode ? (
          <FreshCodeField form="email" label="Code to change your email address" error={errors.emailCode} />
        ) : null}
        <button type="submit">Change email address</button>
      </form>
      {email.askCode && props.hasPasskeys ? (
        // A separate form (the ceremony posts its own): it confirms the session, then the page
        // comes back without the code field for the next 5 minutes.
        <PasskeyForm
          page={props.page}
          kind="authenticate"
          action={PASSKEY_URLS.confirm}
          optionsUrl={PASSKEY_URLS.stepUpOptions}
          label="Confirm with a passkey instead of a code"
          buttonClass="secondary"
          class="alt"
          error={errors.emailPasskey}
        >
          <input type="hidden" name="for" value="email" />
        </PasskeyForm>
      ) : null}
    </section>
  );
}

export function TotpSetupPage(props: {
  page: PageContext;
  secret: string;
  qrSvg: string;
  error?: string | undefined;
}) {
  const qr = `data:image/svg+xml;base64,${btoa(props.qrSvg)}`;
  const grouped = props.secret.match(/.{1,4}/g)?.join(' ') ?? props.secret;
  return (
    <Layout page={props.page} title="Set up your authenticator app" section="security">
      <ol>
        <li>
          <p>Scan this QR code with your authenticator app.</p>
          <img class="qr" src={qr} alt="QR code that adds this account to an authenticator app" />
        </li>
        <li>
          <p>
            Or enter this key by hand: <code class="secret">{grouped}</code>
          </p>
        </li>
        <li>
          <form method="post" action="/account/security/totp/activate" novalidate>
            <Csrf page={props.page} />
            <input type="hidden" name="secret" value={props.secret} />
            <p>Enter the code the app shows to finish.</p>
            <CodeField form="activate" error={props.error} autofocus />
            <div class="actions">
              <button type="submit">Turn on two-step verification</button>
              <a href="/account/security">Cancel</a>
            </div>
          </form>
        </li>
      </ol>
    </Layout>
  );
}

export function RecoveryCodesPage(props: { page: PageContext; codes: string[]; intro: string }) {
  // The product's name (BRAND_NAME), never Latchkey's unless configured so (issue #20).
  const text = `${props.page.brand.name} recovery codes\n\n${props.codes.join('\n')}\n`;
  return (
    <Layout
      page={props.page}
      title="Your recovery codes"
      section="security"
      notice={{ kind: 'success', text: props.intro }}
    >
      <p>
        Each code signs you in once if you lose your authenticator app. Save them somewhere safe now:{' '}
        <strong>this page is the only time they are shown.</strong>
      </p>
      <ul class="codes" id="recovery-codes" aria-label="Recovery codes">
        {props.codes.map((code) => (
          <li>{code}</li>
        ))}
      </ul>
      <div class="actions">
        <button type="button" class="secondary" data-copy="recovery-codes" hidden>
          Copy codes
        </button>
        <a
          class="button secondary"
          download="recovery-codes.txt"
          href={`data:text/plain;charset=utf-8,${encodeURIComponent(text)}`}
        >
          Download codes
        </a>
        <a class="button" href="/account/security">
          I have saved them
        </a>
      </div>
    </Layout>
  );
}
