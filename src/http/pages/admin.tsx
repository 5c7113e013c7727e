import type { MiddlewareHandler } from 'hono';
import { MAX_ANALYTICS_DAYS } from '../../domain/analytics.js';
import { ADMIN_ASSURANCE, assuranceOf, checkAssurance } from '../../domain/assurance.js';
import { AnalyticsQuery } from '../schemas.js';
import type { PageApp, PageDeps, PageEnv } from './env.js';
import { text } from './env.js';
import { expected, problemText } from './failures.js';
import { assertionOf, postedByPasskey } from './passkey-forms.js';
import { message, pageOf } from './render.js';
import { PASSKEY_REFUSED } from './security.js';
import { ADMIN_PAGES, type AdminPage, AdminStepUpPage, AnalyticsPage } from './views/admin.js';

/**
 * The guard of every administrators' page: the same two checks as the admin API, asked of
 * the same homes: the role from the admin service's `authorize` (the database, now) and
 * `aal2` from `checkAssurance` with the admin API's requirement. A missing `aal2` is answered
 * with a form to step up (which comes back to `page`) instead of a challenge: a code, or a
 * passkey (issue #20), which reaches aal2 with or without TOTP.
 */
export function adminGuard(deps: PageDeps) {
  const { admin, clock, passkeys } = deps;

  const adminOnly: MiddlewareHandler<PageEnv> = async (c, next) => {
    try {
      await admin.authorize(c.get('caller'));
    } catch (error) {
      expected(error, 'forbidden');
      return message(c, 'Not allowed', 'This page is for administrators.', 403);
    }
    await next();
  };

  const aal2 =
    (page: AdminPage): MiddlewareHandler<PageEnv> =>
    async (c, next) => {
      if (!checkAssurance(assuranceOf(c.get('caller')), ADMIN_ASSURANCE, clock.now()).ok)
        return c.html(
          <AdminStepUpPage
            page={pageOf(c)}
            mfaEnabled={c.get('mfaEnabled')}
            hasPasskeys={await passkeys.hasPasskeys(c.get('caller').sub)}
            back={page}
          />,
          401,
        );
      await next();
    };

  return { adminOnly, aal2 };
}

/** The administrators' analytics page, and the step-up every admin page offers. */
export function adminPages(app: PageApp, deps: PageDeps): void {
  const { admin, mfa, device, passkeys } = deps;
  const { signedIn, adopt } = deps.session;
  const { adminOnly, aal2 } = adminGuard(deps);

  app.get('/admin/analytics', signedIn, adminOnly, aal2('analytics'), async (c) => {
    // The API's own query schema: the same bound and default.
    const query = AnalyticsQuery.safeParse({ days: c.req.query('days') });
    if (!query.success)
      return message(c, 'Analytics', `Choose between 1 and ${MAX_ANALYTICS_DAYS} days.`, 400);
    const report = await admin.analytics(query.data.days);
    return c.html(<AnalyticsPage page={pageOf(c)} report={report} />);
  });

  app.post('/admin/step-up', signedIn, adminOnly, async (c) => {
    const body = await c.req.parseBody();
    const code = text(body.code).trim();
    const byPasskey = postedByPasskey(body);
    // Back to the admin page that asked: one of a fixed list, so a form cannot send the browser elsewhere.
    const back = ADMIN_PAGES.find((page) => page.name === body.back) ?? ADMIN_PAGES[0];
    const again = async (status: 400 | 403 | 429, error: string) =>
      c.html(
        <AdminStepUpPage
          page={pageOf(c)}
          mfaEnabled={c.get('mfaEnabled')}
          hasPasskeys={await passkeys.hasPasskeys(c.get('caller').sub)}
          back={back.name}
          // A refused passkey is told in the passkey's form, a code in the code's.
          {...(byPasskey ? { passkeyError: error } : { error })}
        />,
        status,
      );
    const passkey = byPasskey ? assertionOf(body.response) : undefined;
    if (byPasskey && !passkey) return again(400, PASSKEY_REFUSED);
    if (!passkey && !code) return again(400, 'Enter the code from your authenticator app.');
    try {
      await adopt(c, await mfa.stepUp(c.get('caller'), passkey ? { passkey } : { code }, device(c)));
      return c.redirect(back.href, 303);
    } catch (error) {
      const failure = expected(error, 'wrong_code', 'wrong_passkey', 'rate_limited');
      if (failure.code === 'wrong_passkey') return again(403, PASSKEY_REFUSED);
      return again(failure.code === 'rate_limited' ? 429 : 403, problemText(c, failure));
    }
  });
}
