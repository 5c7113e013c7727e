import type { Child } from 'hono/jsx';
import { Csrf, Field, Layout, type Notice, type PageContext } from './layout.js';
import { FORGOT_PATH } from './password-reset.js';

/**
 * The pages of the address links (issue #17, flow 5): confirm an address, confirm a new one,
 * undo a change ("this wasn't me"). Each link first shows a page with a button; only the
 * button's POST uses the token, because mail scanners (Outlook Safe Links and the like) fetch
 * every link in a message and would otherwise use it up before the person clicks.
 */

export const VERIFY_PATH = '/account/email/verify';
export const RESEND_PATH = '/account/email/verify/resend';
export const CONFIRM_PATH = '/account/email/confirm';
export const REVERT_PATH = '/account/email/revert';
const SECURITY_PATH = '/account/security';
const SIGN_IN_PATH = '/account/sign-in';

/** "30 minutes", "1 hour", "24 hours", "2 days": how long a link works. */
export function lifetime(seconds: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (seconds >= 2 * 86_400 && seconds % 86_400 === 0) return plural(seconds / 86_400, 'day');
  if (seconds >= 3600) return plural(Math.round(seconds / 3600), 'hour');
  return plural(Math.max(1, Math.round(seconds / 60)), 'minute');
}

/** A link's first page: what the button will do, and the button (a POST with the CSRF field). */
function UseLinkPage(props: {
  page: PageContext;
  title: string;
  action: string;
  button: string;
  danger?: boolean;
  children: Child;
}) {
  return (
    <Layout page={props.page} title={props.title}>
      <form method="post" action={props.action} class="card">
        <Csrf page={props.page} />
        {props.children}
        <div class="actions">
          <button type="submit" class={props.danger ? 'danger' : undefined}>
            {props.button}
          </button>
        </div>
      </form>
    </Layout>
  );
}

