import type { Clock } from '../ports/clock.js';
import type { OutboxStats, OutboxStore } from '../ports/mail.js';
import type { SessionStats, WebhookStats } from '../ports/metrics.js';
import type { Maintenance } from '../ports/store.js';
import type { WebhookStore } from '../ports/webhooks.js';

/** What operators ask of the server itself: is it up (GET /health), and the session gauges (GET /metrics). */
export interface Health {
  /** Whether the database answers. */
  isAvailable(): Promise<boolean>;
  /** The session gauges, read at scrape time. */
  sessionStats(): Promise<SessionStats>;
  /** The outbox gauges (pending, sent, failed, oldest pending age), read at scrape time. */
  outboxStats(): Promise<OutboxStats>;
  webhookStats(): Promise<WebhookStats>;
}

export function createHealth(deps: {
  store: Pick<Maintenance, 'ping' | 'sessionStats'> &
    Pick<OutboxStore, 'outboxStats'> &
    Pick<WebhookStore, 'webhookStats'>;
  clock: Clock;
}): Health {
  const { store, clock } = deps;
  return {
    async isAvailable() {
      try {
        await store.ping();
        return true;
      } catch {
        return false;
      }
    },
    sessionStats: () => store.sessionStats(clock.now()),
    outboxStats: () => store.outboxStats(clock.now()),
    webhookStats: () => store.webhookStats(clock.now()),
  };
}

/**
 * `health` that answers unavailable once `stopping()` says so: a stopping instance fails its
 * readiness checks while it still serves, so the load balancer takes it out before it stops
 * listening (SHUTDOWN_DELAY, entry/node-server.ts).
 */
export function whileServing(health: Health, stopping: () => boolean): Health {
  return { ...health, isAvailable: async () => !stopping() && (await health.isAvailable()) };
}
