import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { constantTimeEqual, randomToken } from '../../lib/crypto.js';
import type { IssuedTokens } from '../../services/types.js';

/**
 * The cookies of the account pages. The pages are a first-party client of Latchkey that
 * keeps its tokens as an SPA with cookie delivery would (API.md, Cookie delivery): the
 * refresh token in an `HttpOnly; Secure; SameSite=Strict` cookie, here scoped to `/account`,
 * with `Max-Age` only for remembered sessions. The access token rides next to it, so a page
 * view costs a signature check instead of a rotation; when it has expired, the next page
 * view rotates the refresh token (and a revoked session is thrown out right there).
 */
export const ACCOUNT_PATH = '/account';
const REFRESH = '__Secure-latchkey_account_rt';
const ACCESS = '__Secure-latchkey_account_at';
/** The `mfa_token` between the two sign-in steps: never in the page, where a script could read it. */
const MFA = '__Secure-latchkey_account_mfa';
const MFA_PATH = '/account/sign-in';
/** The held login of SESSION_LIMIT_POLICY=reject, while the user picks a device to sign out. */
const LIMIT = '__Secure-latchkey_account_limit';
/**
 * OWASP CSRF Prevention Cheat Sheet, double-submit cookie: `__Host-` (Secure, Path=/, no
 * Domain) keeps a sibling subdomain from planting it; every form echoes it in a field.
 */
const CSRF = '__Host-latchkey_csrf';
const SHORT_LIVED_SECONDS = 300;

const base = { httpOnly: true, secure: true, sameSite: 'Strict', path: ACCOUNT_PATH } as const;

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
  accessToken: getCookie(c, ACCESS),
  refreshToken: getCookie(c, REFRESH),
});

export function clearTokenCookies(c: Context): void {
  deleteCookie(c, REFRESH, base);
  deleteCookie(c, ACCESS, base);
}

export const setMfaCookie = (c: Context, mfaToken: string) =>
  setCookie(c, MFA, mfaToken, { ...base, path: MFA_PATH, maxAge: SHORT_LIVED_SECONDS });
export const mfaCookie = (c: Context) => getCookie(c, MFA);
export const clearMfaCookie = (c: Context) => deleteCookie(c, MFA, { ...base, path: MFA_PATH });

export const setLimitCookie = (c: Context, limitToken: string) =>
  setCookie(c, LIMIT, limitToken, { ...base, path: MFA_PATH, maxAge: SHORT_LIVED_SECONDS });
export const limitCookie = (c: Context) => getCookie(c, LIMIT);
export const clearLimitCookie = (c: Context) => deleteCookie(c, LIMIT, { ...base, path: MFA_PATH });

/** The CSRF token of this browser, made on its first page view. */
export function csrfToken(c: Context): string {
  const existing = getCookie(c, CSRF);
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const token = randomToken();
  setCookie(c, CSRF, token, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
  return token;
}

/** The form's echo of the CSRF cookie, compared in constant time (OWASP ASVS V4.2.2). */
export function csrfMatches(c: Context, submitted: unknown): boolean {
  const cookie = getCookie(c, CSRF);
  return (
    typeof submitted === 'string' &&
    cookie !== undefined &&
    cookie !== '' &&
    constantTimeEqual(cookie, submitted)
  );
}
