import {
  AggregatorRegistry,
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from 'prom-client';
import { TOKEN_REFUSALS, type TokenRefusal } from '../domain/token-refusals.js';
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
export function createPromMetrics(): Metrics & {
  registry: Registry;
  /** This process's counters, histograms and process metrics, for the primary to add up. */
  snapshot(): Promise<MetricSnapshot>;
  /**
   * A worker of `serve --workers N`: from now on /metrics answers `totals()` (every worker's
   * counters and process metrics added up by the primary, src/entry/cluster.ts) and the
   * database's figures read here.
   */
  reportClusterTotals(totals: () => Promise<string>): void;
} {
  // Two registries: `events` counts what happened in this process (summed over the workers of
  // a cluster); `state` holds figures read from the database at each scrape, which describe
  // the whole server already and must not be summed over workers.
  const events = new Registry();
  const state = new Registry();
  const outcomes = new Counter({
    name: 'latchkey_auth_outcomes_total',
    help: 'Logins, refreshes and MFA checks by result',
    labelNames: ['flow', 'result'] as const,
    registers: [events],
  });
  const requests = new Histogram({
    name: 'latchkey_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [events],
  });
  const cleaned = new Counter({
    name: 'latchkey_cleanup_deleted_rows_total',
    help: 'Rows deleted by cleanup (expired tokens, spent challenges, old events, retired keys)',
    labelNames: ['table'] as const,
    registers: [events],
  });
  const active = new Gauge({
    name: 'latchkey_sessions_active',
    help: 'Sessions with a live refresh token',
    registers: [state],
  });
  const createdToday = new Gauge({
    name: 'latchkey_sessions_created_today',
    help: 'Sessions opened since 00:00 UTC',
    registers: [state],
  });
  const liveAge = new Gauge({
    name: 'latchkey_sessions_live_age_seconds_avg',
    help: 'Mean age of the live sessions',
    registers: [state],
  });
  const endedDuration = new Gauge({
    name: 'latchkey_sessions_duration_seconds_avg',
    help: 'Mean length of the sessions revoked in the last 24 hours (opening to revocation)',
    registers: [state],
  });
  const mailOutcomes = new Counter({
    name: 'latchkey_mail_dispatched_total',
    help: 'Outbox messages handled by the dispatcher, by outcome (sent, retried, failed)',
    labelNames: ['outcome'] as const,
    registers: [events],
  });
  const outboxMessages = new Gauge({
    name: 'latchkey_mail_outbox_messages',
    help: 'Outbox messages by status (pending, sent, failed)',
    labelNames: ['status'] as const,
    registers: [state],
  });
  const oldestPending = new Gauge({
    name: 'latchkey_mail_outbox_oldest_pending_age_seconds',
    help: 'Age of the oldest message not delivered yet (0 with none): alert when it grows',
    registers: [state],
  });
  const webhookOutcomes = new Counter({
    name: 'latchkey_webhook_deliveries_total',
    help: 'Webhook delivery attempts, by outcome (delivered, retried, failed for good)',
    labelNames: ['outcome'] as const,
    registers: [events],
  });
  const webhookLatency = new Histogram({
    name: 'latchkey_webhook_delivery_seconds',
    help: 'How long receivers took to answer a webhook delivery',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [events],
  });
  const webhookBacklog = new Gauge({
    name: 'latchkey_webhook_deliveries',
    help: 'Webhook deliveries by status (pending, failed)',
    labelNames: ['status'] as const,
    registers: [state],
  });
  const webhookOldest = new Gauge({
    name: 'latchkey_webhook_oldest_pending_age_seconds',
    help: 'Age of the oldest webhook delivery not delivered yet (0 with none)',
    registers: [state],
  });
  const refused = new Counter({
    name: 'latchkey_token_validations_refused_total',
    help: 'Bearer requests refused (401), by reason: expired, bad_signature, session_ended, insufficient_assurance, …',
    labelNames: ['reason'] as const,
    registers: [events],
  });
  // Every reason from zero, so rate() and alerts see a series before its first refusal.
  for (const reason of TOKEN_REFUSALS) refused.inc({ reason }, 0);
  const registry = Registry.merge([events, state, processRegistry()]);
  let clusterTotals: (() => Promise<string>) | undefined;
  return {
    registry,
    // A copy: prom-client hands out its live value objects, which later counts would change.
    snapshot: async () =>
      structuredClone([
        ...(await events.getMetricsAsJSON()),
        ...(await processRegistry().getMetricsAsJSON()),
      ]),
    reportClusterTotals: (totals) => {
      clusterTotals = totals;
    },
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
      if (!clusterTotals) return { contentType: registry.contentType, body: await registry.metrics() };
      // Two expositions one after the other are one exposition: no metric is in both.
      const [totals, figures] = await Promise.all([clusterTotals(), state.metrics()]);
      return { contentType: registry.contentType, body: `${totals.trimEnd()}\n\n${figures}` };
    },
  };
}

