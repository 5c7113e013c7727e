import { errorCodeOf } from '../../lib/errors.js';

/**
 * SQLSTATEs of class 57 (operator intervention) that postgres.js (3.4.9) can hand to a
 * statement it never sent, after PostgreSQL went down and came back:
 * - 57P01 admin_shutdown, 57P02 crash_shutdown: the FATAL a backend sends as it is ended
 *   (fast or immediate shutdown, a crash of another backend, pg_terminate_backend);
 * - 57P03 cannot_connect_now: "the database system is shutting down / starting up", which
 *   PostgreSQL only sends while a connection is being established, never for a statement.
 */
const STALE_CODES = new Set(['57P01', '57P02', '57P03']);

/**
 * Runs a method of a store again when it failed with one of STALE_CODES, at most once per
 * pooled connection (plus the first try).
 *
 * Why: postgres.js keeps the last ErrorResponse a connection received (and, when the socket
 * closed with a statement in flight, keeps that statement as its current one) across the
 * close; it never clears them when the socket closes. So:
 * - the FATAL 57P01 that ended a statement at shutdown is handed, on that connection's next
 *   successful connect, to the first statement after PostgreSQL is back — before sending it;
 * - a reconnect attempt while PostgreSQL is still shutting down gets 57P03 at startup, which
 *   postgres.js stores the same way (because of the kept statement) instead of failing with
 *   it; it fails with ECONNREFUSED once PostgreSQL is down, and hands the stored 57P03 to the
 *   first statement once PostgreSQL is back (test/faults/reconnect.fault.ts reproduces it).
 * Either way one request per such connection failed with 503 right after recovery.
 *
 * Why it is safe: postgres.js settles a statement with a server error only on the
 * ReadyForQuery that follows it, and a FATAL is never followed by one (the server closes the
 * connection): the statement a FATAL interrupted fails with CONNECTION_CLOSED or ECONNRESET,
 * whose outcome is unknown (a COMMIT may have happened), and those are never retried here.
 * So a 57P0x that reaches us comes from a connection's startup or is a stale one replayed at
 * startup, and in both cases the statement — or the BEGIN of the method's transaction — was
 * never sent: nothing ran, nothing committed. Every method of our stores is one statement or
 * one transaction, so running it again is running it once. test/faults/reconnect.fault.ts
 * checks the postgres.js behaviour this relies on (`postgres` is pinned to an exact version).
 *
 * Bounded: each connection replays at most one stale error (the replay clears it), and a
 * retry may land on another stale connection, hence one try per pooled connection. While
 * PostgreSQL is really down, connects fail with ECONNREFUSED (not retried) and the caller gets
 * 503 at once; while it starts up, each retry is one refused startup, milliseconds each.
 */
export function retryOnAdminShutdown<T extends object>(target: T, poolSize: number): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await value.apply(object, args);
          } catch (error) {
            if (!isStale(error) || attempt >= poolSize) throw error;
          }
        }
      };
    },
  });
}

/** Whether the error is one postgres.js only hands to a statement it never sent (see above). */
function isStale(error: unknown): boolean {
  const code = errorCodeOf(error);
  return code !== undefined && STALE_CODES.has(code);
}