/** A page that ends a flow or explains why it cannot go on, with its ways out. */
function OutcomePage(props: {
  page: PageContext;
  title: string;
  children: Child;
  links: { href: string; label: string; button?: boolean }[];
}) {
  return (
    <Layout page={props.page} title={props.title}>
      <section class="card">
        {props.children}
        <div class="actions">
          {props.links.map((link) => (
            <a class={link.button ? 'button' : undefined} href={link.href}>
              {link.label}
            </a>
          ))}
        </div>
      </section>
    </Layout>
  );
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

export const VerifyEmailPage = (props: { page: PageContext }) => (
  <UseLinkPage
    page={props.page}
    title="Confirm your address"
    action={VERIFY_PATH}
    button="Confirm my address"
  >
    <p>Press the button to confirm that the address this link was sent to is yours.</p>
  </UseLinkPage>
);

export const EmailVerifiedPage = (props: { page: PageContext; email: string }) => (
  <OutcomePage
    page={props.page}
    title="Address confirmed"
    links={[
      { href: SECURITY_PATH, label: 'Go to your account', button: true },
      { href: SIGN_IN_PATH, label: 'Sign in' },
    ]}
  >
    <p>
      <strong>{props.email}</strong> is confirmed as the address of your account.
    </p>
  </OutcomePage>
);

/**
 * Every unusable verification link reads the same (unknown, forged, truncated, expired, used,
 * replaced, or sent to an address the account no longer has), with a form for a new one.
 */
export function VerifyLinkInvalidPage(props: {
  page: PageContext;
  notice?: Notice | undefined;
  email?: string;
  error?: string | undefined;
}) {
  return (
    <Layout page={props.page} title="This link cannot be used" notice={props.notice}>
      <section class="card">
        <p>
          The confirmation link is invalid, has expired or was already used. A link works once, for a limited
          time, and only the newest one we sent.
        </p>
      </section>
      <form method="post" action={RESEND_PATH} class="card" novalidate>
        <Csrf page={props.page} />
        <h2>Get a new link</h2>
        <Field
          form="resend"
          name="email"
          label="Email"
          type="email"
          autocomplete="email"
          inputmode="email"
          maxlength={254}
          value={props.email ?? ''}
          error={props.error}
        />
        <div class="actions">
          <button type="submit">Send a new link</button>
          <a href={SIGN_IN_PATH}>Sign in</a>
        </div>
      </form>
    </Layout>
  );
}

/** The answer to every well-formed request for a new link, whatever the address (no enumeration). */
export const VerifySentPage = (props: { page: PageContext; email: string; lifetime: string }) => (
  <OutcomePage page={props.page} title="Check your email" links={[{ href: SIGN_IN_PATH, label: 'Sign in' }]}>
    <p>
      If <strong>{props.email}</strong> is the address of an account and still needs confirming, we have sent
      it a new link. The link works once, for {props.lifetime}.
    </p>
    <p class="muted">
      Nothing arrived? Check the spam folder and the address above. Only the newest link works, and a few
      links an hour at most are sent to one address.
    </p>
  </OutcomePage>
);

// ---------------------------------------------------------------------------------------------
// Change: confirmed from the new address
// ---------------------------------------------------------------------------------------------

export const ConfirmChangePage = (props: { page: PageContext }) => (
  <UseLinkPage
    page={props.page}
    title="Confirm your new address"
    action={CONFIRM_PATH}
    button="Use this address"
  >
    <p>
      Press the button to make the address this link was sent to the address of your account. From then on you
      sign in with it, and mail about your account goes there.
    </p>
  </UseLinkPage>
);

export const EmailChangedPage = (props: { page: PageContext; email: string }) => (
  <OutcomePage
    page={props.page}
    title="Address changed"
    links={[
      { href: SECURITY_PATH, label: 'Go to your account', button: true },
      { href: SIGN_IN_PATH, label: 'Sign in' },
    ]}
  >
    <p>
      Your address is now <strong>{props.email}</strong>. Sign in with it from now on.
    </p>
    <p class="muted">We told your previous address about the change.</p>
  </OutcomePage>
);

export const ChangeLinkInvalidPage = (props: { page: PageContext }) => (
  <OutcomePage
    page={props.page}
    title="This link cannot be used"
    links={[
      { href: SECURITY_PATH, label: 'Change your address again', button: true },
      { href: SIGN_IN_PATH, label: 'Sign in' },
    ]}
  >
    <p>
      The confirmation link is invalid, has expired or was already used. Only the newest change you asked for
      can be confirmed, and a password change or an undo from your previous address voids it. Your account
      keeps its address.
    </p>
  </OutcomePage>
);

export const ChangeEmailTakenPage = (props: { page: PageContext }) => (
  <OutcomePage
    page={props.page}
    title="This address is taken"
    links={[{ href: SECURITY_PATH, label: 'Choose another address', button: true }]}
  >
    <p>
      Another account started using this address after you asked for the change, so your account keeps its
      address.
    </p>
  </OutcomePage>
);

// ---------------------------------------------------------------------------------------------
// Change: undone from the old address ("this wasn't me")
// ---------------------------------------------------------------------------------------------

export const RevertChangePage = (props: { page: PageContext }) => (
  <UseLinkPage
    page={props.page}
    title="Undo the change of your address"
    action={REVERT_PATH}
    button="Undo the change and sign out everywhere"
    danger
  >
    <p>If you did not ask to change your address, press the button. Then:</p>
    <ul>
      <li>the address this link was sent to becomes the address of your account again;</li>
      <li>a change still waiting for confirmation is cancelled;</li>
      <li>every device signed in to your account is signed out, this one too.</li>
    </ul>
    <p class="muted">Whoever asked for the change knew your password: choose a new one afterwards.</p>
  </UseLinkPage>
);

export const EmailRevertedPage = (props: { page: PageContext; email: string }) => (
  <OutcomePage
    page={props.page}
    title="Done"
    links={[{ href: FORGOT_PATH, label: 'Choose a new password', button: true }]}
  >
    <p>
      Your address is <strong>{props.email}</strong> again, and every device was signed out.
    </p>
    <p>
      Now choose a new password: whoever changed the address knew the old one. We will send a link to{' '}
      <strong>{props.email}</strong>.
    </p>
  </OutcomePage>
);

export const RevertLinkInvalidPage = (props: { page: PageContext }) => (
  <OutcomePage
    page={props.page}
    title="This link cannot be used"
    links={[
      { href: FORGOT_PATH, label: 'Reset your password', button: true },
      { href: SIGN_IN_PATH, label: 'Sign in' },
    ]}
  >
    <p>
      The link is invalid, has expired or was already used. If you cannot sign in with your own address any
      more, contact support.
    </p>
  </OutcomePage>
);

export const RevertEmailTakenPage = (props: { page: PageContext }) => (
  <OutcomePage
    page={props.page}
    title="This address is taken"
    links={[{ href: SIGN_IN_PATH, label: 'Sign in' }]}
  >
    <p>
      Another account has this address now, so it cannot be given back to yours. Nothing was changed. Contact
      support to get your account back.
    </p>
  </OutcomePage>
);
