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
