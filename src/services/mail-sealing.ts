import { decryptString, encryptString, type MasterKeys, randomToken } from '../lib/crypto.js';
import type { MailMessage, MessageKind, NewOutboxMessage } from '../ports/mail.js';

/**
 * Outbox payloads at rest (issue #17): a rendered message may carry a single-use link (a bearer
 * secret), so it is stored only sealed with the master key (AES-256-GCM, lib/crypto), bound to
 * its row's id as additional data so that a sealed body cannot be moved onto another row.
 */

const sealContext = (id: string) => `outbox:${id}`;

/**
 * An idempotency key goes out as the left part of a Message-ID (RFC 5322 §3.6.4, `dot-atom`)
 * and in HTTP headers: letters, digits, `-` and `_` only, bounded.
 */
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{16,200}$/;

/** Bounds on a message, checked before it is sealed (RFC 5322 §2.1.1: 998 characters a line). */
const LIMITS = { to: 320, subject: 998, body: 200_000 };

/** CR or LF in a header value would let a value add headers of its own (header injection). */
const LINE_BREAK = /[\r\n]/;

export function checkMailMessage(message: MailMessage): void {
  const problems: string[] = [];
  if (typeof message.to !== 'string' || message.to.length > LIMITS.to || LINE_BREAK.test(message.to))
    problems.push('to');
  if (
    typeof message.subject !== 'string' ||
    message.subject.length > LIMITS.subject ||
    LINE_BREAK.test(message.subject)
  )
    problems.push('subject');
  if (typeof message.text !== 'string' || message.text.length > LIMITS.body) problems.push('text');
  if (typeof message.html !== 'string' || message.html.length > LIMITS.body) problems.push('html');
  if (problems.length > 0) throw new Error(`mail message is invalid: ${problems.join(', ')}`);
}

export async function sealMailMessage(
  masterKeys: MasterKeys,
  id: string,
  message: MailMessage,
): Promise<string> {
  checkMailMessage(message);
  const { to, subject, text, html } = message;
  return encryptString(
    masterKeys.encryptionKey,
    JSON.stringify({ to, subject, text, html }),
    sealContext(id),
  );
}

export async function unsealMailMessage(
  masterKeys: MasterKeys,
  id: string,
  sealed: string,
): Promise<MailMessage> {
  const opened = JSON.parse(
    await decryptString(masterKeys.encryptionKey, sealed, sealContext(id)),
  ) as MailMessage;
  checkMailMessage(opened);
  return opened;
}

/** A fresh idempotency key: 128 random bits, base64url (Message-ID-safe). */
export const newIdempotencyKey = (): string => randomToken(16);

/**
 * The row to put in the outbox, in the same transaction as the change that causes it
 * (`insertOutboxMessages(tx, …)` in the database adapter). A caller that can repeat the same
 * change (a retried request) passes its own `idempotencyKey`, so the message exists once.
 */
export async function outboxMessage(
  masterKeys: MasterKeys,
  input: {
    kind: MessageKind;
    userId: string | null;
    message: MailMessage;
    now: Date;
    idempotencyKey?: string | undefined;
  },
): Promise<NewOutboxMessage> {
  const idempotencyKey = input.idempotencyKey ?? newIdempotencyKey();
  if (!IDEMPOTENCY_KEY.test(idempotencyKey))
    throw new Error('idempotency key must be 16 to 200 letters, digits, - or _');
  const id = crypto.randomUUID();
  return {
    id,
    kind: input.kind,
    userId: input.userId,
    idempotencyKey,
    sealed: await sealMailMessage(masterKeys, id, input.message),
    createdAt: input.now,
  };
}
