import type { Child } from 'hono/jsx';
import type { PasskeyView } from '../../../services/passkeys.js';
import { Csrf, Field, type PageContext, When } from './layout.js';

/**
 * The passkey controls of the account pages (issue #20). The ceremonies run in
 * PASSKEY_SCRIPT (./passkey-script.ts), which drives these forms by their data attributes:
 * it asks `data-options-url` for the options (a POST with the CSRF field), runs the ceremony,
 * puts its JSON into the `response` field and submits the form, whose handler answers as
 * any form's does. The forms are `hidden` in the HTML and shown by the script when the
 * browser has WebAuthn; without JavaScript the rest of each page works as before.
 */

/** Where the pages hand out ceremony options (JSON, for PASSKEY_SCRIPT). */
export const PASSKEY_URLS = {
  signInOptions: '/account/sign-in/passkey/options',
  signIn: '/account/sign-in/passkey',
  mfaOptions: '/account/sign-in/mfa/passkey-options',
  stepUpOptions: '/account/step-up/passkey-options',
  registerOptions: '/account/passkeys/options',
  register: '/account/passkeys',
  /** Re-authentication of the security page: password, code or passkey. */
  confirm: '/account/security/confirm',
} as const;

/** A passkey's longest name (the API's PasskeyRenameBody). */
export const PASSKEY_NAME_MAX = 64;

/**
 * A form whose submit runs a passkey ceremony: `register` makes a passkey, `authenticate`
 * asks for one, `autofill` also offers the passkeys in the autofill of the page's
 * `autocomplete="username webauthn"` field (one per page). A refusal the server saw comes
 * back in `error`, in the box where the script writes its own.
 */
export function PasskeyForm(props: {
  page: PageContext;
  kind: 'register' | 'authenticate' | 'autofill';
  action: string;
  optionsUrl: string;
  label: string;
  buttonClass?: string;
  class?: string;
  error?: string | undefined;
  /** Shown before the button: the form's words and its own fields. */
  children?: Child;
}) {
  return (
    <form
      method="post"
      action={props.action}
      class={props.class}
      data-passkey={props.kind}
      data-options-url={props.optionsUrl}
      data-passkey-only=""
      hidden
      novalidate
    >
      <Csrf page={props.page} />
      <input type="hidden" name="response" value="" />
      {props.children}
      <button type="submit" class={props.buttonClass}>
        {props.label}
      </button>
      <p class="error" data-passkey-error="" role="alert">
        {props.error ?? ''}
      </p>
    </form>
  );
}

/** A line for a browser without JavaScript, where the passkey forms stay hidden. */
export const NeedsJavaScript = (props: { text: string }) => (
  <noscript>
    <p class="muted">{props.text}</p>
  </noscript>
);

/** What the security page knows about the user's passkeys. */
export interface PasskeysForm {
  list: PasskeyView[];
  /**
   * Whether adding or removing one will be allowed when the form is posted: a fresh sign-in,
   * at aal2 with TOTP on (services/passkeys.ts `requireFresh`); else the page asks first.
   */
  fresh: boolean;
  now: Date;
  /** The passkey whose rename came back with an error, and what was typed. */
  renaming?: { id: string; value: string } | undefined;
}

export interface PasskeyErrors {
  /** The re-authentication before adding or removing: its password or code. */
  confirm?: string;
  confirmPasskey?: string;
  /** A rename's new name (of `PasskeysForm.renaming`). */
  passkeyName?: string;
}

/** "Synced" (copied between devices by a password manager) or "Device-bound" (never leaves it). */
const kindOf = (passkey: PasskeyView) =>
  passkey.deviceType === 'multiDevice'
    ? { label: 'Synced', where: 'Kept in sync by your password manager or keychain.' }
    : { label: 'Device-bound', where: 'Kept on one device or security key.' };

