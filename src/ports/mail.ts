/**
 * Email (issue #17). Messages are rendered by the services, sealed with the master key and put
 * in the outbox in the same transaction as the change that causes them; a dispatcher later
 * claims them and hands each to a `Mailer`, at least once, with its idempotency key.
 */

/** What the messages are about: one template each (metrics and the admin view count by kind). */
export type MessageKind =
  | 'password_reset'
  | 'verify_email'
  | 'confirm_email_change'
  | 'email_change_notice'
  | 'password_changed'
  | 'email_changed'
  | 'new_device_login'
  | 'unusual_time_login'
  | 'mfa_enabled'
  | 'mfa_disabled'
  | 'recovery_code_used'
  | 'recovery_codes_low'
  | 'refresh_token_reused'
  | 'account_disabled'
  | 'account_deleted'
  /** Passkeys (issue #20): one added, one removed, a sign-in with a copied one refused. */
  | 'passkey_added'
  | 'passkey_removed'
  | 'passkey_clone_suspected'
  /** To every admin: a webhook endpoint kept failing and was disabled (issue #18). */
  | 'webhook_endpoint_disabled';

/** A rendered message: every user value already escaped in `html`. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** A message as a transport sends it: the idempotency key goes out as its Message-ID. */
export interface OutgoingMail extends MailMessage {
  from: string;
  replyTo?: string | undefined;
  idempotencyKey: string;
}

/** The transport (nodemailer over SMTP, an HTTPS mail API, .eml files in development). */
export interface Mailer {
  /** Resolves once the transport accepted the message; rejects with the reason otherwise. */
  send(mail: OutgoingMail): Promise<void>;
}

/** A message to put in the outbox, in the same transaction as the change that causes it. */
export interface NewOutboxMessage {
  id: string;
  kind: MessageKind;
  userId: string | null;
  idempotencyKey: string;
  /** The MailMessage as JSON, sealed with the master key (it may hold a single-use link). */
  sealed: string;
  createdAt: Date;
}

/** A message the dispatcher claimed: its lease runs until `leaseEndsAt`. */
export interface ClaimedMessage {
  id: string;
  kind: MessageKind;
  idempotencyKey: string;
  sealed: string;
  /** Attempts so far, this one included. */
  attempts: number;
}

export interface OutboxStats {
  pending: number;
  sent: number;
  failed: number;
  /** Seconds since the oldest pending message was written (0 with none). */
  oldestPendingAgeSeconds: number;
}

export type OutboxStatus = 'pending' | 'sent' | 'failed';

/**
 * A message as operators see it (admin API, CLI): never its body, which may hold a live link.
 * `lastError` is bounded by the adapter (at most 500 characters).
 */
export interface OutboxMessageView {
  id: string;
  kind: MessageKind;
  userId: string | null;
  status: OutboxStatus;
  /** Attempts so far (a claim counts one). */
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  createdAt: Date;
  sentAt: Date | null;
}

/** Why a retry changed nothing (see OutboxReview.retryFailedMessage). */
export type RetryRefusal = 'not_found' | 'not_failed' | 'body_erased';

/** The operators' view of the outbox: a list and a retry (GET /v1/admin/mail, `mail:*`). */
export interface OutboxReview {
  /**
   * Messages newest first (`createdAt`, then `id`, descending), of one status or all, strictly
   * after `before` in that order when given (keyset paging).
   */
  listOutboxMessages(query: {
    status?: OutboxStatus;
    limit: number;
    before?: { at: Date; id: string };
  }): Promise<OutboxMessageView[]>;
  /**
   * A failed message back to pending, due `now`, its attempts counted from zero again: one
   * conditional UPDATE, so two retries at once (or a retry and a cleanup) change it once.
   * Only a message that still has its sealed body can be sent again.
   */
  retryFailedMessage(id: string, now: Date): Promise<'retried' | RetryRefusal>;
}

/** The outbox's own port: claims, outcomes and figures. Writes come with each change. */
export interface OutboxStore {
  enqueueMessages(messages: NewOutboxMessage[]): Promise<void>;
  /**
   * Claims up to `limit` due pending messages for `leaseMs` (FOR UPDATE SKIP LOCKED: parallel
   * dispatchers never claim one message twice while its lease runs) and counts the attempt.
   */
  claimDueMessages(now: Date, limit: number, leaseMs: number): Promise<ClaimedMessage[]>;
  /** Sent: the sealed body is erased (it may hold a single-use link). */
  markMessageSent(id: string, now: Date): Promise<void>;
  markMessageRetry(id: string, nextAttemptAt: Date, error: string): Promise<void>;
  markMessageFailed(id: string, error: string, now: Date): Promise<void>;
  outboxStats(now: Date): Promise<OutboxStats>;
}
