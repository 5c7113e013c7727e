import type { MiddlewareHandler } from 'hono';
import type { BrandConfig } from '../../config/brand.js';
import { randomToken } from '../../lib/crypto.js';
import { csrfMatches } from './cookies.js';
import type { PageEnv } from './env.js';
import { message } from './render.js';

/** The CSP of every page: nothing runs or styles it without this response's nonce. */
const contentSecurityPolicy = (nonce: string, logoOrigin: string | undefined) =>
  [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    // The configured logo's origin (BRAND_LOGO_URL), and no other.
    `img-src 'self' data:${logoOrigin ? ` ${logoOrigin}` : ''}`,
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');

/**
 * The headers of every page and the gate of every form:
 * - CSP: no frames, no plugins, forms post only here (OWASP ASVS V14.4.3).
 * - CSRF: every POST needs a same-origin Fetch Metadata (or Origin) and the form's echo of
 *   the `__Host-` CSRF cookie, on top of `SameSite=Strict` token cookies (OWASP CSRF
 *   Prevention Cheat Sheet).
 */
export function pageHeaders(issuer: string, brand: BrandConfig): MiddlewareHandler<PageEnv> {
  const issuerOrigin = new URL(issuer).origin;
  return async function pageHeaders(c, next) {
    const nonce = randomToken(16);
    c.set('nonce', nonce);
    c.set('brand', brand);
    c.header('Content-Security-Policy', contentSecurityPolicy(nonce, brand.logoOrigin));
    // Personal pages: never kept by a browser or a proxy.
    c.header('Cache-Control', 'no-store');
    if (c.req.method === 'POST') {
      const site = c.req.header('sec-fetch-site');
      const origin = c.req.header('origin');
      const sameOrigin = site
        ? site === 'same-origin'
        : origin === undefined || origin === issuerOrigin || origin === new URL(c.req.url).origin;
      let body: Record<string, unknown>;
      try {
        body = await c.req.parseBody();
      } catch {
        return message(c, 'That did not work', 'The form could not be read. Go back and try again.', 400);
      }
      if (!sameOrigin || !csrfMatches(c, body.csrf)) {
        return message(
          c,
          'Form expired',
          'This form is out of date or came from another site. Go back, reload the page and try again.',
          403,
        );
      }
      // As the JSON API (src/http/request.ts): no NUL reaches a service or the database.
      if (Object.values(body).some((value) => typeof value === 'string' && value.includes('\u0000')))
        return message(c, 'That did not work', 'The form contains characters that are not allowed.', 400);
    }
    await next();
  };
}
