import { describe, expect, it } from 'vitest';
import { decideReplay, type RefreshTokenState } from '../../src/domain/refresh-decision.js';

const now = new Date('2030-01-01T00:00:10.000Z');
const policy = { reuseGraceMs: 10_000 };
const at = (iso: string) => new Date(`2030-01-01T${iso}Z`);

const token = (overrides: Partial<RefreshTokenState> = {}): RefreshTokenState => ({
  sessionId: 'session-1',
  userId: 'user-1',
  clientId: 'default',
  rotatedAt: null,
  revokedAt: null,
  expiresAt: at('01:00:00.000'),
  ...overrides,
});

describe('decideReplay', () => {
  it.each([
    ['an unknown token', [undefined], { kind: 'invalid', reason: 'unknown' }],
    ['a revoked token', [token({ revokedAt: at('00:00:05.000') })], { kind: 'invalid', reason: 'revoked' }],
    ['a live token that could not be claimed (expired)', [token()], { kind: 'invalid', reason: 'expired' }],
    [
      'a rotated token replayed after the grace window',
      [token({ rotatedAt: new Date('2029-12-31T23:59:59.999Z') }), token()],
      { kind: 'reuse', sessionId: 'session-1', userId: 'user-1' },
    ],
    [
      'a rotated token replayed inside the grace window',
      [token({ rotatedAt: at('00:00:05.000') }), token()],
      { kind: 'grace', generation: 1 },
    ],
    [
      'a replay inside the window after the successor rotated too: the live one',
      [token({ rotatedAt: at('00:00:04.000') }), token({ rotatedAt: at('00:00:06.000') }), token()],
      { kind: 'grace', generation: 2 },
    ],
    [
      'a replay inside the window of a session revoked meanwhile',
      [token({ rotatedAt: at('00:00:05.000') }), token({ revokedAt: at('00:00:07.000') })],
      { kind: 'invalid', reason: 'revoked' },
    ],
    [
      'a replay inside the window whose live token is beyond the chain looked at',
      [token({ rotatedAt: at('00:00:05.000') }), token({ rotatedAt: at('00:00:06.000') }), undefined],
      { kind: 'reuse', sessionId: 'session-1', userId: 'user-1' },
    ],
    [
      'a replay inside the window whose successor expired',
      [token({ rotatedAt: at('00:00:05.000') }), token({ expiresAt: at('00:00:09.000') })],
      { kind: 'invalid', reason: 'expired' },
    ],
  ] as const)('%s', (_label, chain, expected) => {
    expect(decideReplay(chain, 'default', now, policy)).toEqual(expected);
  });

  it('exactly at the end of the window is still inside it', () => {
    const chain = [token({ rotatedAt: at('00:00:00.000') }), token()];
    expect(decideReplay(chain, 'default', now, policy)).toEqual({ kind: 'grace', generation: 1 });
  });

  it('a token bound to another client is invalid, and does not revoke the session', () => {
    const chain = [token({ clientId: 'mobile', rotatedAt: at('00:00:00.000') })];
    expect(decideReplay(chain, 'default', now, policy)).toEqual({
      kind: 'invalid',
      reason: 'client_mismatch',
    });
  });

  it('a zero grace window makes any replay reuse', () => {
    const chain = [token({ rotatedAt: now }), token()];
    expect(decideReplay(chain, 'default', new Date(now.getTime() + 1), { reuseGraceMs: 0 })).toMatchObject({
      kind: 'reuse',
    });
  });
});
