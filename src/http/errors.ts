import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { BearerError, bearerChallenge } from '../domain/bearer.js';
import { AuthError, type AuthErrorCode } from '../domain/errors.js';
import { describeError } from '../lib/errors.js';
import type { ClassifyFailure } from '../ports/failure-kind.js';
import type { Logger } from '../ports/logger.js';
import { ERROR_CODE, keep } from './context-keys.js';

/** The one place where error codes become HTTP statuses (API.md, Conventions). */
export const STATUS: Record<AuthErrorCode, ContentfulStatusCode> = {
  invalid_request: 400,
  invalid_password: 400,
  unsupported_media_type: 415,
  payload_too_large: 413,
  invalid_credentials: 401,
  wrong_password: 403,
  wrong_code: 403,
  invalid_code: 401,
  invalid_passkey: 401,
  wrong_passkey: 403,
  passkey_not_accepted: 400,
  passkey_exists: 409,
  passkey_limit_reached: 409,
  invalid_mfa_token: 401,
  mfa_already_enabled: 409,
  mfa_not_enabled: 409,
  invalid_grant: 401,
  invalid_client: 401,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  refresh_token_reused: 401,
  invalid_token: 401,
  // RFC 9449 §5: at the token endpoints; a resource route's refusal is a BearerError (401).
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
  insufficient_user_authentication: 401,
  invalid_origin: 403,
  not_found: 404,
  email_taken: 409,
  rate_limited: 429,
  session_limit_reached: 409,
  invalid_limit_token: 401,
  invalid_email_token: 400,
  mfa_required: 403,
  account_disabled: 403,
  email_not_verified: 403,
  delivery_not_replayable: 409,
  user_disabled: 409,
  mail_not_retryable: 409,
  forbidden: 403,
  server_error: 500,
  temporarily_unavailable: 503,
};

/** The contract's JSON error; `status` overrides the code's usual one (the /oauth endpoints). */
export function errorResponse(c: Context, error: AuthError, status?: ContentfulStatusCode): Response {
  const challenge = bearerChallenge(error);
  if (challenge) c.header('WWW-Authenticate', challenge);
  if (error.retryAfterSeconds !== undefined) c.header('Retry-After', String(error.retryAfterSeconds));
  c.header('Cache-Control', 'no-store');
  return c.json(
    {
      error: error.code,
      error_description: error.description,
      ...(error.attemptsLeft !== undefined ? { attempts_left: error.attemptsLeft } : {}),
      ...error.extra,
    },
    status ?? (error instanceof BearerError ? error.status : STATUS[error.code]),
  );
}

/** Maps every failure to the contract's JSON error; nothing else (no stack) ever leaves. */
export function handleError(logger: Logger, classifyFailure: ClassifyFailure) {
  return function handleError(error: unknown, c: Context): Response {
    if (error instanceof AuthError) {
      keep(c, ERROR_CODE, error.code);
      return errorResponse(c, error);
    }
    if (error instanceof HTTPException && error.status < 500) {
      const code: AuthErrorCode =
        error.status === 413 ? 'payload_too_large' : error.status === 404 ? 'not_found' : 'invalid_request';
      return errorResponse(c, new AuthError(code, error.message || 'The request is invalid'));
    }
    // The adapters classify their own errors (src/ports/failure-kind.ts): no driver code here.
    if (classifyFailure(error) === 'unavailable') {
      logger.error('database unavailable', {
        request_id: c.get('requestId'),
        route: c.req.routePath,
        error: error instanceof Error ? error.name : 'unknown',
      });
      return errorResponse(
        c,
        new AuthError('temporarily_unavailable', 'The service is temporarily unavailable'),
      );
    }
    logger.error('unexpected error', {
      request_id: c.get('requestId'),
      route: c.req.routePath,
      error: describeError(error),
    });
    return errorResponse(c, new AuthError('server_error', 'An unexpected error occurred'));
  };
}
