/**
 * "A sign-in at an hour of the day this account has never signed in at" (issue #17 §4), kept
 * simple enough to explain in one sentence (docs/email.md, "Security notifications"):
 *
 * A sign-in is at an unusual time when the account has at least `MIN_HISTORY` successful
 * sign-ins in the last `HISTORY_DAYS` days and none of them within `NEIGHBOUR_HOURS` hour of the
 * same time of day (UTC, on a 24-hour circle: 23:30 is next to 00:10).
 *
 * Too little history says nothing (a new account signs in at every hour for the first time),
 * hence the minimum; the neighbouring hours absorb daylight-saving shifts and a late evening.
 */
export const UNUSUAL_TIME = { MIN_HISTORY: 10, HISTORY_DAYS: 90, NEIGHBOUR_HOURS: 1 } as const;

/** What the event log knows of the account's earlier sign-ins around this time of day. */
export interface SignInHistory {
  /** Successful sign-ins in the history window. */
  count: number;
  /** Whether one of them was within NEIGHBOUR_HOURS of this hour of the day. */
  nearThisHour: boolean;
}

export function isUnusualTime(history: SignInHistory): boolean {
  return history.count >= UNUSUAL_TIME.MIN_HISTORY && !history.nearThisHour;
}

/** The distance of two hours of the day on a 24-hour circle (0-12). */
export function hourDistance(a: number, b: number): number {
  const d = Math.abs(a - b) % 24;
  return Math.min(d, 24 - d);
}
