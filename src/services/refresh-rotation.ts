import { AuthError } from '../domain/errors.js';
import { decideReplay, type RefreshTokenState } from '../domain/refresh-decision.js';
import { refreshTokenDeadline } from '../domain/session-policy.js';
import { originOf, type RequestOrigin } from '../ports/store.js';
import { rateLimited } from './attempt-limits.js';
import { type AuthServiceDeps, DEFAULT_CLIENT_ID } from './auth-flow.js';
import type { BindingGuard } from './binding-guard.js';
import { hashRefreshToken, isWellFormedRefreshToken, successorOf } from './refresh-tokens.js';
import { type SessionTokens, withProofKey } from './session-tokens.js';
import type { IssuedTokens, RequestDevice } from './types.js';

/** How far down a token's successors a replay inside the grace window may look for the live one. */
const MAX_GRACE_GENERATIONS = 4;

const invalidGrant = () => new AuthError('invalid_grant', 'The refresh token is invalid, expired or revoked');

/** Refresh-token rotation (RFC 9700 §4.14.2), replays inside the grace window, reuse, logout. */
export function createRefreshRotation(
  deps: AuthServiceDeps & { tokens: SessionTokens; binding: BindingGuard },
) {
  const { store, clock, sessionPolicy } = deps;
  const { tokensFor } = deps.tokens;
  const { enforceBinding } = deps.binding;

  /**
   * Rotates a refresh token. The common case is one statement: claim the token and insert its
   * successor. A token that is not live is a failure, counted per client network BEFORE it
   * is looked into (grace replay, reuse, or unknown): past the limit the answer is 429 and
   * nothing more is read. A good refresh is never counted, so it stays one statement (and a
   * guessed 256-bit token was never a real threat: this bounds the work and the noise).
   */
  async function refresh(input: { refreshToken: string; clientId?: string; device: RequestDevice }) {
    const { refreshToken } = input;
    const clientId = input.clientId ?? DEFAULT_CLIENT_ID;
    const proofKey = deps.tokens.bindingKey(clientId, input.device);
    const device = { ...input.device, dpopJkt: proofKey };
    const now = clock.now();
    let successor: string | undefined;
    let presentedHash: string | undefined;
    if (isWellFormedRefreshToken(refreshToken)) {
      successor = await successorOf(refreshToken, deps.refreshSuccessorKey);
      const [presented, successorHash] = await Promise.all([
        hashRefreshToken(refreshToken),
        hashRefreshToken(successor),
      ]);
      presentedHash = presented;
      const rotated = await store.rotateRefreshToken({
        presentedHash,
        successorHash,
        clientId,
        now,
        notAfter: refreshTokenDeadline(now, sessionPolicy),
        device,
        dpopJkt: proofKey,
      });
      if (rotated) {
        await enforceBinding(rotated, rotated.previousDevice, device, now);
        return tokensFor(withProofKey(rotated, proofKey), successor);
      }
    }
    const [wait = 0] = await deps.rateLimiter.hit(
      [
        {
          key: deps.keys.refreshFailuresByNetwork(deps.keys.network(device.ipAddress)),
          policy: deps.refreshFailureLimit,
        },
      ],
      now,
    );
    if (wait > 0) throw rateLimited('Too many failed refreshes; try again later', wait);
    if (!successor || !presentedHash) throw invalidGrant();
    return explainDeadToken({ refreshToken, successor, presentedHash, clientId, device, now });
  }

  /** A token that did not rotate: a replay inside the grace window, a reuse, or unknown. */
  async function explainDeadToken(input: {
    refreshToken: string;
    successor: string;
    presentedHash: string;
    clientId: string;
    device: RequestDevice;
    now: Date;
  }): Promise<IssuedTokens> {
    const { device, now } = input;
    // The token and its first successors, looked up in one query.
    const tokens = [input.refreshToken, input.successor];
    while (tokens.length <= MAX_GRACE_GENERATIONS) {
      tokens.push(await successorOf(tokens.at(-1)!, deps.refreshSuccessorKey));
    }
    const hashes = [input.presentedHash, ...(await Promise.all(tokens.slice(1).map(hashRefreshToken)))];
    const rows = new Map((await store.findRefreshTokens(hashes)).map((row) => [row.tokenHash, row]));
    const chain: (RefreshTokenState | undefined)[] = hashes.map((hash) => rows.get(hash));
    // RFC 9449 §5: a token of a key-bound session, presented without a proof by that key, is
    // refused before anything else: no grace answer, and no reuse revocation either (whoever
    // sent it cannot use the session, and must not be able to end it for its owner).
    const presented = rows.get(input.presentedHash);
    if (presented?.dpopJkt && presented.dpopJkt !== device.dpopJkt) {
      throw new AuthError(
        'invalid_dpop_proof',
        device.dpopJkt
          ? 'The DPoP proof is signed by another key than the refresh token is bound to'
          : 'This refresh token is bound to a DPoP key: send a DPoP proof signed with it',
      );
    }
    const decision = decideReplay(chain, input.clientId, now, { reuseGraceMs: deps.reuseGraceMs });

    if (decision.kind === 'grace') {
      const live = rows.get(hashes[decision.generation]!)!;
      // The replay gets the live token: the same binding as a rotation applies (issue #15 §5).
      await enforceBinding(live, { ipAddress: live.ipAddress, userAgent: live.userAgent }, device, now);
      return tokensFor(withProofKey(live, device.dpopJkt), tokens[decision.generation]!);
    }
    if (decision.kind === 'reuse') {
      // RFC 9700 §4.14.2: a replayed rotated token means one of two parties is an attacker;
      // revoke the whole family. This commits whatever happens to the request.
      await store.revokeSession({ sessionId: decision.sessionId, now, reason: 'reuse_detected' });
      await store.recordSecurityEvent({
        userId: decision.userId,
        sessionId: decision.sessionId,
        type: 'refresh_token_reused',
        ...originOf(device),
        at: now,
      });
      throw new AuthError(
        'refresh_token_reused',
        'This refresh token was already used; the session has been revoked for safety',
      );
    }
    throw invalidGrant();
  }

  /** Revokes the session a refresh token belongs to; unknown tokens are ignored (RFC 7009 §2.2). */
  async function logoutWithRefreshToken(refreshToken: string, origin: RequestOrigin): Promise<void> {
    if (!isWellFormedRefreshToken(refreshToken)) return;
    const [row] = await store.findRefreshTokens([await hashRefreshToken(refreshToken)]);
    if (!row || row.revokedAt) return;
    const now = clock.now();
    if (!(await store.revokeSession({ sessionId: row.sessionId, now, reason: 'logout' }))) return;
    // Recorded as a Bearer logout is: the user's log and the `session.revoked` webhook must not
    // depend on which credential ended the session.
    await store.recordSecurityEvent({
      userId: row.userId,
      sessionId: row.sessionId,
      type: 'session_revoked',
      ...originOf(origin),
      details: { via: 'logout' },
      at: now,
    });
  }

  return { refresh, logoutWithRefreshToken };
}
