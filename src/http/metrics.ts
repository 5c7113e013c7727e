import type { Context } from 'hono';
import { BearerError, bearerToken } from '../domain/bearer.js';
import { AuthError, type AuthErrorCode } from '../domain/errors.js';
import { secretChecker } from '../lib/crypto.js';
import type { AuthFlow, Metrics } from '../ports/metrics.js';
import type { Health } from '../services/health.js';
import { ERROR_CODE, kept, MFA_REQUIRED } from './context-keys.js';
import { errorResponse } from './errors.js';

const FLOWS: Record<string, AuthFlow> = {
  '/v1/auth/login': 'login',
  '/v1/auth/refresh': 'refresh',
  '/oauth/token': 'refresh',
  '/v1/auth/login/mfa': 'mfa',
  '/v1/auth/step-up': 'mfa',
  '/v1/mfa/totp/activate': 'mfa',
};

const FAILED: AuthErrorCode[] = [
  'invalid_credentials',
  'invalid_code',
  'wrong_code',
  'wrong_password',
  'invalid_mfa_token',
];

/** ok, mfa_required, failed, throttled, reused, invalid, or the error code (a bounded set). */
function resultOf(
  flow: AuthFlow,
  status: number,
  code: AuthErrorCode | undefined,
  mfaRequired: boolean,
): string {
  if (status < 400) return mfaRequired ? 'mfa_required' : 'ok';
  if (code === 'rate_limited') return 'throttled';
  if (code === 'refresh_token_reused') return 'reused';
  if (flow === 'refresh' && code === 'invalid_grant') return 'invalid';
  if (code && FAILED.includes(code)) return 'failed';
  return code ?? `http_${status}`;
}

/**
 * Counts a finished request (latency per route), a refused Bearer token by reason, and the
 * outcome of a login, refresh or MFA check; called by the request log, which times each
 * request once for all of them.
 */
export function countRequest(metrics: Metrics, c: Context, seconds: number): void {
  const route = c.req.routePath;
  const status = c.res.status;
  metrics.request({ method: c.req.method, route, status }, seconds);
  // The one place refusals are counted: every Bearer refusal that answers a request (the
  // guard of the API's routes, a handler's own) reaches the app's error handler, which Hono
  // records as `c.error`. The reason was decided where the refusal was (domain/bearer.ts).
  if (c.error instanceof BearerError) metrics.tokenRefused(c.error.reason);
  const flow = FLOWS[route];
  if (flow) {
    const code = kept(c, ERROR_CODE);
    metrics.authOutcome(flow, resultOf(flow, status, code, kept(c, MFA_REQUIRED) === true));
  }
}

/** GET /metrics: Prometheus text, for the holder of METRICS_TOKEN only; 404 when none is configured. */
export function metricsHandler(deps: { metrics: Metrics; health: Health; token: string | undefined }) {
  const check = secretChecker(new Map(deps.token ? [['metrics', deps.token]] : []));
  return async (c: Context) => {
    if (!deps.token) return errorResponse(c, new AuthError('not_found', 'No such route'));
    const presented = bearerToken(c.req.header('authorization'));
    if (!presented || !(await check('metrics', presented))) {
      throw new AuthError('invalid_token', 'GET /metrics needs METRICS_TOKEN as a Bearer token');
    }
    const { contentType, body } = await deps.metrics.expose({
      sessions: () => deps.health.sessionStats(),
      outbox: () => deps.health.outboxStats(),
      webhooks: () => deps.health.webhookStats(),
    });
    c.header('Cache-Control', 'no-store');
    return c.body(body, 200, { 'Content-Type': contentType });
  };
}
