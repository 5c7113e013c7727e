import { keyUnderPolicy } from '../domain/dpop.js';
import { refreshTokenExpiry, sessionExpiry } from '../domain/session-policy.js';
import type { NewSession, RefreshTokenGrant, SessionGrant } from '../ports/store.js';
import type { AuthServiceDeps } from './auth-flow.js';
import { asTokenEndpointError } from './dpop.js';
import { hashRefreshToken, newRefreshToken } from './refresh-tokens.js';
import type { IssuedTokens, RequestDevice } from './types.js';

/** A new session's grant: the store that opens it says whether the address is verified. */
export type NewGrant = Omit<RefreshTokenGrant, 'emailVerified'>;

/** A session's tokens: the pair a grant hands out, and a new session's first refresh token. */
export function createSessionTokens(
  deps: Pick<AuthServiceDeps, 'clock' | 'accessTokens' | 'sessionPolicy' | 'dpopPolicy'>,
) {
  const { clock, accessTokens, sessionPolicy } = deps;

  /**
   * The key a client's new session or refresh is bound to (RFC 9449 §5), by its policy:
   * `off` ignores the proof's key, `required` refuses a request without one. The proof itself
   * was checked by the HTTP layer (services/dpop.ts).
   */
  function bindingKey(clientId: string, device: RequestDevice): string | null {
    try {
      return keyUnderPolicy(deps.dpopPolicy?.(clientId) ?? 'optional', device.dpopJkt);
    } catch (error) {
      throw asTokenEndpointError(error);
    }
  }

  const secondsUntil = (date: Date) =>
    Math.max(0, Math.floor((date.getTime() - clock.now().getTime()) / 1000));

  async function tokensFor(grant: RefreshTokenGrant, refreshToken: string): Promise<IssuedTokens> {
    const access = await accessTokens.issue(grant);
    return {
      tokenType: grant.dpopJkt ? 'DPoP' : 'Bearer',
      accessToken: access.token,
      expiresIn: access.expiresIn,
      refreshToken,
      refreshTokenExpiresIn: secondsUntil(grant.expiresAt),
      sessionId: grant.sessionId,
      remembered: grant.remembered,
    };
  }

  /** A new session's first refresh token, its grant, and the row the store inserts. */
  async function newSession(
    facts: Pick<SessionGrant, 'userId' | 'clientId' | 'acr' | 'amr' | 'authTime' | 'remembered'> & {
      deviceName: string | null;
    },
    device: RequestDevice,
    now: Date,
  ): Promise<{ grant: NewGrant; refreshToken: string; session: NewSession }> {
    const refreshToken = newRefreshToken();
    const sessionExpiresAt = sessionExpiry(facts.remembered, now, sessionPolicy);
    const grant: NewGrant = {
      sessionId: crypto.randomUUID(),
      userId: facts.userId,
      clientId: facts.clientId,
      acr: facts.acr,
      amr: facts.amr,
      authTime: facts.authTime,
      remembered: facts.remembered,
      expiresAt: refreshTokenExpiry(now, sessionExpiresAt, sessionPolicy),
      // RFC 9449 §5: a session opened with a DPoP proof is bound to its key for good.
      dpopJkt: bindingKey(facts.clientId, device),
    };
    const { dpopJkt: _proofKey, ...deviceFacts } = device;
    const session: NewSession = {
      ...grant,
      ...deviceFacts,
      tokenHash: await hashRefreshToken(refreshToken),
      deviceName: facts.deviceName,
      createdAt: now,
      sessionExpiresAt,
      tokenExpiresAt: grant.expiresAt,
    };
    return { grant, refreshToken, session };
  }

  return { tokensFor, newSession, bindingKey };
}

export type SessionTokens = ReturnType<typeof createSessionTokens>;

/**
 * RFC 9449 §5: new access tokens are bound to the session's key; a session that is not bound
 * gets a bound access token when the request proved a key (the session itself stays a bearer
 * one: binding it now would let whoever holds a stolen token lock its owner out).
 */
export const withProofKey = <Grant extends { dpopJkt?: string | null }>(
  grant: Grant,
  proofKey: string | null | undefined,
): Grant => ({ ...grant, dpopJkt: grant.dpopJkt ?? proofKey ?? null });
