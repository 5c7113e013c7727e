import type { MailConfig } from '../config/mail.js';
import { normalizeEmail, normalizePassword } from '../domain/credentials.js';
import { AuthError } from '../domain/errors.js';
import type { MasterKeys } from '../lib/crypto.js';
import { HOUR, SECOND } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import type { PasswordResetStore } from '../ports/email-tokens.js';
import type { PasswordHasher } from '../ports/password-hasher.js';
import type { RateLimiter } from '../ports/rate-limiter.js';
import {
  NO_ORIGIN,
  originOf,
  type RequestOrigin,
  type SecurityEventLog,
  type UserRecord,
  type UserStore,
} from '../ports/store.js';
import { type LimitKeys, rateLimited, type SecretGuessLimit } from './attempt-limits.js';
import { outboxMessage } from './mail-sealing.js';
import { passwordChangedMail } from './mail-templates/password-changed.js';
import { linkWithToken, passwordResetMail } from './mail-templates/password-reset.js';
import type { CodeFactor } from './mfa-service.js';
import { assertAcceptablePassword, contextWordsOf } from './passwords.js';
import { invalidLinkToken, singleUseToken } from './single-use-token.js';
import type { RequestDevice } from './types.js';

/**
 * Password reset by email (issue #17, flow 1; OWASP Forgot Password Cheat Sheet).
 *
 * The token: `lkp_` and 256 bits from the CSPRNG, base64url (the prefix lets secret scanners
 * spot it and makes it useless anywhere else), stored only as its SHA-256, single use, valid
 * `PASSWORD_RESET_TTL` (30 minutes), voided by a newer one, a password change or a disable.
 * A presented token is hashed and found through a unique index: no secret is compared in
 * JavaScript, so timing says nothing about a stored one.
 */
const resetToken = singleUseToken('lkp_');
export const newPasswordResetToken = resetToken.create;
export const isWellFormedPasswordResetToken = resetToken.isWellFormed;
export const hashPasswordResetToken = resetToken.hash;

export interface PasswordResetDeps {
  store: PasswordResetStore &
    Pick<UserStore, 'findUserByEmail' | 'findUserById'> &
    Pick<SecurityEventLog, 'recordSecurityEvent'>;
  hasher: PasswordHasher;
  clock: Clock;
  masterKeys: MasterKeys;
  rateLimiter: RateLimiter;
  keys: LimitKeys;
  /** Wrong codes per user: the same counter as the MFA login and step-up. */
  guesses: SecretGuessLimit;
  /** The MFA service's own check (a TOTP code once per step, a recovery code once): its method, or undefined. */
  verifySecondFactor: (
    user: UserRecord,
    factor: CodeFactor,
    origin: RequestOrigin,
  ) => Promise<string | undefined>;
  mail: Pick<
    MailConfig,
    | 'productName'
    | 'links'
    | 'passwordResetTtlSeconds'
    | 'passwordResetsPerAddress'
    | 'passwordResetsPerIp'
    | 'securityNotifications'
  >;
  passwordMinScore: number;
}

