/**
 * What to do with a refresh token that could not be rotated: the first attempt to rotate
 * is a conditional update (see the store), so this only runs for tokens that are unknown,
 * expired, revoked, bound to another client, or already rotated.
 */

export interface RefreshTokenState {
  sessionId: string;
  userId: string;
  clientId: string;
  rotatedAt: Date | null;
  revokedAt: Date | null;
  expiresAt: Date;
}

export interface ReplayPolicy {
  /** RFC 9700 §4.14.2 allows a short window in which a rotated token is not yet reuse. */
  reuseGraceMs: number;
}

export type ReplayDecision =
  | { kind: 'invalid'; reason: 'unknown' | 'revoked' | 'expired' | 'client_mismatch' }
  | { kind: 'reuse'; sessionId: string; userId: string }
  /** `generation` is how many rotations past the presented token the live token is. */
  | { kind: 'grace'; generation: number };

/**
 * `chain[0]` is the presented token's row, `chain[i]` the row of its i-th successor (when
 * found). Successors are derived from the token itself, so a caller inside the grace
 * window can be handed the session's live token again without it being stored in clear.
 */
export function decideReplay(
  chain: ReadonlyArray<RefreshTokenState | undefined>,
  clientId: string,
  now: Date,
  policy: ReplayPolicy,
): ReplayDecision {
  const presented = chain[0];
  if (!presented) return { kind: 'invalid', reason: 'unknown' };
  if (presented.revokedAt) return { kind: 'invalid', reason: 'revoked' };
  if (presented.clientId !== clientId) return { kind: 'invalid', reason: 'client_mismatch' };
  if (!presented.rotatedAt) return { kind: 'invalid', reason: 'expired' };

  const reuse: ReplayDecision = { kind: 'reuse', sessionId: presented.sessionId, userId: presented.userId };
  if (now.getTime() - presented.rotatedAt.getTime() > policy.reuseGraceMs) return reuse;

  for (let generation = 1; generation < chain.length; generation++) {
    const successor = chain[generation];
    if (!successor) break;
    if (successor.revokedAt) return { kind: 'invalid', reason: 'revoked' };
    if (!successor.rotatedAt) {
      return successor.expiresAt > now
        ? { kind: 'grace', generation }
        : { kind: 'invalid', reason: 'expired' };
    }
  }
  // The live token is further away than any benign race of parallel refreshes would put it.
  return reuse;
}
