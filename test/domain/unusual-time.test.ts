import { describe, expect, it } from 'vitest';
import { hourDistance, isUnusualTime, UNUSUAL_TIME } from '../../src/domain/unusual-time.js';

describe('unusual time of day (issue #17 §4)', () => {
  it('needs history: fewer than MIN_HISTORY sign-ins judge nothing', () => {
    expect(isUnusualTime({ count: UNUSUAL_TIME.MIN_HISTORY - 1, nearThisHour: false })).toBe(false);
    expect(isUnusualTime({ count: UNUSUAL_TIME.MIN_HISTORY, nearThisHour: false })).toBe(true);
    expect(isUnusualTime({ count: UNUSUAL_TIME.MIN_HISTORY, nearThisHour: true })).toBe(false);
  });
  it('measures hours on a 24-hour circle', () => {
    expect(hourDistance(23.5, 0.25)).toBeCloseTo(0.75);
    expect(hourDistance(9, 21)).toBe(12);
    expect(hourDistance(3, 1)).toBe(2);
  });
});
