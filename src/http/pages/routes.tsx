import type { Context } from 'hono';
import { Hono } from 'hono';
import type { RouteContext } from '../context.js';
import { requestDevice, requestOrigin } from '../request.js';
import { adminPages } from './admin.js';
import { cookieSession } from './cookie-session.js';
import { emailPages } from './email.js';
import type { PageDeps, PageEnv } from './env.js';
import { pageErrors } from './failures.js';
import { pageHeaders } from './headers.js';
import { passkeyPages } from './passkeys.js';
import { passwordPages } from './password.js';
import { passwordResetPages } from './password-reset.js';
import { message } from './render.js';
import { securityPages } from './security.js';
import { sessionPages } from './sessions.js';
import { signInPages } from './sign-in.js';
import { signUpPages } from './sign-up.js';
import { webhookPages } from './webhooks.js';

/**
 * `/account`: the pages where people see and end their sessions and manage MFA, served by
 * Latchkey itself with `hono/jsx` as plain HTML forms, each usable without JavaScript. They
 * call the same services as the JSON API, and ask the same domain rules (RFC 9470 assurance
 * in domain/assurance.ts, the admin role in domain/roles.ts), and keep tokens in cookies as
 * an SPA with cookie delivery would (./cookies.ts, ./cookie-session.ts). Every page gets a
 * nonce CSP and every form a CSRF check (./headers.ts); failures become pages
 * (./failures.tsx). One module per flow: sign-in, sessions, security, passkeys, password, password
 * reset, email address, admin (analytics, webhooks).
 */
export function accountPages(ctx: RouteContext) {
  const app = new Hono<PageEnv>();
  const device = (c: Context) => requestDevice(c, ctx.config, ctx.getClientIp);
  const origin = (c: Context) => requestOrigin(c, ctx.config, ctx.getClientIp);
  const deps: PageDeps = { ...ctx, device, session: cookieSession({ ...ctx, device, origin }) };

  app.onError(pageErrors(ctx.handleError));
  app.use(pageHeaders(ctx.config.issuer, ctx.config.brand));

  signInPages(app, deps);
  if (ctx.config.brand.signupPage) signUpPages(app, deps);
  sessionPages(app, deps);
  securityPages(app, deps);
  passkeyPages(app, deps);
  passwordPages(app, deps);
  passwordResetPages(app, deps);
  emailPages(app, deps);
  adminPages(app, deps);
  webhookPages(app, deps);

  app.all('*', (c) => message(c, 'Page not found', 'There is no such page.', 404));

  return app;
}
