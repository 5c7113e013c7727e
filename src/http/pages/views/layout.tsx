import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import type { BrandConfig } from '../../../config/brand.js';
import { absoluteTime, relativeTime } from './format.js';
import { PASSKEY_SCRIPT } from './passkey-script.js';
import { ACCOUNT_SCRIPT } from './script.js';
import { ACCOUNT_STYLE } from './style.js';

/** What every page needs from the request: the CSP nonce, the CSRF token, who is signed in. */
export interface PageContext {
  nonce: string;
  csrf: string;
  /** The signed-in user's email, for the header; absent on the sign-in pages. */
  email?: string;
  /** Administrators also get the analytics page in the menu. */
  admin?: boolean;
  /** The product's name, logo, accent colour and links (BRAND_*, APP_URL). */
  brand: BrandConfig;
}

export type Section = 'sessions' | 'security' | 'activity' | 'admin';

const NAV: { section: Section; href: string; label: string }[] = [
  { section: 'sessions', href: '/account/sessions', label: 'Devices' },
  { section: 'security', href: '/account/security', label: 'Security' },
  { section: 'activity', href: '/account/activity', label: 'Activity' },
];

const ADMIN_NAV = { section: 'admin' as const, href: '/account/admin/analytics', label: 'Analytics' };

/** A status message at the top of the page, read out by screen readers when it changes. */
export interface Notice {
  kind: 'info' | 'success' | 'error';
  text: string;
}

export function Layout(props: {
  page: PageContext;
  title: string;
  section?: Section;
  notice?: Notice | undefined;
  children?: Child;
}) {
  const { page } = props;
  return (
    <>
      {raw('<!DOCTYPE html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="color-scheme" content="light dark" />
          {/* No favicon request: the pages have none. */}
          <link rel="icon" href="data:," />
          <title>{`${props.title} · ${page.brand.name}`}</title>
          <style nonce={page.nonce}>{raw(ACCOUNT_STYLE + brandStyle(page.brand))}</style>
        </head>
        <body>
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header class="top">
            <div class="bar">
              <span class="brand">
                {page.brand.logoUrl ? (
                  <img src={page.brand.logoUrl} alt={page.brand.name} />
                ) : (
                  page.brand.name
                )}
              </span>
              {page.email ? (
                <form method="post" action="/account/sign-out" class="inline">
                  <Csrf page={page} />
                  <span class="who">{page.email}</span>
                  <button type="submit" class="link">
                    Sign out
                  </button>
                </form>
              ) : null}
            </div>
            {page.email ? (
              <nav aria-label="Account">
                <ul>
                  {(page.admin ? [...NAV, ADMIN_NAV] : NAV).map((item) => (
                    <li>
                      <a href={item.href} aria-current={item.section === props.section ? 'page' : undefined}>
                        {item.label}
                      </a>
                    </li>
                  ))}
                </ul>
              </nav>
            ) : null}
          </header>
          <main id="main" tabindex={-1}>
            <h1>{props.title}</h1>
            <div id="notice" role="status" aria-live="polite" tabindex={-1}>
              {props.notice ? <NoticeBox notice={props.notice} /> : null}
            </div>
            {props.children}
          </main>
          <Footer brand={page.brand} />
          <script nonce={page.nonce}>{raw(ACCOUNT_SCRIPT)}</script>
          {/* The passkey ceremonies (issue #20): inert on a page without passkey forms. */}
          <script nonce={page.nonce}>{raw(PASSKEY_SCRIPT)}</script>
        </body>
      </html>
    </>
  );
}

/**
 * The configured accent (BRAND_ACCENT_COLOR, checked to be #rrggbb with 4.5:1 against white,
 * so it is safe to write into the style): buttons and links; on the dark scheme, links take
 * its lighter shade, which keeps 4.5:1 against the dark surfaces.
 */
const brandStyle = (brand: BrandConfig) =>
  `:root { --accent: ${brand.accent}; }\n@media (prefers-color-scheme: dark) { :root { --link: ${brand.accentOnDark}; } }\n`;

/** The way back to the app (APP_URL) and to help (BRAND_SUPPORT_URL), when configured. */
function Footer(props: { brand: BrandConfig }) {
  const { brand } = props;
  if (!brand.appUrl && !brand.supportUrl) return null;
  return (
    <footer class="foot">
      <ul>
        {brand.appUrl ? (
          <li>
            <a href={brand.appUrl}>{`Back to ${brand.name}`}</a>
          </li>
        ) : null}
        {brand.supportUrl ? (
          <li>
            <a href={brand.supportUrl}>Help and support</a>
          </li>
        ) : null}
      </ul>
    </footer>
  );
}

export const NoticeBox = (props: { notice: Notice }) => (
  <p class={`notice ${props.notice.kind}`} role={props.notice.kind === 'error' ? 'alert' : undefined}>
    {props.notice.text}
  </p>
);

/** The hidden field every form carries (OWASP CSRF Prevention, double-submit cookie). */
export const Csrf = (props: { page: PageContext }) => (
  <input type="hidden" name="csrf" value={props.page.csrf} />
);

/** A labelled input with its error, tied together for screen readers (WCAG 1.3.1, 3.3.1). */
export function Field(props: {
  /** Names the form, so that two forms on a page can both have a `code` field. */
  form: string;
  name: string;
  label: string;
  type?: string;
  autocomplete?: string;
  value?: string;
  error?: string | undefined;
  hint?: string;
  required?: boolean;
  inputmode?: 'numeric' | 'text' | 'email';
  pattern?: string;
  maxlength?: number;
  autofocus?: boolean;
}) {
  const id = `${props.form}-${props.name}`;
  const described = [props.hint ? `${id}-hint` : null, props.error ? `${id}-error` : null]
    .filter(Boolean)
    .join(' ');
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.hint ? (
        <p class="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      ) : null}
      <input
        id={id}
        name={props.name}
        type={props.type ?? 'text'}
        autocomplete={props.autocomplete}
        value={props.value}
        required={props.required ?? true}
        inputmode={props.inputmode}
        pattern={props.pattern}
        maxlength={props.maxlength}
        autofocus={props.autofocus}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={described || undefined}
      />
      {props.error ? (
        <p class="error" id={`${id}-error`}>
          {props.error}
        </p>
      ) : null}
    </div>
  );
}

/** A six-digit code field (RFC 6238: 6 digits), filled by password managers as a one-time code. */
export const CodeField = (props: {
  form: string;
  error?: string | undefined;
  autofocus?: boolean;
  required?: boolean;
}) => (
  <Field
    form={props.form}
    name="code"
    label="Code from your authenticator app"
    autocomplete="one-time-code"
    inputmode="numeric"
    pattern="[0-9 ]{6,7}"
    maxlength={7}
    error={props.error}
    autofocus={props.autofocus ?? false}
    required={props.required ?? true}
  />
);

/** A moment as "5 minutes ago", the exact time in its tooltip. */
export const When = (props: { at: Date; now: Date }) => (
  <time datetime={props.at.toISOString()} title={absoluteTime(props.at)}>
    {relativeTime(props.at, props.now)}
  </time>
);

/** A page of one message: a failure, or a form the pages could not take. */
export const MessagePage = (props: { page: PageContext; title: string; text: string; back?: string }) => (
  <Layout page={props.page} title={props.title}>
    <p>{props.text}</p>
    <p>
      <a href={props.back ?? '/account'}>Back</a>
    </p>
  </Layout>
);
