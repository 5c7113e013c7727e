/**
 * Failure counters that hold across instances (state in the database). A limit is a number
 * of failures per window; past it, callers wait until the window ends.
 */
export interface LimitPolicy {
  points: number;
  windowMs: number;
}

export interface RateLimiter {
  /** Seconds to wait before `key` may try again; 0 when it may try now. */
  retryAfter(key: string, policy: LimitPolicy, now: Date): Promise<number>;
  /** Counts one failure against `key`; returns the wait that applies from now on (0 if none). */
  penalize(key: string, policy: LimitPolicy, now: Date): Promise<number>;
  /** Forgets `key`'s failures (a success on that key). */
  reset(key: string): Promise<void>;
}
