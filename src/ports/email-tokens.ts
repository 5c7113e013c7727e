import type { NewOutboxMessage } from './mail.js';
import type { SecurityEvent } from './records.js';

/**
 * Single-use tokens sent by email (issue #17), stored as their SHA-256 only (`email_tokens`).
 * Each method is one transaction in the adapter, and the message a change causes is written to
 * the outbox inside it: a rolled-back change never sends one, a committed one never loses it.
 */
export type EmailTokenPurpose = 'password_reset' | 'verify_email' | 'change_email' | 'revert_email_change';

/** A password reset token that was usable when it was read. */
export interface PasswordResetToken {
  userId: string;
  createdAt: Date;
  expiresAt: Date;
}

export interface PasswordResetStore {
  /**
   * Issues a reset token and its mail, in one transaction: the user's older unused reset
   * tokens are consumed (a newer link voids the older ones), the token row and the outbox
   * message are inserted. False (nothing written) when the user is gone or disabled meanwhile.
   */
  issuePasswordResetToken(input: {
    id: string;
    userId: string;
    email: string;
    tokenHash: string;
    now: Date;
    expiresAt: Date;
    message: NewOutboxMessage;
    /** `password_reset_requested`, recorded in the same transaction. */
    event: SecurityEvent;
  }): Promise<boolean>;
  /**
   * What a request for an unknown address does instead, so that both take about as long: the
   * same statements in a transaction, leaving no row (`tokenHash` is fresh and matches none;
   * `message`, addressed to nobody's account, is inserted and rolled back).
   */
  decoyPasswordReset(input: { tokenHash: string; now: Date; message: NewOutboxMessage }): Promise<void>;
  /** The unused, unexpired reset token with this hash, of a user that may still reset. */
  findPasswordResetToken(tokenHash: string, now: Date): Promise<PasswordResetToken | undefined>;
  /**
   * Finishes a reset in one transaction under the user's lock: consumes the token (a
   * conditional UPDATE: of two resets with one token exactly one gets here), sets the password
   * hash and `password_changed_at`, revokes every session (`password_reset`), ends pending
   * credentials, records `event` and enqueues `messages`. 'invalid_token' (nothing changed)
   * when the token was no longer usable.
   */
  completePasswordReset(input: {
    tokenHash: string;
    userId: string;
    newHash: string;
    now: Date;
    event: SecurityEvent;
    messages: NewOutboxMessage[];
  }): Promise<{ revoked: number } | 'invalid_token'>;
}

/** A verification link sent with a new account (createUser) or on request. */
export interface NewEmailToken {
  id: string;
  tokenHash: string;
  expiresAt: Date;
  message: NewOutboxMessage;
}

/** Email verification (issue #17, flow 2). */
export interface EmailVerificationStore {
  /**
   * Issues a verification token for the user's current address and queues its mail, in one
   * transaction under the user's lock: the user's older unused verification tokens are
   * consumed. 'not_sent' (nothing written) when the user is gone, disabled, already verified,
   * or no longer has `email`.
   */
  issueEmailVerification(input: {
    userId: string;
    email: string;
    now: Date;
    token: NewEmailToken;
  }): Promise<'issued' | 'not_sent'>;
  /**
   * Consumes a verification token and marks the address verified, in one transaction: only
   * while the user still has the address the link was sent to. Idempotent for an address
   * verified meanwhile by another link. Records `event` (its userId is filled in here).
   */
  verifyEmail(input: {
    tokenHash: string;
    now: Date;
    event: Omit<SecurityEvent, 'userId'>;
  }): Promise<{ userId: string; email: string } | 'invalid_token'>;
}

/** Email change (issue #17, flow 3): confirmed from the new address, revertible from the old one. */
export interface EmailChangeStore {
  /**
   * Records a requested change in one transaction under the user's lock: the older unconfirmed
   * changes are consumed; `confirm` (a `change_email` token for the new address) and `revert`
   * (a `revert_email_change` token for the current one) are inserted with their messages and
   * `event`. 'credentials_changed' when the password hash is no longer `verifiedPasswordHash`;
   * 'email_taken' when another account has the new address now.
   */
  requestEmailChange(input: {
    userId: string;
    verifiedPasswordHash: string;
    currentEmail: string;
    newEmail: string;
    now: Date;
    confirm: NewEmailToken;
    revert: NewEmailToken;
    event: SecurityEvent;
  }): Promise<'requested' | 'credentials_changed' | 'email_taken' | 'not_found'>;
  /**
   * Confirms a change: consumes the `change_email` token, sets the address (verified now) if
   * the account still has the address the change started from, records `event` and queues
   * `notice(from, to)` for the old address, in one transaction. Uniqueness is the database's:
   * of two accounts confirming one address, one gets 'email_taken' and nothing changes for it.
   */
  confirmEmailChange(input: {
    tokenHash: string;
    now: Date;
    event: Omit<SecurityEvent, 'userId'>;
    notice: (change: { userId: string; from: string; to: string }) => Promise<NewOutboxMessage[]>;
  }): Promise<{ userId: string; from: string; to: string } | 'invalid_token' | 'email_taken'>;
  /**
   * "This wasn't me": consumes the `revert_email_change` token, puts back the address it was
   * sent to (verified: the link came from that mailbox), voids unconfirmed changes, revokes
   * every session (`email_change_reverted`) and ends pending credentials, in one transaction.
   * The token survives a password change: it is how the owner gets back an account whose
   * address and password were both changed by someone else.
   */
  revertEmailChange(input: {
    tokenHash: string;
    now: Date;
    event: Omit<SecurityEvent, 'userId'>;
  }): Promise<{ userId: string; email: string; revoked: number } | 'invalid_token' | 'email_taken'>;
}
