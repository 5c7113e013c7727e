/**
 * Attempt counters that hold across instances (state in the database). A limit is a number
 * of attempts per fixed window; past it, callers wait until the window ends.
 *
 * An attacker sends every request 100 times at once, so an attempt is counted atomically
 * BEFORE the work it guards (OWASP ASVS V2.2.1, V11.1.4): `hit` increments and returns the
 * new count in one statement, and only attempts within the limit go on to the work. A
 * read-then-write check would let every parallel request through before the first count.
 */
export interface LimitPolicy {
  points: number;
  windowMs: number;
}

/** One counter to charge: a key (bounded, never raw user text) and its policy. */
export interface LimitCharge {
  key: string;
  policy: LimitPolicy;
}

export interface RateLimiter {
  /**
   * Counts one attempt against every key, atomically, and returns for each the seconds to
   * wait (0 when this attempt is within that key's limit). Over-limit attempts are counted
   * too: they do not extend the window.
   */
  hit(charges: LimitCharge[], now: Date): Promise<number[]>;
  /**
   * Gives one attempt back to each of `keys` (a success that should not count against it),
   * and forgets every attempt of each of `clear`, in one statement.
   */
  refund(keys: string[], now: Date, clear?: string[]): Promise<void>;
}
