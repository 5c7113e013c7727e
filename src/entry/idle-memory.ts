import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Memory given back when the server has been idle (issue #21, IDLE_MEMORY_RELEASE).
 *
 * Under load V8 grows its young generation to its maximum (2 × 16 MiB on Node 20 and 22, 2 × 8
 * MiB with the launch flags of node-flags.ts on 22.15 and later) and leaves the old generation
 * with free pages, all resident. It gives them back only in a full collection that finds the
 * allocation rate since the previous collection low (under 1 KB/ms): its own memory reducer
 * starts such collections, but 26-30 s after the last request (measured on Node 20 after a
 * refresh load: 190 MiB resident until then, 140 MiB after). This makes two full collections
 * itself once the server has had no request for `idleSeconds`: the first ends the interval that
 * held the traffic, the second, SECOND_COLLECTION_AFTER_MS later, measures the quiet alone; V8
 * then shrinks the young generation to 1 MiB and frees the old generation's empty pages
 * (measured on Node 20 after 96 registrations and 200 refreshes: 175 MiB before, 142 after).
 *
 * Once per quiet period (the next request arms it again); the requests are counted, not timed,
 * so a request costs one increment. A request arriving during a collection waits for it: 4-13
 * ms on a heap of 30-50 MiB (measured), twice after each quiet period.
 */
/**
 * The second collection of a quiet period, this long after the first. V8 measures the allocation
 * rate from one collection to the next: the first one's interval may hold the traffic before the
 * quiet period, the second's holds only the quiet, which V8 needs to see to shrink the young
 * generation. Measured on Node 20 after registrations and sequential refreshes: the young
 * generation stayed at 32 MiB after one collection 10 s into the quiet.
 */
export const SECOND_COLLECTION_AFTER_MS = 6_000;

export interface IdleRelease {
  /** Called on every request (an HTTP server's `request` event). */
  onRequest(): void;
  /** Called every second: collects when no request came for `idleSeconds`, and again 6 s later. */
  tick(): void;
}

export function idleRelease(options: {
  idleSeconds: number;
  collect: () => void;
  now: () => number;
}): IdleRelease {
  const idleMs = options.idleSeconds * 1000;
  let arrivals = 0;
  let seen = 0;
  let quietSince = options.now();
  // Collections made in this quiet period. The start leaves garbage too (the modules, PGlite's
  // start-up): the first quiet period counts.
  let made = 0;
  return {
    onRequest() {
      arrivals++;
    },
    tick() {
      const now = options.now();
      if (arrivals !== seen) {
        seen = arrivals;
        quietSince = now;
        made = 0;
        return;
      }
      const due = made === 0 ? idleMs : made === 1 ? idleMs + SECOND_COLLECTION_AFTER_MS : Infinity;
      if (now - quietSince >= due) {
        made++;
        options.collect();
      }
    },
  };
}

/**
 * V8's full collection, as `--expose-gc` offers it: the flag set at run time gives each new
 * context a `gc` function (the process's own global scope stays without one). Undefined where
 * the runtime does not give it.
 */
export function fullCollection(): (() => void) | undefined {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
  return typeof gc === 'function' ? (gc as () => void) : undefined;
}

/**
 * Wires idleRelease to a Node HTTP server and a one-second timer that never keeps the process
 * alive; `idleSeconds` 0 turns it off. Returns the timer's stop.
 */
export function releaseMemoryWhenIdle(
  server: { on(event: 'request', listener: () => void): unknown },
  idleSeconds: number,
): () => void {
  if (idleSeconds <= 0) return () => {};
  const collect = fullCollection();
  if (!collect) return () => {};
  const release = idleRelease({ idleSeconds, collect, now: () => performance.now() });
  server.on('request', release.onRequest);
  const timer = setInterval(() => release.tick(), 1000);
  timer.unref();
  return () => clearInterval(timer);
}