function PasskeyItem(props: {
  page: PageContext;
  passkey: PasskeyView;
  fresh: boolean;
  now: Date;
  renaming?: { id: string; value: string } | undefined;
  error?: string | undefined;
}) {
  const { passkey } = props;
  const headingId = `passkey-${passkey.id}`;
  const kind = kindOf(passkey);
  const renaming = props.renaming?.id === passkey.id;
  return (
    <li data-passkey-id={passkey.id}>
      <h3 id={headingId}>
        {passkey.name}
        <span class="badge">{kind.label}</span>
      </h3>
      <p class="muted">
        {kind.where} Added <When at={passkey.createdAt} now={props.now} />
        {'; '}
        {passkey.lastUsedAt ? (
          <>
            last used <When at={passkey.lastUsedAt} now={props.now} />.
          </>
        ) : (
          'not used yet.'
        )}
      </p>
      <div class="actions">
        <details open={renaming}>
          <summary aria-describedby={headingId}>Rename</summary>
          <form method="post" action={`/account/passkeys/${passkey.id}/rename`} novalidate>
            <Csrf page={props.page} />
            <Field
              form={`rename-${passkey.id}`}
              name="name"
              label="New name"
              autocomplete="off"
              maxlength={PASSKEY_NAME_MAX}
              value={renaming ? props.renaming!.value : passkey.name}
              error={renaming ? props.error : undefined}
            />
            <button type="submit" class="secondary" aria-describedby={headingId}>
              Save name
            </button>
          </form>
        </details>
        {props.fresh ? (
          <form method="post" action={`/account/passkeys/${passkey.id}/remove`} class="inline">
            <Csrf page={props.page} />
            <button type="submit" class="danger" aria-describedby={headingId}>
              Remove this passkey
            </button>
          </form>
        ) : null}
      </div>
    </li>
  );
}

/**
 * The security page's passkeys: the list (rename any time), and adding or removing, which
 * change how the account can be entered and so ask for a fresh sign-in (at aal2 with TOTP
 * on, as the API does). A stale session gets one form to confirm first (password, or the
 * code with TOTP on, or one of the passkeys), then the page comes back with the buttons.
 */
export function PasskeysSection(props: {
  page: PageContext;
  passkeys: PasskeysForm;
  mfaEnabled: boolean;
  errors: PasskeyErrors;
}) {
  const { list, fresh, now, renaming } = props.passkeys;
  const { errors } = props;
  return (
    <section class="card" aria-labelledby="passkeys-title">
      <h2 id="passkeys-title">Passkeys</h2>
      <p>
        A passkey signs you in with your fingerprint, face or screen lock: no password, no code. Your device
        or password manager keeps it, and it works only on this site.
      </p>
      {list.length === 0 ? (
        <p class="muted">You have no passkeys yet.</p>
      ) : (
        <ul class="passkeys" aria-label="Your passkeys">
          {list.map((passkey) => (
            <PasskeyItem
              page={props.page}
              passkey={passkey}
              fresh={fresh}
              now={now}
              renaming={renaming}
              error={errors.passkeyName}
            />
          ))}
        </ul>
      )}
      {fresh ? (
        <PasskeyForm
          page={props.page}
          kind="register"
          action="/account/passkeys"
          optionsUrl={PASSKEY_URLS.registerOptions}
          label="Add a passkey"
          class="step"
        >
          <h3>Add a passkey</h3>
          <p class="muted">
            Your browser asks this device, your password manager or a security key to make one.
          </p>
          <Field
            form="passkey"
            name="name"
            label="Name it (optional)"
            autocomplete="off"
            maxlength={PASSKEY_NAME_MAX}
            required={false}
            hint="Shown in this list, e.g. “Work laptop”. You can rename it later."
          />
        </PasskeyForm>
      ) : (
        <>
          <form method="post" action={PASSKEY_URLS.confirm} class="step" novalidate>
            <Csrf page={props.page} />
            <input type="hidden" name="for" value="passkeys" />
            <h3>Add or remove a passkey</h3>
            <p class="muted">Confirm it is you first: this needs a sign-in from the last 5 minutes.</p>
            {props.mfaEnabled ? (
              <Field
                form="confirm"
                name="code"
                label="Code to add or remove passkeys"
                hint="The six-digit code your authenticator app shows now."
                autocomplete="one-time-code"
                inputmode="numeric"
                pattern="[0-9 ]{6,7}"
                maxlength={7}
                error={errors.confirm}
              />
            ) : (
              <Field
                form="confirm"
                name="password"
                label="Password to add or remove passkeys"
                type="password"
                autocomplete="current-password"
                error={errors.confirm}
              />
            )}
            <button type="submit" class="secondary">
              Confirm
            </button>
          </form>
          {list.length > 0 ? (
            <PasskeyForm
              page={props.page}
              kind="authenticate"
              action={PASSKEY_URLS.confirm}
              optionsUrl={PASSKEY_URLS.stepUpOptions}
              label="Confirm with a passkey"
              buttonClass="secondary"
              class="alt"
              error={errors.confirmPasskey}
            >
              <input type="hidden" name="for" value="passkeys" />
            </PasskeyForm>
          ) : null}
        </>
      )}
      <NeedsJavaScript text="Adding a passkey or confirming with one needs JavaScript." />
    </section>
  );
}
