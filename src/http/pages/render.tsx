import { DEFAULT_BRAND } from '../../config/brand.js';
import { randomToken } from '../../lib/crypto.js';
import { csrfToken } from './cookies.js';
import type { PageContextOf } from './env.js';
import { MessagePage, type PageContext } from './views/layout.js';

/** What the layout needs from this request: its CSP nonce, the CSRF token, who is signed in. */
export const pageOf = (c: PageContextOf): PageContext => ({
  // Unset only when the request failed before the first middleware: then no CSP names one.
  nonce: c.get('nonce') ?? randomToken(16),
  csrf: csrfToken(c),
  // Unset, as the nonce, only before the first middleware: the neutral default then.
  brand: c.get('brand') ?? DEFAULT_BRAND,
  ...(c.var.email ? { email: c.var.email, admin: c.var.admin } : {}),
});

/** A page of one message with its status: a failure, or a form that could not be taken. */
export const message = (
  c: PageContextOf,
  title: string,
  body: string,
  status: 200 | 400 | 403 | 404 | 500 | 503,
) => c.html(<MessagePage page={pageOf(c)} title={title} text={body} />, status);
