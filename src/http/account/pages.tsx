import type { SessionView, StoredSecurityEvent } from '../../ports/store.js';
import { absoluteTime, describeEvent, describeUserAgent, relativeTime } from './format.js';
import { CodeField, Csrf, Field, Layout, type Notice, type PageContext } from './layout.js';

/** The pages of `/account`: plain server-rendered HTML forms, each usable without JavaScript. */

const When = (props: { at: Date; now: Date }) => (
  <time datetime={props.at.toISOString()} title={absoluteTime(props.at)}>
    {relativeTime(props.at, props.now)}
  </time>
);

export function SignInPage(props: {
  page: PageContext;
  notice?: Notice | undefined;
  email?: string;
  remember?: boolean;
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
          Remember this device for 30 days
        </label>
        <button type="submit">Sign in</button>
      </form>
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

function SessionCard(props: { page: PageContext; session: SessionView; current: boolean; now: Date }) {
  const { session } = props;
  const software = describeUserAgent(session.userAgent);
  const title = session.deviceName ?? software ?? 'Unknown device';
  const headingId = `session-${session.id}`;
  return (
    <article class="card" aria-labelledby={headingId} data-session={session.id}>
      <h2 id={headingId}>
        {title}
        {props.current ? <span class="badge current">This device</span> : null}
        {session.remembered ? <span class="badge">Remembered</span> : null}
      </h2>
      {session.deviceName && software ? <p class="muted">{software}</p> : null}
      <dl>
        <dt>Location</dt>
        <dd>{session.location || 'Unknown'}</dd>
        <dt>IP address</dt>
        <dd>{session.ipAddress ?? 'Unknown'}</dd>
        <dt>Signed in</dt>
        <dd>
          <When at={session.createdAt} now={props.now} />
          {session.acr === 'aal2' ? ' with two-step verification' : ''}
        </dd>
        <dt>Last active</dt>
        <dd>
          <When at={session.lastActiveAt} now={props.now} />
        </dd>
      </dl>
      {props.current ? null : (
        <form method="post" action={`/account/sessions/${session.id}/revoke`} data-enhance="sessions notice">
          <Csrf page={props.page} />
          <button type="submit" class="danger" aria-describedby={headingId}>
            Sign out this device
          </button>
        </form>
      )}
    </article>
  );
}

export function SessionsPage(props: {
  page: PageContext;
  notice?: Notice | undefined;
  sessions: SessionView[];
  currentSessionId: string;
  now: Date;
}) {
  const others = props.sessions.filter((session) => session.id !== props.currentSessionId).length;
  return (
    <Layout page={props.page} title="Your devices" section="sessions" notice={props.notice}>
      <p class="muted">
        Every browser and app signed in to your account. Sign out any you do not recognise, then change your
        password.
      </p>
      <section id="sessions" data-poll="60" aria-label="Signed-in devices">
        <p class="muted">
          {props.sessions.length === 1 ? '1 device signed in' : `${props.sessions.length} devices signed in`}
        </p>
        {props.sessions.map((session) => (
          <SessionCard
            page={props.page}
            session={session}
            current={session.id === props.currentSessionId}
            now={props.now}
          />
        ))}
        {others > 0 ? (
          <div class="actions">
            <a class="button secondary" href="/account/sessions/sign-out-others" data-dialog="confirm-others">
              Sign out everywhere else
            </a>
          </div>
        ) : null}
      </section>
      <dialog id="confirm-others" aria-labelledby="confirm-others-title">
        <SignOutOthersForm page={props.page} enhance />
      </dialog>
    </Layout>
  );
}

function SignOutOthersForm(props: { page: PageContext; enhance?: boolean }) {
  return (
    <form
      method="post"
      action="/account/sessions/sign-out-others"
      data-enhance={props.enhance ? 'sessions notice' : undefined}
    >
      <Csrf page={props.page} />
      <h2 id="confirm-others-title">Sign out everywhere else?</h2>
      <p>Every other browser and app will be signed out at its next request. This one stays signed in.</p>
      <div class="actions">
        <button type="submit" class="danger">
          Sign out everywhere else
        </button>
        {props.enhance ? (
          <button type="button" class="secondary" data-close>
            Cancel
          </button>
        ) : (
          <a href="/account/sessions">Cancel</a>
        )}
      </div>
    </form>
  );
}

/** The confirmation step without JavaScript (with it, a dialog on the devices page). */
export const SignOutOthersPage = (props: { page: PageContext }) => (
  <Layout page={props.page} title="Confirm" section="sessions">
    <div class="card">
      <SignOutOthersForm page={props.page} />
    </div>
  </Layout>
);

export interface SecurityErrors {
  enroll?: string;
  regenerate?: string;
  disable?: string;
  currentPassword?: string;
  newPassword?: string;
}

export function SecurityPage(props: {
  page: PageContext;
  notice?: Notice | undefined;
  mfaEnabled: boolean;
  /** Whether the sign-in is recent enough (RFC 9470 max_age) to start enrolment without a password. */
  freshAuth: boolean;
  errors?: SecurityErrors;
}) {
  const errors = props.errors ?? {};
  return (
    <Layout page={props.page} title="Security" section="security" notice={props.notice}>
      <section class="card" aria-labelledby="mfa-title">
        <h2 id="mfa-title">
          Two-step verification{' '}
          {props.mfaEnabled ? <span class="badge current">On</span> : <span class="badge">Off</span>}
        </h2>
        {props.mfaEnabled ? (
          <>
            <p>Signing in asks for a code from your authenticator app, or a recovery code.</p>
            <form method="post" action="/account/security/recovery-codes" novalidate>
              <Csrf page={props.page} />
              <h3>New recovery codes</h3>
              <p class="muted">Your old codes stop working.</p>
              <CodeField form="regenerate" error={errors.regenerate} />
              <button type="submit" class="secondary">
                Generate new recovery codes
              </button>
            </form>
            <form method="post" action="/account/security/totp/disable" novalidate>
              <Csrf page={props.page} />
              <h3>Turn off two-step verification</h3>
              <p class="muted">Every other device is signed out. Confirm with a fresh code.</p>
              <CodeField form="disable" error={errors.disable} />
              <button type="submit" class="danger">
                Turn off two-step verification
              </button>
            </form>
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
  const text = `Latchkey recovery codes\n\n${props.codes.join('\n')}\n`;
  return (
    <Layout
      page={props.page}
      title="Your recovery codes"
      section="security"
      notice={{ kind: 'info', text: props.intro }}
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
          download="latchkey-recovery-codes.txt"
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

export function ActivityPage(props: {
  page: PageContext;
  events: StoredSecurityEvent[];
  nextCursor: string | null;
  now: Date;
}) {
  return (
    <Layout page={props.page} title="Security activity" section="activity">
      {props.events.length === 0 ? <p class="muted">Nothing yet.</p> : null}
      <ul class="events">
        {props.events.map((event) => {
          const { text, alert } = describeEvent(event.type, event.details);
          const where = [describeUserAgent(event.userAgent), event.ipAddress].filter(Boolean).join(' · ');
          return (
            <li>
              <span class={alert ? 'alert' : undefined}>{text}</span>
              <br />
              <span class="muted">
                <When at={event.at} now={props.now} />
                {where ? ` · ${where}` : ''}
              </span>
            </li>
          );
        })}
      </ul>
      {props.nextCursor ? (
        <a href={`/account/activity?cursor=${encodeURIComponent(props.nextCursor)}`}>Older activity</a>
      ) : null}
    </Layout>
  );
}

export const MessagePage = (props: { page: PageContext; title: string; text: string; back?: string }) => (
  <Layout page={props.page} title={props.title}>
    <p>{props.text}</p>
    <p>
      <a href={props.back ?? '/account'}>Back</a>
    </p>
  </Layout>
);
