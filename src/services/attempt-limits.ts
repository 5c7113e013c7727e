import { type NetworkPrefixes, networkOf } from '../domain/client-network.js';
import { AuthError } from '../domain/errors.js';
import { sha256Base64url } from '../lib/crypto.js';
import type { Clock } from '../ports/clock.js';
import type { LimitPolicy, RateLimiter } from '../ports/rate-limiter.js';
import { originOf, type RequestOrigin, type SecurityEvent } from '../ports/store.js';

/**
 * The one home of attempt-limit keys. A key is a scope and bounded parts: a normalised
 * client network (never the raw address string: `2001:DB8::1` and `2001:db8::1` are one
 * client, and so is a whole IPv6 /64), a user id, or the SHA-256 of user text such as an
 * email, so that no request can make a key longer than the index allows (issue #15 §8).
 */
export function limitKeys(prefixes: NetworkPrefixes) {
  return {
    /** The client's network as CIDR text (one per address spelling and IPv6 /64), or null. */
    network: (ipAddress: string | null) => networkOf(ipAddress, prefixes),
    /** Stable, bounded and not reversible to the address: a digest of the normalised email. */
    account: (normalizedEmail: string) => sha256Base64url(`email:${normalizedEmail}`),
    loginByNetwork: (network: string | null) => `login:net:${network ?? 'unknown'}`,
    loginByAccountAtNetwork: (account: string, network: string | null) =>
      `login:account:${account}:${network ?? 'unknown'}`,
    loginByAccount: (account: string) => `login:account:${account}`,
    registerByNetwork: (network: string | null) => `register:net:${network ?? 'unknown'}`,
    /** POST /v1/auth/password/forgot: requests per client network, and mails per address. */
    passwordResetByNetwork: (network: string | null) => `reset:net:${network ?? 'unknown'}`,
    passwordResetByAccount: (account: string) => `reset:account:${account}`,
    /** Verification mails asked for again: requests per network, mails per address. */
    verifyEmailByNetwork: (network: string | null) => `verify:net:${network ?? 'unknown'}`,
    verifyEmailByAccount: (account: string) => `verify:account:${account}`,
    /** Address changes asked for by one account (each sends two mails). */
    emailChangeByUser: (userId: string) => `email-change:user:${userId}`,
    refreshFailuresByNetwork: (network: string | null) => `refresh:net:${network ?? 'unknown'}`,
    /** Passkey ceremonies started (challenges written) per client network. */
    passkeyCeremoniesByNetwork: (network: string | null) => `passkey:net:${network ?? 'unknown'}`,
    /** Second factors and re-authentication of a signed-in or half-signed-in user. */
    secretGuessesByUser: (userId: string) => `secret:user:${userId}`,
  };
}

export type LimitKeys = ReturnType<typeof limitKeys>;

export const rateLimited = (message: string, waitSeconds: number) =>
  new AuthError('rate_limited', message, { retryAfterSeconds: waitSeconds });

/**
 * Guesses of a user's secrets once the first factor is known or a session is held: TOTP and
 * recovery codes (login, step-up, activation), the step-up password and the current
 * password of a password change. One counter per user (OWASP ASVS V2.2.1, V2.8.7: codes and
 * re-entered passwords are guessable). Each guess is counted before it is checked; a right
 * one is given back.
 */
export function createSecretGuessLimit(deps: {
  rateLimiter: RateLimiter;
  clock: Clock;
  keys: LimitKeys;
  policy: LimitPolicy;
  recordSecurityEvent: (event: SecurityEvent) => Promise<void>;
}) {
  return {
    /** Counts one guess; throws `rate_limited` (and records `mfa_throttled`, from `origin`) past the limit. */
    async charge(userId: string, during: string, origin: RequestOrigin): Promise<void> {
      const now = deps.clock.now();
      const [wait = 0] = await deps.rateLimiter.hit(
        [{ key: deps.keys.secretGuessesByUser(userId), policy: deps.policy }],
        now,
      );
      if (wait === 0) return;
      await deps.recordSecurityEvent({
        userId,
        type: 'mfa_throttled',
        ...originOf(origin),
        details: { retry_after: wait, during },
        at: now,
      });
      throw rateLimited('Too many wrong codes or passwords; try again later', wait);
    },
    /** A right guess does not count against the user. */
    refund(userId: string): Promise<void> {
      return deps.rateLimiter.refund([deps.keys.secretGuessesByUser(userId)], deps.clock.now());
    },
  };
}

export type SecretGuessLimit = ReturnType<typeof createSecretGuessLimit>;
