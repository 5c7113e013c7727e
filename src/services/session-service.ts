import { tokenRefused } from '../domain/bearer.js';
import { normalizePassword } from '../domain/credentials.js';
import { AuthError } from '../domain/errors.js';
import type { Clock } from '../ports/clock.js';
import type { PasswordHasher } from '../ports/password-hasher.js';
import type { RequestOrigin, SecurityEventLog, SessionStore, UserRecord, UserStore } from '../ports/store.js';
import { originOf } from '../ports/store.js';
import type { AccessTokenClaims, AccessTokens } from './access-tokens.js';
import type { SecretGuessLimit } from './attempt-limits.js';
import type { DpopProofs } from './dpop.js';
import { decodeKeysetCursor, encodeKeysetCursor } from './keyset-cursor.js';
import { assertAcceptablePassword, contextWordsOf } from './passwords.js';
import type { RequestDevice } from './types.js';

/** The user behind a verified access token; `invalid_token` if the account is gone. */
export async function userOfCaller(
  store: Pick<UserStore, 'findUserById'>,
  caller: Caller,
): Promise<UserRecord> {
  const user = await store.findUserById(caller.sub);
  if (!user) throw tokenRefused('user_gone', 'The user of this access token no longer exists');
  return user;
}

/**
 * What a Bearer route knows about its caller once the token and its session have been checked:
 * the token's claims, and where this request came from (for the security events it may cause).
 */
export type Caller = AccessTokenClaims & { origin: RequestOrigin };

/** The facts of an event the caller caused: their user and session, and this request's origin. */
export const callerFacts = (caller: Caller) => ({
  userId: caller.sub,
  sessionId: caller.sid,
  ...originOf(caller.origin),
});

export function createSessionService(deps: {
  store: UserStore & SessionStore & SecurityEventLog;
  hasher: PasswordHasher;
  clock: Clock;
  accessTokens: AccessTokens;
  passwordMinScore: number;
  /** The current password of a change is a guess like a step-up password (issue #15 §3). */
  guesses: SecretGuessLimit;
  /** The DPoP checks the Bearer guard applies to key-bound tokens (RFC 9449 §7). */
  dpop: DpopProofs;
}) {
  const { store, hasher, clock, accessTokens, guesses } = deps;

  /**
   * The server's own Bearer routes check the session too: an access token of a revoked
   * session is refused at once here (API.md, Liveness), not only when it expires.
   */
  async function liveClaims(accessToken: string): Promise<AccessTokenClaims> {
    const claims = await accessTokens.verify(accessToken);
    if (!(await store.isSessionLive(claims.sid, claims.sub, clock.now()))) {
      throw tokenRefused('session_ended', 'The session of this access token has ended');
    }
    return claims;
  }

  /**
   * The caller behind a Bearer request: `liveClaims`, and the request's origin, worked out only
   * if an event asks for it (most Bearer requests record none: reading the address and user
   * agent would be work on every one of them). Not enumerable: it never goes into a JSON body.
   */
  async function authenticate(accessToken: string, origin: () => RequestOrigin): Promise<Caller> {
    const claims = await liveClaims(accessToken);
    return Object.defineProperty({ ...claims }, 'origin', { get: origin, enumerable: false }) as Caller;
  }

  const me = (caller: Caller) => userOfCaller(store, caller);

  const list = (caller: Caller) => store.listSessions(caller.sub, clock.now());

  async function revoke(caller: Caller, sessionId: string): Promise<void> {
    const now = clock.now();
    if (!(await store.revokeSession({ sessionId, userId: caller.sub, now, reason: 'revoked_by_user' }))) {
      throw new AuthError('not_found', 'No live session of yours has this id');
    }
    await store.recordSecurityEvent({
      userId: caller.sub,
      sessionId,
      type: 'session_revoked',
      ...originOf(caller.origin),
      details: { by_session: caller.sid },
      at: now,
    });
  }

  /** Revokes the caller's other sessions, and the caller's own too with `includeCurrent`. */
  async function revokeAll(caller: Caller, options: { includeCurrent: boolean }): Promise<number> {
    const { includeCurrent } = options;
    const now = clock.now();
    const revoked = await store.revokeUserSessions({
      userId: caller.sub,
      now,
      reason: 'revoke_all',
      ...(includeCurrent ? {} : { exceptSessionId: caller.sid }),
    });
    await store.recordSecurityEvent({
      ...callerFacts(caller),
      type: 'sessions_revoked',
      details: { revoked, include_current: includeCurrent },
      at: now,
    });
    return revoked;
  }

  /** OWASP ASVS V2.1.5/V3.3.3: needs the current password, and ends every other session. */
  async function changePassword(
    caller: Caller,
    input: { currentPassword: string; newPassword: string; device: RequestDevice },
  ): Promise<number> {
    const user = await me(caller);
    // OWASP ASVS V2.2.1: someone holding a stolen access token must not get an unlimited
    // oracle for the password; counted before the hash, with step-up's counter.
    await guesses.charge(user.id, 'password_change', input.device);
    if (!(await hasher.verify(user.passwordHash, normalizePassword(input.currentPassword)))) {
      await store.recordSecurityEvent({
        userId: user.id,
        sessionId: caller.sid,
        type: 'password_change_failed',
        ...originOf(input.device),
        details: { reason: 'wrong_password' },
        at: clock.now(),
      });
      throw new AuthError('wrong_password', 'The current password is incorrect');
    }
    await guesses.refund(user.id);
    const newPassword = normalizePassword(input.newPassword);
    await assertAcceptablePassword(newPassword, contextWordsOf(user.email), deps.passwordMinScore);
    const now = clock.now();
    const changed = await store.changePassword({
      userId: user.id,
      expectedHash: user.passwordHash,
      newHash: await hasher.hash(newPassword),
      now,
      keepSessionId: caller.sid,
    });
    if (changed === 'credentials_changed') {
      throw new AuthError('wrong_password', 'The password was changed by another request; try again');
    }
    await store.recordSecurityEvent({
      userId: user.id,
      sessionId: caller.sid,
      type: 'password_changed',
      ...originOf(input.device),
      details: { revoked_sessions: changed.revoked },
      at: now,
    });
    return changed.revoked;
  }

  /** The user's security log, newest first; `cursor` continues after a previous page. */
  async function events(caller: Caller, page: { limit: number; cursor?: string }) {
    const before = page.cursor ? decodeKeysetCursor(page.cursor) : undefined;
    if (page.cursor && !before) throw new AuthError('invalid_request', 'cursor is not valid');
    const rows = await store.listSecurityEvents(caller.sub, {
      limit: page.limit + 1,
      ...(before ? { before } : {}),
    });
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    return {
      items,
      nextCursor: rows.length > page.limit && last ? encodeKeysetCursor(last) : null,
    };
  }

  return { authenticate, liveClaims, me, list, revoke, revokeAll, changePassword, events, dpop: deps.dpop };
}

export type SessionService = ReturnType<typeof createSessionService>;