export function createPasswordReset(deps: PasswordResetDeps) {
  const { store, clock, masterKeys, keys, mail } = deps;
  const perAddress = { points: mail.passwordResetsPerAddress, windowMs: HOUR };
  const perNetwork = { points: mail.passwordResetsPerIp, windowMs: HOUR };

  /** A fresh reset token, its hash and its sealed mail to `to` (the one home of the reset mail). */
  async function resetLink(to: string, userId: string | null, now: Date) {
    const token = newPasswordResetToken();
    const message = await outboxMessage(masterKeys, {
      kind: 'password_reset',
      userId,
      message: passwordResetMail({
        to,
        productName: mail.productName,
        link: linkWithToken(mail.links.passwordReset, token),
        ttlSeconds: mail.passwordResetTtlSeconds,
      }),
      now,
    });
    return {
      tokenHash: await hashPasswordResetToken(token),
      message,
      expiresAt: new Date(now.getTime() + mail.passwordResetTtlSeconds * SECOND),
    };
  }

  /**
   * POST /v1/auth/password/forgot. The same answer, and about the same work, whether or not
   * the address has an account (OWASP: no account enumeration): a token is made, hashed, its
   * mail rendered and sealed either way, and an unknown address runs the decoy transaction
   * instead of the real one. Both counters are charged first, atomically: past the network's
   * limit the caller gets 429; past the address's, the same 202 as ever and no mail (the
   * counter is charged for unknown addresses too, so it reveals nothing either).
   */
  async function requestReset(input: { email: string; device: RequestDevice }): Promise<void> {
    const now = clock.now();
    const email = normalizeEmail(input.email);
    const account = await keys.account(email);
    const [waits, user] = await Promise.all([
      deps.rateLimiter.hit(
        [
          { key: keys.passwordResetByNetwork(keys.network(input.device.ipAddress)), policy: perNetwork },
          { key: keys.passwordResetByAccount(account), policy: perAddress },
        ],
        now,
      ),
      store.findUserByEmail(email),
    ]);
    const [networkWait = 0, addressWait = 0] = waits;
    if (networkWait > 0) throw rateLimited('Too many password reset requests; try again later', networkWait);

    const { tokenHash, message, expiresAt } = await resetLink(user?.email ?? email, user?.id ?? null, now);
    const sends = user !== undefined && user.disabledAt === null && addressWait === 0;
    const issued =
      sends &&
      (await store.issuePasswordResetToken({
        id: crypto.randomUUID(),
        userId: user.id,
        email: user.email,
        tokenHash,
        now,
        expiresAt,
        message,
        event: {
          userId: user.id,
          type: 'password_reset_requested',
          ...originOf(input.device),
          at: now,
        },
      }));
    if (!issued) await store.decoyPasswordReset({ tokenHash, now, message });
  }

  /**
   * POST /v1/auth/password/reset. Checks in this order, and changes nothing until the last
   * step: the token (usable, not consumed by reading it), the new password (the policy of
   * registration), the second factor of an account with TOTP (a reset must not bypass MFA:
   * a wrong code is charged to the user's guess counter and leaves the token usable), then
   * one transaction consumes the token, sets the password, ends every session and pending
   * credential, records `password_reset` and queues the "password changed" notice.
   */
  async function resetPassword(input: {
    token: string;
    password: string;
    factor?: CodeFactor | undefined;
    device: RequestDevice;
  }): Promise<{ revoked: number }> {
    if (!isWellFormedPasswordResetToken(input.token)) throw invalidLinkToken();
    const tokenHash = await hashPasswordResetToken(input.token);
    const found = await store.findPasswordResetToken(tokenHash, clock.now());
    const user = found && (await store.findUserById(found.userId));
    if (!user) throw invalidLinkToken();

    const password = normalizePassword(input.password);
    await assertAcceptablePassword(password, contextWordsOf(user.email), deps.passwordMinScore);

    let method: string | undefined;
    if (user.mfaEnabled) {
      if (!input.factor)
        throw new AuthError(
          'mfa_required',
          'This account has two-step verification: send a code from the authenticator app, or a recovery code',
        );
      await deps.guesses.charge(user.id, 'password_reset', input.device);
      method = await deps.verifySecondFactor(user, input.factor, input.device);
      if (!method) {
        await store.recordSecurityEvent({
          userId: user.id,
          type: 'mfa_failed',
          ...originOf(input.device),
          details: { during: 'password_reset' },
          at: clock.now(),
        });
        throw new AuthError('invalid_code', 'The code is not valid');
      }
      await deps.guesses.refund(user.id);
    }

    const newHash = await deps.hasher.hash(password);
    const now = clock.now();
    const notice = mail.securityNotifications
      ? [
          await outboxMessage(masterKeys, {
            kind: 'password_changed',
            userId: user.id,
            message: passwordChangedMail({
              to: user.email,
              productName: mail.productName,
              how: 'reset',
              at: now,
              ipAddress: input.device.ipAddress,
              userAgent: input.device.userAgent,
            }),
            now,
          }),
        ]
      : [];
    const result = await store.completePasswordReset({
      tokenHash,
      userId: user.id,
      newHash,
      now,
      event: {
        userId: user.id,
        type: 'password_reset',
        ...originOf(input.device),
        details: method ? { second_factor: method } : {},
        at: now,
      },
      messages: notice,
    });
    if (result === 'invalid_token') throw invalidLinkToken();
    return result;
  }

  /**
   * A reset link sent on an operator's word (issue #17, flow 6): an admin through the API or an
   * operator through the CLI. No operator ever sees or sets the password: the link goes to the
   * account's own address, through the outbox, and nothing here returns it. The same token, mail
   * and transaction as POST /v1/auth/password/forgot (a newer link voids the older ones), but no
   * per-address limit, which guards the anonymous endpoint. Refused for a disabled account (and
   * a deleted one, a disabled tombstone), as the forgot flow sends it nothing.
   * `password_reset_requested` names who asked (`by`, and the admin), in the same transaction.
   */
  async function sendResetLink(input: {
    userId: string;
    actor: ResetLinkActor;
    device?: RequestDevice;
  }): Promise<'sent' | 'not_found' | 'disabled'> {
    const user = await store.findUserById(input.userId);
    if (!user) return 'not_found';
    if (user.disabledAt !== null) return 'disabled';
    const now = clock.now();
    const link = await resetLink(user.email, user.id, now);
    const issued = await store.issuePasswordResetToken({
      id: crypto.randomUUID(),
      userId: user.id,
      email: user.email,
      now,
      ...link,
      event: {
        userId: user.id,
        type: 'password_reset_requested',
        ...originOf(input.device ?? NO_ORIGIN),
        details:
          input.actor.by === 'admin'
            ? { by: 'admin', admin_id: input.actor.adminId, admin_session_id: input.actor.adminSessionId }
            : { by: 'operator', via: 'cli' },
        at: now,
      },
    });
    // Not issued: the account was disabled (or deleted) since it was read.
    return issued ? 'sent' : 'disabled';
  }

  return { requestReset, resetPassword, sendResetLink };
}

/** Who sent a reset link that the user did not ask for: an admin (API) or an operator (CLI). */
export type ResetLinkActor = { by: 'admin'; adminId: string; adminSessionId: string } | { by: 'operator' };

export type PasswordReset = ReturnType<typeof createPasswordReset>;
