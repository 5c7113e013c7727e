import { normalizeEmail, normalizePassword } from '../domain/credentials.js';
import { AuthError } from '../domain/errors.js';
import { decideReplay, type RefreshTokenState } from '../domain/refresh-decision.js';
import { type BindingPolicy, bindingMismatches, type DeviceFacts } from '../domain/session-binding.js';
import { refreshTokenExpiry, type SessionPolicy, sessionExpiry } from '../domain/session-policy.js';
import { randomToken, sha256Base64url } from '../lib/crypto.js';
import type { Clock } from '../ports/clock.js';
import type { PasswordHasher } from '../ports/password-hasher.js';
import type { LimitPolicy, RateLimiter } from '../ports/rate-limiter.js';
import type {
  AuthenticatorAssurance,
  NewSession,
  RefreshTokenGrant,
  SessionGrant,
  Store,
  UserRecord,
} from '../ports/store.js';
import type { AccessTokens } from './access-tokens.js';
import { createAccount } from './accounts.js';
import { type LimitKeys, rateLimited } from './attempt-limits.js';
import { newMfaToken } from './mfa-tokens.js';
import {
  hashRefreshToken,
  isWellFormedRefreshToken,
  newRefreshToken,
  successorOf,
} from './refresh-tokens.js';
import type { IssuedTokens, RequestDevice } from './types.js';

export const DEFAULT_CLIENT_ID = 'default';

/** An `mfa_token` lives 5 minutes and dies after 5 wrong codes (API.md, Abuse limits). */
export const MFA_TOKEN_TTL_MS = 5 * 60 * 1000;
export const MFA_TOKEN_MAX_ATTEMPTS = 5;

/** `limit_token` (SESSION_LIMIT_POLICY=reject): opaque, 256 bits, stored as SHA-256, 5 minutes, once. */
const LIMIT_TOKEN_PREFIX = 'lkl_';
const LIMIT_TOKEN_SHAPE = /^lkl_[A-Za-z0-9_-]{43}$/;

export type Delivery = 'body' | 'cookie';

/** A password login of a user with MFA: the second step is `POST /v1/auth/login/mfa`. */
export interface MfaRequired {
  mfaRequired: true;
  mfaToken: string;
  methods: ['totp', 'recovery_code'];
}

/** How far down a token's successors a replay inside the grace window may look for the live one. */
const MAX_GRACE_GENERATIONS = 4;

export interface AuthServiceDeps {
  store: Store;
  hasher: PasswordHasher;
  clock: Clock;
  accessTokens: AccessTokens;
  refreshSuccessorKey: CryptoKey;
  sessionPolicy: SessionPolicy;
  reuseGraceMs: number;
  /** Verified when the email is unknown, so both failures cost one argon2id verification. */
  dummyPasswordHash: Promise<string>;
  rateLimiter: RateLimiter;
  passwordMinScore: number;
  loginLimits: { perAccount: LimitPolicy; perIp: LimitPolicy; anywhere: LimitPolicy };
  keys: LimitKeys;
  /** Registrations per IP (every attempt counts) and failed refreshes per IP. */
  registerLimit: LimitPolicy;
  refreshFailureLimit: LimitPolicy;
  /** At the session limit: revoke the least recently active (`evict`) or ask (`reject`). */
  sessionLimitPolicy?: 'evict' | 'reject';
  /** Optional binding of a session to its network and browser family (SESSION_BINDING). */
  sessionBinding?: BindingPolicy;
}

const invalidCredentials = () => new AuthError('invalid_credentials', 'The email or password is incorrect');
const accountDisabled = () =>
  new AuthError('account_disabled', 'This account has been disabled by an administrator');
const invalidGrant = () => new AuthError('invalid_grant', 'The refresh token is invalid, expired or revoked');

