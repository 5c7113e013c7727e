import type { Transporter } from 'nodemailer';
import { onFirstUse } from '../../lib/lazy.js';
import type { Mailer, OutgoingMail } from '../../ports/mail.js';

/**
 * nodemailer, imported on the first message: ~140 ms and ~13 MiB at every start otherwise, in
 * processes that may never send one (issue #21).
 */
export const nodemailer = onFirstUse(() => import('nodemailer'));

/** The domain of a mailbox, "Name <user@example.com>" or "user@example.com" (the Message-ID's right part). */
export function mailboxDomain(mailbox: string): string {
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(mailbox)?.[1];
  return domain && domain.length <= 253 ? domain.toLowerCase() : 'localhost';
}

/** A relay on this machine (a local Postfix, a test server): nothing on the wire to protect. */
const isLoopback = (host: string) =>
  host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * nodemailer's options for `SMTP_URL`. On smtp:// (port 587), STARTTLS is REQUIRED unless the
 * server is on loopback: a message holds a single-use link, and an attacker on the path who
 * strips the STARTTLS offer would otherwise read it in clear (RFC 3207 §6; OWASP ASVS 4.0 9.2.2).
 * The URL's own query wins (`?requireTLS=false` for a trusted relay on a private network).
 */
export function smtpOptions(url: string, timeoutMs: number) {
  const parsed = new URL(url);
  return {
    url,
    requireTLS: parsed.protocol === 'smtp:' && !isLoopback(parsed.hostname),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
  };
}

/** The message as nodemailer takes it: the idempotency key is its Message-ID and a header. */
export const messageFields = (mail: OutgoingMail) => ({
  from: mail.from,
  ...(mail.replyTo ? { replyTo: mail.replyTo } : {}),
  to: mail.to,
  subject: mail.subject,
  text: mail.text,
  html: mail.html,
  messageId: `<${mail.idempotencyKey}@${mailboxDomain(mail.from)}>`,
  headers: { 'X-Idempotency-Key': mail.idempotencyKey },
});

/**
 * SMTP through nodemailer (issue #17): `SMTP_URL` is smtp://user:pass@host:587 (STARTTLS,
 * required: see smtpOptions) or smtps://…:465 (TLS from the start). The idempotency key is the
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
  const settings = smtpOptions(url, options.timeoutMs ?? 20_000);
  let transport: Transporter | undefined;
  return {
    async send(mail: OutgoingMail) {
      transport ??= (await nodemailer()).createTransport(settings);
      await transport.sendMail(messageFields(mail));
    },
    close: () => transport?.close(),
  };
}
