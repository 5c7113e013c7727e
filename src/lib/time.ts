/** Durations in configuration are seconds; the core works in milliseconds. */
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export const toEpochSeconds = (date: Date): number => Math.floor(date.getTime() / SECOND);
