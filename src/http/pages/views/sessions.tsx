import type { SessionView, StoredSecurityEvent } from '../../../ports/store.js';
import { describeDevice, describeEvent, describeUserAgent } from './format.js';
import { Csrf, Layout, type Notice, type PageContext, When } from './layout.js';

/** The devices page (with its "sign out everywhere else" step) and the security activity. */

/**
 * How the session was signed in, when it is more than a password: a passkey (RFC 8176 `hwk`
 * or `swk` in its methods) or a second factor (`aal2`).
 */
function signedInWith(session: Pick<SessionView, 'acr' | 'amr'>): string {
  if (session.amr.includes('hwk') || session.amr.includes('swk')) return ' with a passkey';
  return session.acr === 'aal2' ? ' with two-step verification' : '';
}

function SessionCard(props: { page: PageContext; session: SessionView; current: boolean; now: Date }) {
  const { session } = props;
  // One structure for every card: the title names the device (the name given at sign-in, else
  // what the user agent says it is), the line under it is always the browser and system.
  const software = describeUserAgent(session.userAgent);
  const title = session.deviceName ?? describeDevice(session.userAgent) ?? 'Unknown device';
  const headingId = `session-${session.id}`;
  return (
    <article class="card" aria-labelledby={headingId} data-session={session.id}>
      <h2 id={headingId}>
        {title}
        {props.current ? <span class="badge current">This device</span> : null}
        {session.remembered ? <span class="badge">Remembered</span> : null}
      </h2>
      {software ? <p class="muted subtitle">{software}</p> : null}
      <dl>
        <dt>Location</dt>
        <dd>{session.location || 'Unknown'}</dd>
        <dt>IP address</dt>
        <dd>{session.ipAddress ?? 'Unknown'}</dd>
        <dt>Signed in</dt>
        <dd>
          <When at={session.createdAt} now={props.now} />
          {signedInWith(session)}
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
