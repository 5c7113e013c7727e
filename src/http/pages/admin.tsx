import type { MiddlewareHandler } from 'hono';
import { ADMIN_ASSURANCE, assuranceOf, checkAssurance } from '../../domain/assurance.js';
import { MAX_ANALYTICS_DAYS } from '../../services/admin-service.js';
import { AnalyticsQuery } from '../schemas.js';
import type { PageApp, PageDeps, PageEnv } from './env.js';
import { text } from './env.js';
import { expected, problemText } from './failures.js';
import { message, pageOf } from './render.js';
import { AdminStepUpPage, AnalyticsPage } from './views/admin.js';

/**
 * The administrators' analytics page: the same two checks as GET /v1/admin/analytics, asked
 * of the same homes: the role from the admin service's `authorize` (the database, now) and
 * `aal2` from `checkAssurance` with the admin API's requirement. The page answers a missing
 * `aal2` with a form to step up instead of a challenge.
 */
export function adminPages(app: PageApp, deps: PageDeps): void {
  const { admin, mfa, clock, device } = deps;
  const { signedIn, adopt } = deps.session;

  const adminOnly: MiddlewareHandler<PageEnv> = async (c, next) => {
    try {
      await admin.authorize(c.get('caller'));
    } catch (error) {
      expected(error, 'forbidden');
      return message(c, 'Not allowed', 'This page is for administrators.', 403);
    }
    await next();
  };

  app.get('/admin/analytics', signedIn, adminOnly, async (c) => {
    if (!checkAssurance(assuranceOf(c.get('caller')), ADMIN_ASSURANCE, clock.now()).ok)
      return c.html(<AdminStepUpPage page={pageOf(c)} mfaEnabled={c.get('mfaEnabled')} />, 401);
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
    const again = (status: 400 | 403 | 429, error: string) =>
      c.html(<AdminStepUpPage page={pageOf(c)} mfaEnabled={c.get('mfaEnabled')} error={error} />, status);
    if (!code) return again(400, 'Enter the code from your authenticator app.');
    try {
      await adopt(c, await mfa.stepUp(c.get('caller'), { code }, device(c)));
      return c.redirect('/account/admin/analytics', 303);
    } catch (error) {
      const failure = expected(error, 'wrong_code', 'rate_limited');
      return again(failure.code === 'rate_limited' ? 429 : 403, problemText(c, failure));
    }
  });
}
