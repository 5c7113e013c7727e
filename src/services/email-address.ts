import type { MailConfig } from '../config/mail.js';
import { assuranceOf, FRESH_AAL2, FRESH_AUTH } from '../domain/assurance.js';
import { requireAssurance } from '../domain/bearer.js';
import { normalizeEmail, normalizePassword } from '../domain/credentials.js';
import { AuthError } from '../domain/errors.js';
import type { MasterKeys } from '../lib/crypto.js';
import { HOUR, SECOND } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import type { EmailChangeStore, EmailVerificationStore, NewEmailToken } from '../ports/email-tokens.js';
import type { MailMessage, MessageKind } from '../ports/mail.js';
import type { PasswordHasher } from '../ports/password-hasher.js';
import type { RateLimiter } from '../ports/rate-limiter.js';
import type { UserStore } from '../ports/store.js';
import { originOf } from '../ports/store.js';
import { type LimitKeys, rateLimited, type SecretGuessLimit } from './attempt-limits.js';
import { outboxMessage } from './mail-sealing.js';
import {
  confirmEmailChangeMail,
  emailChangedMail,
  emailChangeNoticeMail,
  verifyEmailMail,
} from './mail-templates/email-address.js';
import { linkWithToken } from './mail-templates/password-reset.js';
import { type Caller, userOfCaller } from './session-service.js';
import { invalidLinkToken, singleUseToken } from './single-use-token.js';
import type { RequestDevice } from './types.js';

/**
 * The address of an account (issue #17, flows 2 and 3): verifying it, and changing it. Each
 * link carries a single-use token of its own purpose (single-use-token.ts).
 */
export const verifyEmailToken = singleUseToken('lkv_');
export const changeEmailToken = singleUseToken('lkc_');
export const revertEmailToken = singleUseToken('lkr_');

type MailSettings = Pick<
  MailConfig,
  | 'productName'
  | 'links'
  | 'emailVerificationTtlSeconds'
  | 'emailChangeTtlSeconds'
  | 'emailRevertTtlSeconds'
  | 'passwordResetsPerAddress'
  | 'passwordResetsPerIp'
  | 'securityNotifications'
>;

export interface EmailAddressDeps {
  store: EmailVerificationStore & EmailChangeStore & Pick<UserStore, 'findUserByEmail' | 'findUserById'>;
  hasher: PasswordHasher;
  clock: Clock;
  masterKeys: MasterKeys;
  rateLimiter: RateLimiter;
  keys: LimitKeys;
  /** The current password of an email change is counted with step-up's guesses. */
  guesses: SecretGuessLimit;
  mail: MailSettings;
}

