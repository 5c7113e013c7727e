import type { Clock } from '../ports/clock.js';
import type { SessionStats } from '../ports/metrics.js';
import type { Maintenance } from '../ports/store.js';

/** What operators ask of the server itself: is it up (GET /health), and the session gauges (GET /metrics). */
export interface Health {
  /** Whether the database answers. */
  isAvailable(): Promise<boolean>;
  /** The session gauges, read at scrape time. */
  sessionStats(): Promise<SessionStats>;
}

export function createHealth(deps: {
  store: Pick<Maintenance, 'ping' | 'sessionStats'>;
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
  };
}
