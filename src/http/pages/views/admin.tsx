import type { AdminService } from '../../../services/admin-service.js';
import { absoluteTime } from './format.js';
import { CodeField, Csrf, Layout, type Notice, type PageContext } from './layout.js';
import { NeedsJavaScript, PASSKEY_URLS, PasskeyForm } from './passkeys.js';

type Report = Awaited<ReturnType<AdminService['analytics']>>;

/** The administrators' pages: the header's menu links the first, each page links them all (`AdminNav`). */
export const ADMIN_PAGES = [
  { name: 'analytics', href: '/account/admin/analytics', label: 'Analytics' },
  { name: 'webhooks', href: '/account/admin/webhooks', label: 'Webhooks' },
] as const;
export type AdminPage = (typeof ADMIN_PAGES)[number]['name'];

/** The navigation between the administrators' pages, under the title. */
export const AdminNav = (props: { current: AdminPage }) => (
  <nav aria-label="Administration" class="actions">
    {ADMIN_PAGES.map((page) => (
      <a href={page.href} aria-current={page.name === props.current ? 'page' : undefined}>
        {page.label}
      </a>
    ))}
  </nav>
);

/** The same figures as GET /v1/admin/analytics, as tables; a `<meter>` draws each bar (no inline style under the CSP). */

const DURATION_LABELS: Record<string, string> = {
  '300': 'under 5 minutes',
  '3600': '5 minutes to 1 hour',
  '86400': '1 hour to 1 day',
  '604800': '1 to 7 days',
  '2592000': '7 to 30 days',
  null: 'over 30 days',
};

/** Duration buckets (their upper bounds in seconds, null for the last) as labelled rows. */
const durationRows = (rows: { upToSeconds: number | null; count: number }[]) =>
  rows.map((row) => ({
    label: DURATION_LABELS[String(row.upToSeconds)] ?? String(row.upToSeconds),
    count: row.count,
  }));

function Bars(props: { caption: string; head: string; rows: { label: string; count: number }[] }) {
  const max = Math.max(1, ...props.rows.map((row) => row.count));
  return (
    <table>
      <caption>{props.caption}</caption>
      <thead>
        <tr>
          <th scope="col">{props.head}</th>
          <th scope="col">Count</th>
          <th scope="col">Share</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.length === 0 ? (
          <tr>
            <td colspan={3} class="muted">
              None
            </td>
          </tr>
        ) : null}
        {props.rows.map((row) => (
          <tr>
            <th scope="row">{row.label}</th>
            <td class="num">{row.count}</td>
            <td>
              <meter min={0} max={max} value={row.count} title={`${row.count} of the largest, ${max}`} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** One row per day that had anything, newest first: three series of `days` zeros read badly. */
function PerDay(props: { report: Report }) {
  const { report } = props;
  const rows = report.sessionsCreatedPerDay
    .map((entry, index) => ({
      day: entry.day,
      created: entry.count,
      reuse: report.reuseDetectionsPerDay[index]?.count ?? 0,
      throttled: report.throttledPerDay[index]?.count ?? 0,
    }))
    .filter((row) => row.created + row.reuse + row.throttled > 0)
    .reverse();
  return (
    <table>
      <caption>Per day (days with nothing are left out)</caption>
      <thead>
        <tr>
          <th scope="col">Day (UTC)</th>
          <th scope="col">Sessions created</th>
          <th scope="col">Refresh-token reuse detected</th>
          <th scope="col">Throttled attempts</th>
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 ? (
          <tr>
            <td colspan={4} class="muted">
              None
            </td>
          </tr>
        ) : null}
        {rows.map((row) => (
          <tr>
            <th scope="row">{row.day}</th>
            <td class="num">{row.created}</td>
            <td class="num">{row.reuse}</td>
            <td class="num">{row.throttled}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function AnalyticsPage(props: { page: PageContext; report: Report }) {
  const { report } = props;
  const live = report.liveSessions;
  return (
    <Layout page={props.page} title="Analytics" section="admin">
      <AdminNav current="analytics" />
      <p class="muted">
        Last {report.days} days (since {report.since.toISOString().slice(0, 10)}, UTC), as of{' '}
        {absoluteTime(report.generatedAt)}. Show{' '}
        {[7, 30, 90].map((days) => (
          <>
            <a
              href={`/account/admin/analytics?days=${days}`}
              aria-current={days === report.days ? 'page' : undefined}
            >
              {days} days
            </a>{' '}
          </>
        ))}
      </p>
      <section class="card" aria-labelledby="live-title">
        <h2 id="live-title">Live sessions</h2>
        <dl>
          <dt>Sessions</dt>
          <dd>{live.sessions}</dd>
          <dt>Users with one</dt>
          <dd>{live.users}</dd>
          <dt>Per user</dt>
          <dd>
            p50 {live.p50} · p90 {live.p90} · p99 {live.p99} · max {live.max}
          </dd>
        </dl>
      </section>
      <PerDay report={report} />
      <Bars
        caption="How long ended sessions lasted"
        head="Duration"
        rows={durationRows(report.endedSessionDurations)}
      />
      <Bars caption="Age of live sessions" head="Age" rows={durationRows(report.liveSessionAges)} />
      <Bars
        caption="Sign-ins by country"
        head="Country"
        rows={report.loginsByCountry.map((row) => ({ label: row.country, count: row.count }))}
      />
      <Bars
        caption="Sign-ins by browser and OS"
        head="Browser / OS"
        rows={report.loginsByDeviceFamily.map((row) => ({ label: row.family, count: row.count }))}
      />
    </Layout>
  );
}

/** Admin pages need an `aal2` session, as the admin API does: a fresh code raises this one, then back to `back`. */
export function AdminStepUpPage(props: {
  page: PageContext;
  mfaEnabled: boolean;
  /** A passkey steps the session up to aal2 too (with or without TOTP). */
  hasPasskeys: boolean;
  back: AdminPage;
  error?: string | undefined;
  passkeyError?: string | undefined;
  notice?: Notice;
}) {
  const title = ADMIN_PAGES.find((page) => page.name === props.back)?.label ?? 'Administration';
  return (
    <Layout page={props.page} title={title} section="admin" notice={props.notice}>
      {props.mfaEnabled ? (
        <form method="post" action="/account/admin/step-up" class="card" novalidate>
          <Csrf page={props.page} />
          <input type="hidden" name="back" value={props.back} />
          <p>
            Administrator pages need a sign-in with two-step verification. Confirm with a code to continue.
          </p>
          <CodeField form="admin" error={props.error} autofocus />
          <button type="submit">Continue</button>
        </form>
      ) : null}
      {props.hasPasskeys ? (
        <PasskeyForm
          page={props.page}
          kind="authenticate"
          action="/account/admin/step-up"
          optionsUrl={PASSKEY_URLS.stepUpOptions}
          label="Continue with a passkey"
          buttonClass={props.mfaEnabled ? 'secondary' : undefined}
          class="card"
          error={props.passkeyError}
        >
          <input type="hidden" name="back" value={props.back} />
          <p>
            {props.mfaEnabled
              ? 'Or confirm with one of your passkeys.'
              : 'Administrator pages need a sign-in with a passkey or two-step verification. Confirm with one of your passkeys to continue.'}
          </p>
        </PasskeyForm>
      ) : null}
      {props.mfaEnabled ? null : props.hasPasskeys ? (
        <NeedsJavaScript text="Confirming with a passkey needs JavaScript; or turn on two-step verification on the Security page." />
      ) : (
        <p class="card">
          Administrator pages need two-step verification. <a href="/account/security">Turn it on</a> first.
        </p>
      )}
    </Layout>
  );
}