/** A process's metrics as prom-client's JSON: what a worker sends the primary over IPC. */
export type MetricSnapshot = MetricObjectWithValues<MetricValue<string>>[];

const seriesKey = (metric: string, value: MetricValue<string> & { metricName?: string }) =>
  `${value.metricName ?? metric}${JSON.stringify(Object.entries(value.labels).sort())}`;

/**
 * The primary's side of /metrics for `serve --workers N` (issue #21): prom-client's
 * AggregatorRegistry.aggregate over the workers' snapshots (counters and histograms summed,
 * process metrics by each one's own aggregator: memory and CPU summed, event-loop lag
 * averaged, its max the max), plus the primary's own `latchkey_cluster_*` figures.
 *
 * A worker that dies takes its counts with it, and a total that goes down reads to
 * Prometheus as a counter reset (rate() would count the whole total again). So the last
 * snapshot of a worker that exits is kept (`retire`), and no counter or histogram series is
 * ever reported below what it was (what a killed worker counted after its last snapshot is
 * lost, but no total goes back).
 */
export function createClusterAggregator() {
  const own = new Registry();
  const workers = new Gauge({
    name: 'latchkey_cluster_workers',
    help: 'Worker processes of serve --workers that are serving',
    registers: [own],
    aggregator: 'first',
  });
  const restarts = new Counter({
    name: 'latchkey_cluster_worker_restarts_total',
    help: 'Worker processes that exited and were started again',
    registers: [own],
  });
  restarts.inc(0);
  let departed: MetricSnapshot = [];
  const reported = new Map<string, number>();
  // MetricType is an enum of these strings in prom-client's types.
  const accumulates = (metric: MetricSnapshot[number]) =>
    ['counter', 'histogram'].includes(String(metric.type));
  return {
    contentType: own.contentType,
    serving: (count: number) => workers.set(count),
    restarted: () => restarts.inc(),
    /** Keeps the counts of a worker that has exited (its last snapshot). */
    async retire(snapshot: MetricSnapshot): Promise<void> {
      const merged = AggregatorRegistry.aggregate([departed, snapshot.filter(accumulates)]);
      departed = (await merged.getMetricsAsJSON()) as MetricSnapshot;
    },
    /** The exposition of the whole server from the live workers' snapshots. */
    async render(snapshots: MetricSnapshot[]): Promise<string> {
      const merged = AggregatorRegistry.aggregate([...snapshots, departed, await own.getMetricsAsJSON()]);
      const metrics = (await merged.getMetricsAsJSON()) as MetricSnapshot;
      for (const metric of metrics) {
        if (!accumulates(metric)) continue;
        for (const value of metric.values) {
          const key = seriesKey(metric.name, value);
          value.value = Math.max(value.value, reported.get(key) ?? 0);
          reported.set(key, value.value);
        }
      }
      return AggregatorRegistry.aggregate([metrics]).metrics();
    },
  };
}
