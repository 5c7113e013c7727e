import type { Context } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { constantTimeEqual, randomToken } from '../../lib/crypto.js';
import type { IssuedTokens } from '../../services/types.js';
import { cookieCount, soleCookie } from '../sole-cookie.js';
import { text } from './env.js';

/**
 * The cookies of the account pages. The pages are a first-party client of Latchkey that
 * keeps its tokens as an SPA with cookie delivery would (API.md, Cookie delivery): the
 * refresh token in an `HttpOnly; Secure; SameSite=Strict` cookie, with `Max-Age` only for
 * remembered sessions. The access token rides next to it, so a page view costs a signature
 * check instead of a rotation; when it has expired, the next page view rotates the refresh
 * token (and a revoked session is thrown out right there).
 *
 * Every cookie is `__Host-` (Secure, `Path=/`, no `Domain`; RFC 6265bis §4.1.3.2): a browser
 * lets no other host set one, so a sibling subdomain cannot plant its own refresh token,
 * `mfa_token` or CSRF token here (session fixation, a forged double-submit). A narrower
 * `Path` would forbid the prefix and buys nothing: paths are no isolation within an origin
 * (RFC 6265bis §8.5, §8.6). Each is read with `soleCookie`, which refuses a name sent twice.
 */
const REFRESH = '__Host-latchkey_account_rt';
const ACCESS = '__Host-latchkey_account_at';
/** The `mfa_token` between the two sign-in steps: never in the page, where a script could read it. */
const MFA = '__Host-latchkey_account_mfa';
/** The held login of SESSION_LIMIT_POLICY=reject, while the user picks a device to sign out. */
const LIMIT = '__Host-latchkey_account_limit';
/** OWASP CSRF Prevention Cheat Sheet, double-submit cookie: every form echoes it in a field. */
const CSRF = '__Host-latchkey_csrf';
const SHORT_LIVED_SECONDS = 300;

const base = { httpOnly: true, secure: true, sameSite: 'Strict', path: '/' } as const;

export function setTokenCookies(c: Context, tokens: IssuedTokens): void {
  // Remembered sessions survive the browser closing; others die with it (API.md).
  setCookie(c, REFRESH, tokens.refreshToken, {
    ...base,
    ...(tokens.remembered ? { maxAge: tokens.refreshTokenExpiresIn } : {}),
  });
  setCookie(c, ACCESS, tokens.accessToken, {
    ...base,
    ...(tokens.remembered ? { maxAge: tokens.expiresIn } : {}),
  });
}

export const tokenCookies = (c: Context) => ({
  accessToken: soleCookie(c, ACCESS),
  refreshToken: soleCookie(c, REFRESH),
});

/**
 * A token cookie came twice: one of them was planted, and neither is used. Said on a page of
 * its own, as the sign-in page (whose path may not get the planted one) would send the
 * browser straight back.
 */
export const conflictingTokenCookies = (c: Context) =>
  cookieCount(c, ACCESS) > 1 || cookieCount(c, REFRESH) > 1;

export function clearTokenCookies(c: Context): void {
  deleteCookie(c, REFRESH, base);
  deleteCookie(c, ACCESS, base);
}

export const setMfaCookie = (c: Context, mfaToken: string) =>
  setCookie(c, MFA, mfaToken, { ...base, maxAge: SHORT_LIVED_SECONDS });
export const mfaCookie = (c: Context) => soleCookie(c, MFA);
export const clearMfaCookie = (c: Context) => deleteCookie(c, MFA, base);

export const setLimitCookie = (c: Context, limitToken: string) =>
  setCookie(c, LIMIT, limitToken, { ...base, maxAge: SHORT_LIVED_SECONDS });
export const limitCookie = (c: Context) => soleCookie(c, LIMIT);
export const clearLimitCookie = (c: Context) => deleteCookie(c, LIMIT, base);

/** The CSRF token of this browser, made on its first page view. */
export function csrfToken(c: Context): string {
  const existing = soleCookie(c, CSRF);
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const token = randomToken();
  setCookie(c, CSRF, token, base);
  return token;
}

/** The form's echo of the CSRF cookie, compared in constant time (OWASP ASVS V4.2.2). */
export function csrfMatches(c: Context, submitted: unknown): boolean {
  const cookie = soleCookie(c, CSRF);
  return (
    typeof submitted === 'string' &&
    cookie !== undefined &&
    cookie !== '' &&
    constantTimeEqual(cookie, submitted)
  );
}

/**
 * The token of one kind of mailed link between the link's GET and the page's POST (OWASP
 * Forgot Password Cheat Sheet): the link's `?token=` moves into this `__Host-` HttpOnly cookie
 * and a 303 drops it from the address bar, the history and every later Referer.
 * `SameSite=Lax`, not `Strict` as the other cookies: the link is opened from a mail client, a
 * cross-site navigation, along which a browser sends no `Strict` cookie, not even after the
 * redirect; the POST that uses it passes the same CSRF gate (./headers.ts) as every form.
 * One cookie per kind, so links opened side by side do not replace each other.
 */
export function linkCookie(name: string, isWellFormed: (token: string) => boolean, maxAgeSeconds: number) {
  const attributes = { httpOnly: true, secure: true, sameSite: 'Lax', path: '/' } as const;
  return {
    set: (c: Context, token: string) => setCookie(c, name, token, { ...attributes, maxAge: maxAgeSeconds }),
    clear: (c: Context) => deleteCookie(c, name, attributes),
    /** This browser's token, if it has one of the right shape (the service's own check). */
    read: (c: Context): string | undefined => {
      const token = text(soleCookie(c, name));
      return isWellFormed(token) ? token : undefined;
    },
  };
}

export type LinkCookie = ReturnType<typeof linkCookie>;
