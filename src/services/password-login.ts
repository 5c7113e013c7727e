import { normalizeEmail, normalizePassword } from '../domain/credentials.js';
import { isUnusualTime } from '../domain/unusual-time.js';
import {
  type AuthenticatorAssurance,
  originOf,
  type RequestOrigin,
  type SeenBefore,
  type UserRecord,
} from '../ports/store.js';
import { rateLimited } from './attempt-limits.js';
import {
  type AuthServiceDeps,
  accountDisabled,
  DEFAULT_CLIENT_ID,
  emailNotVerified,
  invalidCredentials,
  MFA_TOKEN_TTL_MS,
} from './auth-flow.js';
import type { HeldLogins } from './held-logins.js';
import { newMfaToken } from './mfa-tokens.js';
import { createAccount } from './registration.js';
import type { SessionTokens } from './session-tokens.js';
import type { Delivery, IssuedTokens, MfaRequired, RequestDevice, SessionLimitReached } from './types.js';

/** The device facts the login's one read needs (seenBefore, the network). */
type LoginDevice = Pick<RequestDevice, 'requestId' | 'ipAddress' | 'userAgent' | 'location'>;

/** Sign-up, and the password step of a login: limits, the hash, MFA or a new session. */
export function createPasswordLogin(deps: AuthServiceDeps & { tokens: SessionTokens; held: HeldLogins }) {
  const { store, hasher, clock, sessionPolicy } = deps;
  const { newSession, tokensFor } = deps.tokens;
  const { holdLogin } = deps.held;

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
  async function chargeLogin(normalizedEmail: string, device: LoginDevice, now: Date) {
    const { keys } = deps;
    const { ipAddress } = device;
    const account = await keys.account(normalizedEmail);
    const network = keys.network(ipAddress);
    const counters = {
      network: keys.loginByNetwork(network),
      here: keys.loginByAccountAtNetwork(account, network),
      anywhere: keys.loginByAccount(account),
    };
    const anywhere = { key: counters.anywhere, policy: deps.loginLimits.anywhere };
    // One statement (issue #21): the charge, the user, whether the network is the owner's
    // (asked only when the account-wide counter is over), the passkey and the device's history.
    const attempt = await store.readLoginAttempt({
      email: normalizedEmail,
      charges: [
        { key: counters.network, policy: deps.loginLimits.perIp },
        { key: counters.here, policy: deps.loginLimits.perAccount },
        anywhere,
      ],
      ownedNetwork:
        network === null
          ? null
          : { network, since: new Date(now.getTime() - KNOWN_NETWORK_MS), whenOver: anywhere },
      device: { userAgent: device.userAgent, location: device.location },
      now,
    });
    const { user } = attempt;
    const [networkWait = 0, hereWait = 0, anywhereWait = 0] = attempt.waits;
    let wait = Math.max(networkWait, hereWait);
    if (wait === 0 && anywhereWait > 0 && !attempt.fromOwnedNetwork) wait = anywhereWait;
    if (wait > 0) {
      if (user) {
        await store.recordSecurityEvent({
          userId: user.id,
          type: 'login_throttled',
          ...originOf(device),
          details: { retry_after: wait },
          at: now,
        });
      }
      throw rateLimited('Too many failed logins; try again later', wait);
    }
    return { ...attempt, counters };
  }

  const loginFailed = (user: UserRecord, origin: RequestOrigin, reason: string) =>
    store.recordSecurityEvent({
      userId: user.id,
      type: 'login_failed',
      ...originOf(origin),
      details: { reason },
      at: clock.now(),
    });

  /**
   * Checks email and password; the same error, and one argon2id verification, for every
   * failure. The right password's refund is left to the caller (`refund`), so that a login can
   * make it with its session (one statement); the failures below make it first, as they did.
   */
  async function checkPassword(email: string, password: string, device: LoginDevice) {
    const normalizedEmail = normalizeEmail(email);
    const { user, counters, seen, hasPasskey } = await chargeLogin(normalizedEmail, device, clock.now());
    const candidate = normalizePassword(password);
    const ok = await hasher.verify(user?.passwordHash ?? (await deps.dummyPasswordHash), candidate);
    if (!user || !ok) {
      if (user) await loginFailed(user, device, 'wrong_password');
      throw invalidCredentials();
    }
    // The network and the account-wide counters get this attempt back, and the account's
    // counter for this network starts over.
    const refund = { keys: [counters.network, counters.anywhere], clear: [counters.here] };
    const refundNow = () => deps.rateLimiter.refund(refund.keys, clock.now(), refund.clear);
    // Said only to whoever knows the password: no oracle for anybody else.
    if (user.disabledAt) {
      await refundNow();
      await loginFailed(user, device, 'account_disabled');
      throw accountDisabled();
    }
    // REQUIRE_EMAIL_VERIFICATION (issue #17): also said only after the right password. Every
    // way to a token passes here first (the MFA step and a held login finish this login).
    if (deps.emailVerification?.required && user.emailVerifiedAt === null) {
      await refundNow();
      await loginFailed(user, device, 'email_not_verified');
      throw emailNotVerified();
    }
    if (hasher.needsRehash(user.passwordHash)) {
      const rehashed = await hasher.hash(candidate);
      if (await store.replacePasswordHash(user.id, user.passwordHash, rehashed)) user.passwordHash = rehashed;
    }
    return { user, seen, hasPasskey, refund, refundNow };
  }

  async function register(input: {
    email: string;
    password: string;
    name?: string | null;
    origin: RequestOrigin;
  }) {
    // Sign-ups per network are counted before any hashing: account spam and the 409 oracle.
    const [wait = 0] = await deps.rateLimiter.hit(
      [
        {
          key: deps.keys.registerByNetwork(deps.keys.network(input.origin.ipAddress)),
          policy: deps.registerLimit,
        },
      ],
      clock.now(),
    );
    if (wait > 0) throw rateLimited('Too many sign-ups from here; try again later', wait);
    return createAccount(
      {
        store,
        hasher,
        clock,
        passwordMinScore: deps.passwordMinScore,
        verificationFor: deps.emailVerification?.verificationFor,
      },
      input,
    );
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
    /** What a password login already knows: the device's history, and the refund to make. */
    known: { seen?: SeenBefore; refund?: { keys: string[]; clear: string[] } } = {},
  ): Promise<IssuedTokens | SessionLimitReached> {
    const now = clock.now();
    const { grant, refreshToken, session } = await newSession(
      { ...input, userId: user.id, authTime: now },
      input.device,
      now,
    );
    // Seen before? Lets a client (and the user's event log) warn about a new device or place.
    const seen = known.seen ?? (await store.seenBefore(user.id, input.device, now));
    // The session, its first refresh token, the event with its webhook deliveries and notices,
    // and the refund: one statement, all or nothing (issue #21).
    const opened = await store.openLoginSession({
      session,
      maxSessions: sessionPolicy.maxSessionsPerUser,
      verifiedPasswordHash: user.passwordHash,
      onLimit: deps.sessionLimitPolicy ?? 'evict',
      ...(known.refund ? { refund: known.refund } : {}),
      event: {
        userId: user.id,
        sessionId: grant.sessionId,
        type: 'login_succeeded',
        ...originOf(input.device),
        details: {
          client_id: input.clientId,
          // How the user signed in (RFC 8176): ['pwd'], ['pwd', 'otp'], a passkey's ['hwk', 'user', 'mfa'].
          amr: input.amr,
          device_name: input.deviceName,
          location: input.device.location,
          country: input.device.country ?? null,
          new_device: !seen.device,
          new_location: !seen.location,
          unusual_time: isUnusualTime(seen.signIns),
          first_sign_in: seen.signIns.count === 0,
          // evicted_sessions: added by the store when the limit made it revoke sessions.
        },
        at: now,
      },
    });
    // The password changed between the check and the lock: the checked one is no longer valid.
    if (opened === 'credentials_changed') throw invalidCredentials();
    if (opened === 'account_disabled') throw accountDisabled();
    if (opened === 'limit_reached') return holdLogin(user, { ...input, authTime: now });
    return tokensFor({ ...grant, emailVerified: opened.emailVerified }, refreshToken);
  }

  async function login(input: {
    email: string;
    password: string;
    deviceName?: string | null;
    remember?: boolean;
    clientId?: string;
    delivery?: Delivery;
    device: RequestDevice;
  }): Promise<IssuedTokens | MfaRequired | SessionLimitReached> {
    const { user, seen, hasPasskey, refund, refundNow } = await checkPassword(
      input.email,
      input.password,
      input.device,
    );
    const session = {
      deviceName: input.deviceName ?? null,
      remembered: input.remember ?? false,
      clientId: input.clientId ?? DEFAULT_CLIENT_ID,
    };
    if (user.mfaEnabled) {
      await refundNow();
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
      return {
        mfaRequired: true,
        mfaToken: token,
        methods: ['totp', 'recovery_code', ...(hasPasskey ? (['passkey'] as const) : [])],
      };
    }
    return openSession(
      user,
      { ...session, device: input.device, acr: 'aal1', amr: ['pwd'], delivery: input.delivery ?? 'body' },
      { ...(seen ? { seen } : {}), refund },
    );
  }

  return { register, openSession, login };
}
