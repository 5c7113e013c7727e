import type { Metrics } from '../../ports/metrics.js';
import type { Health } from '../../services/health.js';
import { metricsHandler } from '../metrics.js';
import * as R from '../responses.js';
import { routeTable, type Security } from '../route-table.js';

/**
 * METRICS_TOKEN as a Bearer token. `metricsHandler` checks it itself: with no token configured
 * the route answers 404, as if it did not exist, before any credential is looked at.
 */
const METRICS_TOKEN: Security = { requirement: [{ metricsToken: [] }] };

/** `/health` and `/metrics`: what operators and their probes ask of the server itself. */
export function operationsRoutes(deps: {
  health: Health;
  metrics: Metrics;
  metricsToken: string | undefined;
}) {
  const table = routeTable('');

  table.route(
    {
      method: 'get',
      path: '/health',
      tag: 'operations',
      summary: 'Readiness: 200 once the database answers, 503 otherwise and while the server is stopping',
      ok: { status: 200, description: 'Serving', schema: R.Health },
    },
    async (c) =>
      (await deps.health.isAvailable()) ? c.json({ status: 'ok' }) : c.json({ status: 'unavailable' }, 503),
  );

  table.route(
    {
      method: 'get',
      path: '/metrics',
      tag: 'operations',
      summary: 'Prometheus metrics (METRICS_TOKEN as a Bearer token)',
      security: METRICS_TOKEN,
      ok: { status: 200, description: 'Prometheus text format', contentType: 'text/plain; version=0.0.4' },
      errors: ['invalid_token', 'not_found'],
    },
    metricsHandler({ metrics: deps.metrics, health: deps.health, token: deps.metricsToken }),
  );

  return table.done();
}
