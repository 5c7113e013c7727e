import type { Context, MiddlewareHandler } from 'hono';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics } from '../ports/metrics.js';
import { countRequest } from './metrics.js';

/** Routes whose successful answers are summarised, not logged one by one (see `requestLog`). */
const SUMMARISED = new Set(['/v1/auth/refresh', '/oauth/token']);

/** How often the summary of successful refreshes is written (at the first request after it). */
export const REFRESH_SUMMARY_MS = 60_000;

/**
 * The request log: one `request` line per request (request id, method, route template,
 * status, latency, and the caller's user and session when known), and the request metrics.
 *
 * Successful refreshes are the exception. They are most of an auth server's traffic and the
 * least interesting of it, and a JSON line each was about a tenth of the CPU a refresh costs
 * (issue #21, BENCHMARKS.md). Each is logged at `debug`, and at `info` a `refresh summary`
 * line says, once a minute while refreshes happen, how many succeeded and how long they took.
 * Every failed refresh (status >= 400: a reused token, a throttled client) keeps its own
 * `request` line at `info`, and /metrics counts every outcome as before.
 */
export function requestLog(logger: Logger, metrics: Metrics, clock: Clock): MiddlewareHandler {
  let windowStart = clock.now().getTime();
  let count = 0;
  let totalMs = 0;
  let maxMs = 0;
  const flush = (now: number) => {
    if (count > 0) {
      logger.info('refresh summary', {
        refreshes: count,
        seconds: Math.round((now - windowStart) / 1000),
        latency_ms_mean: Math.round((totalMs / count) * 10) / 10,
        latency_ms_max: Math.round(maxMs * 10) / 10,
      });
    }
    windowStart = now;
    count = 0;
    totalMs = 0;
    maxMs = 0;
  };
  return async function requestLog(c, next) {
    const started = performance.now();
    await next();
    const elapsedMs = performance.now() - started;
    countRequest(metrics, c, elapsedMs / 1000);
    const status = c.res.status;
    const route = c.req.routePath;
    const caller = (c as unknown as Context<{ Variables: { caller?: { sub: string; sid: string } } }>).get(
      'caller',
    );
    const fields = {
      request_id: c.get('requestId'),
      method: c.req.method,
      route,
      status,
      latency_ms: Math.round(elapsedMs * 10) / 10,
      ...(caller ? { user_id: caller.sub, session_id: caller.sid } : {}),
    };
    if (status >= 400 || !SUMMARISED.has(route)) {
      logger.info('request', fields);
      return;
    }
    logger.debug?.('request', fields);
    count++;
    totalMs += elapsedMs;
    if (elapsedMs > maxMs) maxMs = elapsedMs;
    const now = clock.now().getTime();
    if (now - windowStart >= REFRESH_SUMMARY_MS) flush(now);
  };
}
