import { createTransport } from 'nodemailer';
import type { Mailer, OutgoingMail } from '../../ports/mail.js';

/** The domain of a mailbox, "Name <user@example.com>" or "user@example.com" (the Message-ID's right part). */
export function mailboxDomain(mailbox: string): string {
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(mailbox)?.[1];
  return domain && domain.length <= 253 ? domain.toLowerCase() : 'localhost';
}

/**
 * SMTP through nodemailer (issue #17): `SMTP_URL` is smtp://user:pass@host:587 (STARTTLS when
 * the server offers it) or smtps://…:465 (TLS from the start). The idempotency key is the
 * message's Message-ID (RFC 5322 §3.6.4: `<key@domain-of-from>`) and an `X-Idempotency-Key`
 * header, so a message delivered twice (at least once: a sender that crashed after the server
 * accepted it) is the same message to every system that deduplicates on either.
 *
 * Every timeout is bounded by `timeoutMs`: a send must end within the dispatcher's lease, or
 * another instance claims the message again while this one still talks to the server.
 */
export function createSmtpMailer(
  url: string,
  options: { timeoutMs?: number } = {},
): Mailer & {
  close(): void;
} {
  const timeout = options.timeoutMs ?? 20_000;
  const transport = createTransport({
    url,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    dnsTimeout: timeout,
  });
  return {
    async send(mail: OutgoingMail) {
      await transport.sendMail({
        from: mail.from,
        ...(mail.replyTo ? { replyTo: mail.replyTo } : {}),
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        messageId: `<${mail.idempotencyKey}@${mailboxDomain(mail.from)}>`,
        headers: { 'X-Idempotency-Key': mail.idempotencyKey },
      });
    },
    close: () => transport.close(),
  };
}
