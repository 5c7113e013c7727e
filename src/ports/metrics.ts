import type { TokenRefusal } from '../domain/token-refusals.js';
import type { OutboxStats } from './mail.js';

/** Webhook deliveries not yet delivered (issue #18). */
export interface WebhookStats {
  pending: number;
  failed: number;
  oldestPendingAgeSeconds: number;
}

/**
 * What the server counts, for operators. Adapters expose it (Prometheus on Node); the
 * default does nothing, so nothing in the core depends on a metrics library.
 */
export type AuthFlow = 'login' | 'refresh' | 'mfa';

export interface SessionStats {
  /** Sessions with a live refresh token. */
  active: number;
  /** Sessions opened since 00:00 UTC. */
  createdToday: number;
  /** Mean age of the live sessions, seconds. */
  averageLiveAgeSeconds: number;
  /** Mean length (opening to revocation) of the sessions revoked in the last 24 hours, seconds. */
  averageEndedDurationSeconds: number;
}

export interface Metrics {
  /** One outcome of a login, a refresh or an MFA check (`ok`, `failed`, `throttled`, …). */
  authOutcome(flow: AuthFlow, result: string): void;
  request(labels: { method: string; route: string; status: number }, seconds: number): void;
  cleaned(table: string, rows: number): void;
  /** One dispatcher run's outcomes (issue #17). */
  mailDispatched(counts: { sent: number; retried: number; failed: number }): void;
  /** One webhook attempt (issue #18): its outcome and how long the receiver took. */
  webhookAttempt(outcome: 'delivered' | 'retried' | 'failed', seconds: number): void;
  /** One Bearer request refused (issue #21), by why: a bounded set, decided where the refusal is. */
  tokenRefused(reason: TokenRefusal): void;
  /** The text exposition, with the session and outbox gauges read at scrape time. */
  expose(read: {
    sessions: () => Promise<SessionStats>;
    outbox: () => Promise<OutboxStats>;
    webhooks: () => Promise<WebhookStats>;
  }): Promise<{ contentType: string; body: string }>;
}

export const noMetrics: Metrics = {
  authOutcome() {},
  request() {},
  cleaned() {},
  mailDispatched() {},
  webhookAttempt() {},
  tokenRefused() {},
  async expose() {
    return { contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '' };
  },
};
