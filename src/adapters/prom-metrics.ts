import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { TOKEN_REFUSALS, type TokenRefusal } from '../domain/bearer.js';
import type { Metrics } from '../ports/metrics.js';

let processMetrics: Registry | undefined;

/**
 * prom-client's default metrics (issue #21: memory, CPU, event-loop lag, GC, handles), in a
 * registry of their own made once per process: they describe the process, not an app, and
 * each registration starts its own samplers (perf_hooks monitorEventLoopDelay, a GC
 * PerformanceObserver) that are never stopped. The tests build many apps in one process;
 * they all share these. Made on first use, not on import.
 */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

/**
 * The Metrics port over prom-client, one registry per app (tests build several apps), with
 * the process's default metrics merged in. Node only: the Worker wires `noMetrics`, so
 * neither prom-client nor perf_hooks is in its bundle.
 */
export function createPromMetrics(): Metrics & { registry: Registry } {
  const own = new Registry();
  const outcomes = new Counter({
    name: 'latchkey_auth_outcomes_total',
    help: 'Logins, refreshes and MFA checks by result',
    labelNames: ['flow', 'result'] as const,
    registers: [own],
  });
  const requests = new Histogram({
    name: 'latchkey_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [own],
  });
  const cleaned = new Counter({
    name: 'latchkey_cleanup_deleted_rows_total',
    help: 'Rows deleted by cleanup (expired tokens, spent challenges, old events, retired keys)',
    labelNames: ['table'] as const,
    registers: [own],
  });
  const active = new Gauge({
    name: 'latchkey_sessions_active',
    help: 'Sessions with a live refresh token',
    registers: [own],
  });
  const createdToday = new Gauge({
    name: 'latchkey_sessions_created_today',
    help: 'Sessions opened since 00:00 UTC',
    registers: [own],
  });
  const liveAge = new Gauge({
    name: 'latchkey_sessions_live_age_seconds_avg',
    help: 'Mean age of the live sessions',
    registers: [own],
  });
  const endedDuration = new Gauge({
    name: 'latchkey_sessions_duration_seconds_avg',
    help: 'Mean length of the sessions revoked in the last 24 hours (opening to revocation)',
    registers: [own],
  });
  const mailOutcomes = new Counter({
    name: 'latchkey_mail_dispatched_total',
    help: 'Outbox messages handled by the dispatcher, by outcome (sent, retried, failed)',
    labelNames: ['outcome'] as const,
    registers: [own],
  });
  const outboxMessages = new Gauge({
    name: 'latchkey_mail_outbox_messages',
    help: 'Outbox messages by status (pending, sent, failed)',
    labelNames: ['status'] as const,
    registers: [own],
  });
  const oldestPending = new Gauge({
    name: 'latchkey_mail_outbox_oldest_pending_age_seconds',
    help: 'Age of the oldest message not delivered yet (0 with none): alert when it grows',
    registers: [own],
  });
  const webhookOutcomes = new Counter({
    name: 'latchkey_webhook_deliveries_total',
    help: 'Webhook delivery attempts, by outcome (delivered, retried, failed for good)',
    labelNames: ['outcome'] as const,
    registers: [own],
  });
  const webhookLatency = new Histogram({
    name: 'latchkey_webhook_delivery_seconds',
    help: 'How long receivers took to answer a webhook delivery',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [own],
  });
  const webhookBacklog = new Gauge({
    name: 'latchkey_webhook_deliveries',
    help: 'Webhook deliveries by status (pending, failed)',
    labelNames: ['status'] as const,
    registers: [own],
  });
  const webhookOldest = new Gauge({
    name: 'latchkey_webhook_oldest_pending_age_seconds',
    help: 'Age of the oldest webhook delivery not delivered yet (0 with none)',
    registers: [own],
  });
  const refused = new Counter({
    name: 'latchkey_token_validations_refused_total',
    help: 'Bearer requests refused (401), by reason: expired, bad_signature, session_ended, insufficient_assurance, …',
    labelNames: ['reason'] as const,
    registers: [own],
  });
  // Every reason from zero, so rate() and alerts see a series before its first refusal.
  for (const reason of TOKEN_REFUSALS) refused.inc({ reason }, 0);
  const registry = Registry.merge([own, processRegistry()]);
  return {
    registry,
    // The type bounds the label; the check keeps it bounded whatever a caller casts.
    tokenRefused: (reason: TokenRefusal) =>
      refused.inc({ reason: TOKEN_REFUSALS.includes(reason) ? reason : 'other' }),
    webhookAttempt: (outcome, seconds) => {
      webhookOutcomes.inc({ outcome });
      webhookLatency.observe(seconds);
    },
    authOutcome: (flow, result) => outcomes.inc({ flow, result }),
    request: ({ method, route, status }, seconds) =>
      requests.observe({ method, route, status: String(status) }, seconds),
    cleaned: (table, rows) => {
      if (rows > 0) cleaned.inc({ table }, rows);
    },
    mailDispatched: (counts) => {
      for (const outcome of ['sent', 'retried', 'failed'] as const)
        if (counts[outcome] > 0) mailOutcomes.inc({ outcome }, counts[outcome]);
    },
    async expose(read) {
      const [stats, outbox, hooks] = await Promise.all([read.sessions(), read.outbox(), read.webhooks()]);
      webhookBacklog.set({ status: 'pending' }, hooks.pending);
      webhookBacklog.set({ status: 'failed' }, hooks.failed);
      webhookOldest.set(hooks.oldestPendingAgeSeconds);
      outboxMessages.set({ status: 'pending' }, outbox.pending);
      outboxMessages.set({ status: 'sent' }, outbox.sent);
      outboxMessages.set({ status: 'failed' }, outbox.failed);
      oldestPending.set(outbox.oldestPendingAgeSeconds);
      active.set(stats.active);
      createdToday.set(stats.createdToday);
      liveAge.set(stats.averageLiveAgeSeconds);
      endedDuration.set(stats.averageEndedDurationSeconds);
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