export function createEmailAddress(deps: EmailAddressDeps) {
  const { store, clock, masterKeys, keys, mail } = deps;
  // Verification mails: the limits of reset mails (per address, silent; per network, 429).
  const perAddress = { points: mail.passwordResetsPerAddress, windowMs: HOUR };
  const perNetwork = { points: mail.passwordResetsPerIp, windowMs: HOUR };

  async function newToken(
    kind: { create: () => string; hash: (token: string) => Promise<string> },
    input: {
      messageKind: MessageKind;
      userId: string;
      ttlSeconds: number;
      now: Date;
      render: (token: string) => MailMessage;
    },
  ): Promise<NewEmailToken> {
    const token = kind.create();
    return {
      id: crypto.randomUUID(),
      tokenHash: await kind.hash(token),
      expiresAt: new Date(input.now.getTime() + input.ttlSeconds * SECOND),
      message: await outboxMessage(masterKeys, {
        kind: input.messageKind,
        userId: input.userId,
        message: input.render(token),
        now: input.now,
      }),
    };
  }

  /** The verification link of `email` and its mail, ready to be written with the change that causes it. */
  function verificationFor(user: { id: string; email: string }, now: Date): Promise<NewEmailToken> {
    return newToken(verifyEmailToken, {
      messageKind: 'verify_email',
      userId: user.id,
      ttlSeconds: mail.emailVerificationTtlSeconds,
      now,
      render: (token) =>
        verifyEmailMail({
          to: user.email,
          productName: mail.productName,
          link: linkWithToken(mail.links.verifyEmail, token),
          ttlSeconds: mail.emailVerificationTtlSeconds,
        }),
    });
  }

  /**
   * POST /v1/auth/email/verify/resend. Always the same answer. Both counters are charged
   * first, atomically: past the network's limit, 429; past the address's, no mail. Unlike a
   * reset, no decoy: registration already says whether an address has an account (409), so
   * the answer's timing here tells nothing new.
   */
  async function resendVerification(input: { email: string; device: RequestDevice }): Promise<void> {
    const now = clock.now();
    const email = normalizeEmail(input.email);
    const [waits, user] = await Promise.all([
      deps.rateLimiter.hit(
        [
          { key: keys.verifyEmailByNetwork(keys.network(input.device.ipAddress)), policy: perNetwork },
          { key: keys.verifyEmailByAccount(await keys.account(email)), policy: perAddress },
        ],
        now,
      ),
      store.findUserByEmail(email),
    ]);
    const [networkWait = 0, addressWait = 0] = waits;
    if (networkWait > 0) throw rateLimited('Too many verification requests; try again later', networkWait);
    if (!user || addressWait > 0 || user.disabledAt || user.emailVerifiedAt) return;
    await store.issueEmailVerification({
      userId: user.id,
      email: user.email,
      now,
      token: await verificationFor(user, now),
    });
  }

  /** POST /v1/auth/email/verify: the link's token marks the address verified. */
  async function verifyEmail(input: { token: string; device: RequestDevice }): Promise<{ email: string }> {
    if (!verifyEmailToken.isWellFormed(input.token)) throw invalidLinkToken();
    const now = clock.now();
    const result = await store.verifyEmail({
      tokenHash: await verifyEmailToken.hash(input.token),
      now,
      event: {
        type: 'email_verified',
        ...originOf(input.device),
        at: now,
      },
    });
    if (result === 'invalid_token') throw invalidLinkToken();
    return { email: result.email };
  }

  /**
   * POST /v1/users/me/email. Needs a fresh authentication (aal2 when the account has MFA: the
   * address is how an account is recovered, as grave as turning MFA off; RFC 9470, OWASP ASVS
   * V2.2) and the current password, counted with step-up's guesses before it is checked. Sends
   * a confirmation link to the new address and a notice with a "this wasn't me" link to the
   * current one; nothing changes until the new address confirms (OWASP ASVS V3.7).
   */
  async function requestChange(
    caller: Caller,
    input: { email: string; password: string; device: RequestDevice },
  ): Promise<{ pendingEmail: string }> {
    const user = await userOfCaller(store, caller);
    requireAssurance(assuranceOf(caller), user.mfaEnabled ? FRESH_AAL2 : FRESH_AUTH, clock.now());
    const newEmail = normalizeEmail(input.email);
    if (newEmail === user.email)
      throw new AuthError('invalid_request', 'This is already the address of the account');
    await deps.guesses.charge(user.id, 'email_change', input.device);
    if (!(await deps.hasher.verify(user.passwordHash, normalizePassword(input.password)))) {
      throw new AuthError('wrong_password', 'The password is incorrect');
    }
    await deps.guesses.refund(user.id);
    // Mails per account: the limit of reset mails, counted before any is written.
    const now = clock.now();
    const [wait = 0] = await deps.rateLimiter.hit(
      [{ key: keys.emailChangeByUser(user.id), policy: perAddress }],
      now,
    );
    if (wait > 0) throw rateLimited('Too many address changes; try again later', wait);

    const confirm = await newToken(changeEmailToken, {
      messageKind: 'confirm_email_change',
      userId: user.id,
      ttlSeconds: mail.emailChangeTtlSeconds,
      now,
      render: (token) =>
        confirmEmailChangeMail({
          to: newEmail,
          productName: mail.productName,
          link: linkWithToken(mail.links.changeEmail, token),
          ttlSeconds: mail.emailChangeTtlSeconds,
        }),
    });
    const revert = await newToken(revertEmailToken, {
      messageKind: 'email_change_notice',
      userId: user.id,
      ttlSeconds: mail.emailRevertTtlSeconds,
      now,
      render: (token) =>
        emailChangeNoticeMail({
          to: user.email,
          productName: mail.productName,
          newEmail,
          revertLink: linkWithToken(mail.links.revertEmailChange, token),
          revertTtlSeconds: mail.emailRevertTtlSeconds,
          at: now,
          ipAddress: input.device.ipAddress,
          userAgent: input.device.userAgent,
        }),
    });
    const outcome = await store.requestEmailChange({
      userId: user.id,
      verifiedPasswordHash: user.passwordHash,
      currentEmail: user.email,
      newEmail,
      now,
      confirm,
      revert,
      event: {
        userId: user.id,
        sessionId: caller.sid,
        type: 'email_change_requested',
        ...originOf(input.device),
        details: { to: newEmail },
        at: now,
      },
    });
    if (outcome === 'email_taken')
      throw new AuthError('email_taken', 'An account with this email already exists');
    if (outcome === 'credentials_changed')
      throw new AuthError('wrong_password', 'The password was changed by another request; try again');
    if (outcome === 'not_found')
      throw new AuthError('invalid_request', 'The account changed meanwhile; reload and try again');
    return { pendingEmail: newEmail };
  }

  /** POST /v1/auth/email/change/confirm: the new address's link makes the change. */
  async function confirmChange(input: { token: string; device: RequestDevice }): Promise<{ email: string }> {
    if (!changeEmailToken.isWellFormed(input.token)) throw invalidLinkToken();
    const now = clock.now();
    const result = await store.confirmEmailChange({
      tokenHash: await changeEmailToken.hash(input.token),
      now,
      event: {
        type: 'email_changed',
        ...originOf(input.device),
        at: now,
      },
      notice: async (change) =>
        mail.securityNotifications
          ? [
              await outboxMessage(masterKeys, {
                kind: 'email_changed',
                userId: change.userId,
                message: emailChangedMail({
                  to: change.from,
                  productName: mail.productName,
                  newEmail: change.to,
                  at: now,
                }),
                now,
              }),
            ]
          : [],
    });
    if (result === 'invalid_token') throw invalidLinkToken();
    if (result === 'email_taken')
      throw new AuthError('email_taken', 'Another account took this address meanwhile');
    return { email: result.to };
  }

  /** POST /v1/auth/email/change/revert: "this wasn't me" from the old address. */
  async function revertChange(input: {
    token: string;
    device: RequestDevice;
  }): Promise<{ email: string; revokedSessions: number }> {
    if (!revertEmailToken.isWellFormed(input.token)) throw invalidLinkToken();
    const now = clock.now();
    const result = await store.revertEmailChange({
      tokenHash: await revertEmailToken.hash(input.token),
      now,
      event: {
        type: 'email_change_reverted',
        ...originOf(input.device),
        at: now,
      },
    });
    if (result === 'invalid_token') throw invalidLinkToken();
    if (result === 'email_taken')
      throw new AuthError('email_taken', 'Another account has this address now; contact support');
    return { email: result.email, revokedSessions: result.revoked };
  }

  return { verificationFor, resendVerification, verifyEmail, requestChange, confirmChange, revertChange };
}

export type EmailAddress = ReturnType<typeof createEmailAddress>;