export function createAuthService(deps: AuthServiceDeps) {
  const { store, hasher, clock, accessTokens, sessionPolicy } = deps;

  const secondsUntil = (date: Date) =>
    Math.max(0, Math.floor((date.getTime() - clock.now().getTime()) / 1000));

  async function tokensFor(grant: RefreshTokenGrant, refreshToken: string): Promise<IssuedTokens> {
    const access = await accessTokens.issue(grant);
    return {
      accessToken: access.token,
      expiresIn: access.expiresIn,
      refreshToken,
      refreshTokenExpiresIn: secondsUntil(grant.expiresAt),
      sessionId: grant.sessionId,
      remembered: grant.remembered,
    };
  }

  /** Networks the owner opened a session from in this long count as the owner's. */
  const KNOWN_NETWORK_MS = 90 * 24 * 3600 * 1000;

  /**
   * OWASP ASVS V2.2.1 / Credential Stuffing Prevention. Every attempt is counted BEFORE the
   * password is hashed, atomically (RateLimiter.hit), against three counters:
   * - the client network (`perIp`): one source spraying many accounts;
   * - the account from that network (`perAccount`): a guesser elsewhere cannot lock the
   *   owner out of their own network (throttle, do not hard-lock);
   * - the account from anywhere (`anywhere`, a longer window): a botnet spreading guesses
   *   over many networks. It does not apply to networks the owner opened a session from,
   *   so a stranger cannot lock the owner out with it either.
   * A success gives its attempt back to the first and the last and clears the second.
   */
  async function chargeLogin(normalizedEmail: string, ipAddress: string | null, now: Date) {
    const { keys } = deps;
    const account = await keys.account(normalizedEmail);
    const counters = {
      network: keys.loginByNetwork(ipAddress),
      here: keys.loginByAccountAtNetwork(account, ipAddress),
      anywhere: keys.loginByAccount(account),
    };
    const [waits, user] = await Promise.all([
      deps.rateLimiter.hit(
        [
          { key: counters.network, policy: deps.loginLimits.perIp },
          { key: counters.here, policy: deps.loginLimits.perAccount },
          { key: counters.anywhere, policy: deps.loginLimits.anywhere },
        ],
        now,
      ),
      store.findUserByEmail(normalizedEmail),
    ]);
    const [networkWait = 0, hereWait = 0, anywhereWait = 0] = waits;
    let wait = Math.max(networkWait, hereWait);
    if (wait === 0 && anywhereWait > 0) {
      const network = keys.network(ipAddress);
      const owners =
        user !== undefined &&
        network !== 'unknown' &&
        (await store.hasLoggedInFrom(user.id, network, new Date(now.getTime() - KNOWN_NETWORK_MS)));
      if (!owners) wait = anywhereWait;
    }
    if (wait > 0) {
      if (user) {
        await store.recordSecurityEvent({
          userId: user.id,
          type: 'login_throttled',
          ipAddress,
          details: { retry_after: wait },
          at: now,
        });
      }
      throw rateLimited('Too many failed logins; try again later', wait);
    }
    return { user, counters };
  }

  const loginFailed = (user: UserRecord, ipAddress: string | null, reason: string) =>
    store.recordSecurityEvent({
      userId: user.id,
      type: 'login_failed',
      ipAddress,
      details: { reason },
      at: clock.now(),
    });

  /** Checks email and password; the same error, and one argon2id verification, for every failure. */
  async function verifyPassword(
    email: string,
    password: string,
    ipAddress: string | null,
  ): Promise<UserRecord> {
    const normalizedEmail = normalizeEmail(email);
    const { user, counters } = await chargeLogin(normalizedEmail, ipAddress, clock.now());
    const candidate = normalizePassword(password);
    const ok = await hasher.verify(user?.passwordHash ?? (await deps.dummyPasswordHash), candidate);
    if (!user || !ok) {
      if (user) await loginFailed(user, ipAddress, 'wrong_password');
      throw invalidCredentials();
    }
    await Promise.all([
      deps.rateLimiter.refund([counters.network, counters.anywhere], clock.now()),
      deps.rateLimiter.reset(counters.here),
    ]);
    // Said only to whoever knows the password: no oracle for anybody else.
    if (user.disabledAt) {
      await loginFailed(user, ipAddress, 'account_disabled');
      throw accountDisabled();
    }
    if (hasher.needsRehash(user.passwordHash)) {
      const rehashed = await hasher.hash(candidate);
      if (await store.replacePasswordHash(user.id, user.passwordHash, rehashed)) user.passwordHash = rehashed;
    }
    return user;
  }

  async function register(input: {
    email: string;
    password: string;
    name?: string | null;
    ipAddress: string | null;
  }) {
    // Sign-ups per network are counted before any hashing: account spam and the 409 oracle.
    const [wait = 0] = await deps.rateLimiter.hit(
      [{ key: deps.keys.registerByNetwork(input.ipAddress), policy: deps.registerLimit }],
      clock.now(),
    );
    if (wait > 0) throw rateLimited('Too many sign-ups from here; try again later', wait);
    return createAccount({ store, hasher, clock, passwordMinScore: deps.passwordMinScore }, input);
  }

  /** Opens a session for a user whose credentials were just checked. */
  /** A new session's first refresh token, its grant, and the row the store inserts. */
  async function newSession(
    facts: Pick<SessionGrant, 'userId' | 'clientId' | 'acr' | 'amr' | 'authTime' | 'remembered'> & {
      deviceName: string | null;
    },
    device: RequestDevice,
    now: Date,
  ): Promise<{ grant: RefreshTokenGrant; refreshToken: string; session: NewSession }> {
    const refreshToken = newRefreshToken();
    const sessionExpiresAt = sessionExpiry(facts.remembered, now, sessionPolicy);
    const grant: RefreshTokenGrant = {
      sessionId: crypto.randomUUID(),
      userId: facts.userId,
      clientId: facts.clientId,
      acr: facts.acr,
      amr: facts.amr,
      authTime: facts.authTime,
      remembered: facts.remembered,
      expiresAt: refreshTokenExpiry(now, sessionExpiresAt, sessionPolicy),
    };
    const session: NewSession = {
      ...grant,
      ...device,
      tokenHash: await hashRefreshToken(refreshToken),
      deviceName: facts.deviceName,
      createdAt: now,
      sessionExpiresAt,
      tokenExpiresAt: grant.expiresAt,
    };
    return { grant, refreshToken, session };
  }

  async function openSession(
    user: UserRecord,
    input: {
      deviceName: string | null;
      remembered: boolean;
      clientId: string;
      device: RequestDevice;
      acr: AuthenticatorAssurance;
      amr: string[];
      delivery?: Delivery;
    },
  ): Promise<IssuedTokens> {
    const now = clock.now();
    const { grant, refreshToken, session } = await newSession(
      { ...input, userId: user.id, authTime: now },
      input.device,
      now,
    );
    const opened = await store.openSession(session, {
      maxSessions: sessionPolicy.maxSessionsPerUser,
      verifiedPasswordHash: user.passwordHash,
      onLimit: deps.sessionLimitPolicy ?? 'evict',
    });
    // The password changed between the check and the lock: the checked one is no longer valid.
    if (opened === 'credentials_changed') throw invalidCredentials();
    if (opened === 'account_disabled') throw accountDisabled();
    if (opened === 'limit_reached') throw await holdLogin(user, { ...input, authTime: now });
    // Seen before? Lets a client (and the user's event log) warn about a new device or place.
    const seen = await store.seenBefore(user.id, input.device);
    await store.recordSecurityEvent({
      userId: user.id,
      sessionId: grant.sessionId,
      type: 'login_succeeded',
      ipAddress: input.device.ipAddress,
      userAgent: input.device.userAgent,
      details: {
        client_id: input.clientId,
        device_name: input.deviceName,
        location: input.device.location,
        country: input.device.country ?? null,
        new_device: !seen.device,
        new_location: !seen.location,
        ...(opened.evictedSessionIds.length > 0 ? { evicted_sessions: opened.evictedSessionIds } : {}),
      },
      at: now,
    });
    return tokensFor(grant, refreshToken);
  }

  async function login(input: {
    email: string;
    password: string;
    deviceName?: string | null;
    remember?: boolean;
    clientId?: string;
    delivery?: Delivery;
    device: RequestDevice;
  }): Promise<IssuedTokens | MfaRequired> {
    const user = await verifyPassword(input.email, input.password, input.device.ipAddress);
    const session = {
      deviceName: input.deviceName ?? null,
      remembered: input.remember ?? false,
      clientId: input.clientId ?? DEFAULT_CLIENT_ID,
    };
    if (user.mfaEnabled) {
      // The password alone opens nothing: a single-purpose token for the second step.
      const { token, hash } = await newMfaToken();
      const now = clock.now();
      await store.createMfaChallenge({
        id: crypto.randomUUID(),
        tokenHash: hash,
        userId: user.id,
        ...session,
        delivery: input.delivery ?? 'body',
        failedAttempts: 0,
        createdAt: now,
        expiresAt: new Date(now.getTime() + MFA_TOKEN_TTL_MS),
        consumedAt: null,
      });
      return { mfaRequired: true, mfaToken: token, methods: ['totp', 'recovery_code'] };
    }
    return openSession(user, {
      ...session,
      device: input.device,
      acr: 'aal1',
      amr: ['pwd'],
      delivery: input.delivery ?? 'body',
    });
  }

  /**
   * Rotates a refresh token. The common case is one statement: claim the token and insert its
   * successor. A token that is not live is a failure, counted per client network BEFORE it
   * is looked into (grace replay, reuse, or unknown): past the limit the answer is 429 and
   * nothing more is read. A good refresh is never counted, so it stays one statement (and a
   * guessed 256-bit token was never a real threat: this bounds the work and the noise).
   */
  async function refresh(input: { refreshToken: string; clientId?: string; device: RequestDevice }) {
    const { refreshToken, device } = input;
    const clientId = input.clientId ?? DEFAULT_CLIENT_ID;
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
        refreshTokenTtlMs: sessionPolicy.refreshTokenTtlMs,
        device,
      });
      if (rotated) {
        await enforceBinding(rotated, rotated.previousDevice, device, now);
        return tokensFor(rotated, successor);
      }
    }
    const [wait = 0] = await deps.rateLimiter.hit(
      [{ key: deps.keys.refreshFailuresByNetwork(device.ipAddress), policy: deps.refreshFailureLimit }],
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
    const decision = decideReplay(chain, input.clientId, now, { reuseGraceMs: deps.reuseGraceMs });

    if (decision.kind === 'grace') {
      const live = rows.get(hashes[decision.generation]!)!;
      // The replay gets the live token: the same binding as a rotation applies (issue #15 §5).
      await enforceBinding(live, { ipAddress: live.ipAddress, userAgent: live.userAgent }, device, now);
      return tokensFor(live, tokens[decision.generation]!);
    }
    if (decision.kind === 'reuse') {
      // RFC 9700 §4.14.2: a replayed rotated token means one of two parties is an attacker;
      // revoke the whole family. This commits whatever happens to the request.
      await store.revokeSession({ sessionId: decision.sessionId, now, reason: 'reuse_detected' });
      await store.recordSecurityEvent({
        userId: decision.userId,
        sessionId: decision.sessionId,
        type: 'refresh_token_reused',
        ipAddress: device.ipAddress,
        userAgent: device.userAgent,
        at: now,
      });
      throw new AuthError(
        'refresh_token_reused',
        'This refresh token was already used; the session has been revoked for safety',
      );
    }
    throw invalidGrant();
  }

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
  ): Promise<AuthError> {
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
    return new AuthError(
      'session_limit_reached',
      `You are signed in on ${sessions.length === 1 ? '1 device' : `${sessions.length} devices`}, the most allowed: sign one out to continue`,
      undefined,
      undefined,
      {
        limit_token: token,
        sessions: sessions.map((session) => ({
          id: session.id,
          device_name: session.deviceName,
          user_agent: session.userAgent,
          location: session.location,
          last_active_at: session.lastActiveAt.toISOString(),
        })),
      },
    );
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
    await store.recordSecurityEvent({
      userId: hold.userId,
      sessionId: input.revokeSessionId,
      type: 'session_revoked',
      details: { via: 'session_limit', replaced_by: grant.sessionId },
      at: now,
    });
    await store.recordSecurityEvent({
      userId: hold.userId,
      sessionId: grant.sessionId,
      type: 'login_succeeded',
      ipAddress: input.device.ipAddress,
      userAgent: input.device.userAgent,
      details: {
        client_id: hold.clientId,
        device_name: hold.deviceName,
        location: input.device.location,
        country: input.device.country ?? null,
      },
      at: now,
    });
    return { tokens: await tokensFor(grant, refreshToken), delivery: hold.delivery };
  }

  /**
   * SESSION_BINDING: a request from another network or browser family than `previous` (the
   * session's last request, or the device a login was held for) is recorded (`warn`), or
   * refused (`strict`). Every path that hands out tokens of an existing session or login
   * asks it: rotation, grace replay, /oauth/token, step-up and held logins (OWASP ASVS V3.3).
   * Returns false when strict mode refuses; the caller ends what was bound.
   */
  async function bindingHolds(
    previous: DeviceFacts | undefined,
    device: RequestDevice,
    subject: { userId: string; sessionId?: string },
    now: Date,
  ): Promise<boolean> {
    const policy = deps.sessionBinding;
    if (!policy || policy.mode === 'off' || !previous) return true;
    const mismatches = bindingMismatches(previous, device, policy);
    if (mismatches.length === 0) return true;
    await store.recordSecurityEvent({
      userId: subject.userId,
      sessionId: subject.sessionId ?? null,
      type: 'session_binding_mismatch',
      ipAddress: device.ipAddress,
      userAgent: device.userAgent,
      details: { mismatches, mode: policy.mode },
      at: now,
    });
    return policy.mode !== 'strict';
  }

  /** Binding of a session: in strict mode a mismatch ends the session (with any token just made). */
  async function enforceBinding(
    grant: { userId: string; sessionId: string },
    previous: DeviceFacts | undefined,
    device: RequestDevice,
    now: Date,
  ): Promise<void> {
    if (await bindingHolds(previous, device, grant, now)) return;
    await store.revokeSession({ sessionId: grant.sessionId, now, reason: 'binding_mismatch' });
    throw new AuthError(
      'invalid_grant',
      'This session is bound to another network or browser; it has been ended: sign in again',
    );
  }

  /** Revokes the session a refresh token belongs to; unknown tokens are ignored (RFC 7009 §2.2). */
  async function logoutWithRefreshToken(refreshToken: string): Promise<void> {
    if (!isWellFormedRefreshToken(refreshToken)) return;
    const [row] = await store.findRefreshTokens([await hashRefreshToken(refreshToken)]);
    if (!row || row.revokedAt) return;
    await store.revokeSession({ sessionId: row.sessionId, now: clock.now(), reason: 'logout' });
  }

  return {
    register,
    login,
    refresh,
    logoutWithRefreshToken,
    verifyPassword,
    openSession,
    tokensFor,
    completeHeldLogin,
    enforceBinding,
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
