import type { Context, ErrorHandler } from 'hono';
import { AuthError, type AuthErrorCode } from '../../domain/errors.js';
import type { RouteContext } from '../context.js';
import { STATUS } from '../errors.js';
import { clearTokenCookies } from './cookies.js';
import { type PageEnv, SIGN_IN } from './env.js';
import { message } from './render.js';

/**
 * What a page says about a failure: for `rate_limited`, "Too many attempts. Try again in 4
 * minutes." with `Retry-After` set on the answer; otherwise the error's own description.
 */
export function problemText(c: Context, error: AuthError): string {
  if (error.code !== 'rate_limited') return error.description;
  const seconds = error.retryAfterSeconds ?? 60;
  c.header('Retry-After', String(seconds));
  const wait = seconds < 90 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`;
  return `Too many attempts. Try again in ${wait}.`;
}

/** Returns the error if it is one of `codes` (the ones a form shows inline); rethrows the rest. */
export function expected(error: unknown, ...codes: AuthErrorCode[]): AuthError {
  if (error instanceof AuthError && codes.includes(error.code)) return error;
  throw error;
}

/**
 * Every failure a handler did not show inline, as a page: a session that ended mid-request
 * sends the browser to sign in again; any other `AuthError` is its description with its
 * status; the rest is logged and classified by the app's handler, as in the JSON API.
 */
export const pageErrors =
  (handleError: RouteContext['handleError']): ErrorHandler<PageEnv> =>
  (error, c) => {
    if (error instanceof AuthError && error.code === 'invalid_token') {
      // The session ended between the check and the action (revoked elsewhere): sign in again.
      clearTokenCookies(c);
      return c.redirect(`${SIGN_IN}?notice=ended`, 303);
    }
    if (error instanceof AuthError) {
      return message(c, 'That did not work', problemText(c, error), STATUS[error.code] as 400);
    }
    // Logged and classified as the JSON API does; the person gets a page, never a stack.
    const unavailable = handleError(error, c).status === 503;
    return unavailable
      ? message(
          c,
          'Temporarily unavailable',
          'The service cannot reach its database. Try again in a moment.',
          503,
        )
      : message(c, 'Something went wrong', 'The server could not finish this request. Try again.', 500);
  };
