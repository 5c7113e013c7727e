import { describe, expect, it } from 'vitest';
import { admitSession, refreshTokenExpiry, type SessionPolicy } from '../../src/domain/session-policy.js';

const newestFirst = ['s5', 's4', 's3', 's2', 's1'];

describe('admitSession: the session limit decided once (the store applies it under the user lock)', () => {
  it('below the limit: admitted, nothing evicted, whatever the policy', () => {
    expect(admitSession(['s2', 's1'], 5, 'evict')).toEqual({ admitted: true, evict: [] });
    expect(admitSession(['s2', 's1'], 5, 'reject')).toEqual({ admitted: true, evict: [] });
  });

  it('one below the limit: room for exactly one more', () => {
    expect(admitSession(['s4', 's3', 's2', 's1'], 5, 'reject')).toEqual({ admitted: true, evict: [] });
  });

  it('at the limit with evict: the least recently active session makes room', () => {
    expect(admitSession(newestFirst, 5, 'evict')).toEqual({ admitted: true, evict: ['s1'] });
  });

  it('over the limit (the limit was lowered) with evict: every session past the newest limit-1 goes', () => {
    expect(admitSession(newestFirst, 3, 'evict')).toEqual({ admitted: true, evict: ['s3', 's2', 's1'] });
  });

  it('at or over the limit with reject: refused, nothing evicted', () => {
    expect(admitSession(newestFirst, 5, 'reject')).toEqual({ admitted: false });
    expect(admitSession(newestFirst, 2, 'reject')).toEqual({ admitted: false });
  });
});

describe('refreshTokenExpiry: its TTL from the rotation, never past the session', () => {
  const policy: SessionPolicy = {
    refreshTokenTtlMs: 30 * 86_400_000,
    sessionTtlMs: 30 * 86_400_000,
    sessionRememberTtlMs: 90 * 86_400_000,
    maxSessionsPerUser: 10,
  };
  const now = new Date('2031-01-01T00:00:00.000Z');
  it('the TTL when the session lasts longer', () => {
    const sessionEnd = new Date(now.getTime() + 60 * 86_400_000);
    expect(refreshTokenExpiry(now, sessionEnd, policy)).toEqual(new Date(now.getTime() + 30 * 86_400_000));
  });
  it('the session end when it comes first', () => {
    const sessionEnd = new Date(now.getTime() + 86_400_000);
    expect(refreshTokenExpiry(now, sessionEnd, policy)).toEqual(sessionEnd);
  });
});
