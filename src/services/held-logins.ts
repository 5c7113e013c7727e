import { AuthError } from '../domain/errors.js';
import { randomToken, sha256Base64url } from '../lib/crypto.js';
import type { AuthenticatorAssurance, UserRecord } from '../ports/store.js';
import { originOf } from '../ports/store.js';
import { type AuthServiceDeps, accountDisabled, MFA_TOKEN_TTL_MS } from './auth-flow.js';
import type { BindingGuard } from './binding-guard.js';
import type { SessionTokens } from './session-tokens.js';
import type { Delivery, IssuedTokens, RequestDevice, SessionLimitReached } from './types.js';

/** `limit_token` (SESSION_LIMIT_POLICY=reject): opaque, 256 bits, stored as SHA-256, 5 minutes, once. */
const LIMIT_TOKEN_PREFIX = 'lkl_';
const LIMIT_TOKEN_SHAPE = /^lkl_[A-Za-z0-9_-]{43}$/;

/** Logins held at the session limit (SESSION_LIMIT_POLICY=reject), and how they finish. */
export function createHeldLogins(deps: AuthServiceDeps & { tokens: SessionTokens; binding: BindingGuard }) {
  const { store, clock, sessionPolicy } = deps;
  const { newSession, tokensFor } = deps.tokens;
  const { bindingHolds } = deps.binding;

  /**
   * SESSION_LIMIT_POLICY=reject: the login is held, and the answer (409) lists the user's
   * sessions with a `limit_token` good for one thing, for 5 minutes: revoking one of them and
   * finishing this login (completeHeldLogin).
   */
  async function holdLogin(
    user: UserRecord,
    input: {
      deviceName: string | null;
      remembered: boolean;
      clientId: string;
      acr: AuthenticatorAssurance;
      amr: string[];
      delivery?: Delivery;
      authTime: Date;
      device: RequestDevice;
    },
  ): Promise<SessionLimitReached> {
    const now = clock.now();
    const token = LIMIT_TOKEN_PREFIX + randomToken(32);
    await store.createLoginHold({
      id: crypto.randomUUID(),
      tokenHash: await sha256Base64url(token),
      userId: user.id,
      clientId: input.clientId,
      deviceName: input.deviceName,
      remembered: input.remembered,
      delivery: input.delivery ?? 'body',
      acr: input.acr,
      amr: input.amr,
      authTime: input.authTime,
      ipAddress: input.device.ipAddress,
      userAgent: input.device.userAgent,
      createdAt: now,
      expiresAt: new Date(now.getTime() + MFA_TOKEN_TTL_MS),
    });
    const sessions = await store.listSessions(user.id, now);
    return {
      sessionLimitReached: true,
      limitToken: token,
      message: `You are signed in on ${sessions.length === 1 ? '1 device' : `${sessions.length} devices`}, the most allowed: sign one out to continue`,
      sessions: sessions.map((session) => ({
        id: session.id,
        deviceName: session.deviceName,
        userAgent: session.userAgent,
        location: session.location,
        lastActiveAt: session.lastActiveAt,
      })),
    };
  }

  /** Revokes the chosen session and finishes the held login, atomically; the token works once. */
  async function completeHeldLogin(input: {
    limitToken: string;
    revokeSessionId: string;
    device: RequestDevice;
  }): Promise<{ tokens: IssuedTokens; delivery: Delivery }> {
    const now = clock.now();
    const invalid = () => new AuthError('invalid_limit_token', 'The limit token is invalid, used or expired');
    if (!LIMIT_TOKEN_SHAPE.test(input.limitToken)) throw invalid();
    const hold = await store.findLoginHold(await sha256Base64url(input.limitToken), now);
    if (!hold) throw invalid();
    // The login was held for one device: another one does not finish it (SESSION_BINDING).
    if (!(await bindingHolds(hold, input.device, { userId: hold.userId }, now))) {
      await store.dropLoginHold(hold.id, now);
      throw new AuthError(
        'invalid_limit_token',
        'This login was held for another network or browser; sign in again',
      );
    }
    const { grant, refreshToken, session } = await newSession(hold, input.device, now);
    const outcome = await store.completeLoginHold({
      holdId: hold.id,
      revokeSessionId: input.revokeSessionId,
      maxSessions: sessionPolicy.maxSessionsPerUser,
      now,
      session,
    });
    if (outcome === 'invalid_hold') throw invalid();
    if (outcome === 'account_disabled') throw accountDisabled();
    if (outcome === 'no_such_session')
      throw new AuthError('not_found', 'No live session of yours has this id');
    if (outcome === 'limit_reached') {
      throw new AuthError('session_limit_reached', 'Another login took the free place; try again');
    }
    const opened = { ...grant, emailVerified: outcome.emailVerified };
    await store.recordSecurityEvent({
      userId: hold.userId,
      sessionId: input.revokeSessionId,
      type: 'session_revoked',
      ...originOf(input.device),
      details: { via: 'session_limit', replaced_by: grant.sessionId },
      at: now,
    });
    await store.recordSecurityEvent({
      userId: hold.userId,
      sessionId: grant.sessionId,
      type: 'login_succeeded',
      ...originOf(input.device),
      details: {
        client_id: hold.clientId,
        device_name: hold.deviceName,
        location: input.device.location,
        country: input.device.country ?? null,
      },
      at: now,
    });
    return { tokens: await tokensFor(opened, refreshToken), delivery: hold.delivery };
  }

  return { holdLogin, completeHeldLogin };
}

export type HeldLogins = ReturnType<typeof createHeldLogins>;
