import { errorCodeOf } from '../../lib/errors.js';

/** PostgreSQL's admin_shutdown: the server ended the backend (a fast shutdown or restart). */
const ADMIN_SHUTDOWN = '57P01';

/**
 * Runs a method of a store again when it failed with 57P01. postgres.js (3.4.9) keeps the
 * error a query received while PostgreSQL shut down on its pooled connection, and rejects the
 * first query after that connection reconnects with it, without running it: without this,
 * each pooled connection fails one request with 503 after PostgreSQL is back and healthy
 * (seen by test/faults). Every method of our stores is atomic (one statement or one
 * transaction), and a statement ended by 57P01 did not commit, so running it again is safe.
 * While the database is really down the second try fails too, fast, and the caller gets 503.
 */
export function retryOnAdminShutdown<T extends object>(target: T, poolSize: number): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        // Each stale connection fails once, and a retry may land on another stale one: at
        // most one try per pooled connection, plus one.
        for (let attempt = 0; ; attempt++) {
          try {
            return await value.apply(object, args);
          } catch (error) {
            if (errorCodeOf(error) !== ADMIN_SHUTDOWN || attempt >= poolSize) throw error;
          }
        }
      };
    },
  });
}
