import type { Mailer, OutgoingMail } from '../../ports/mail.js';

/**
 * An HTTPS mail API (issue #17), for Workers where nodemailer cannot run: each message is
 * POSTed as JSON to `MAIL_HTTP_URL` with `Authorization: Bearer MAIL_HTTP_TOKEN` and an
 * `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header), the same key in the
 * body; any 2xx means accepted. A small relay (or a provider's API behind one) turns it into
 * an email — docs/email.md. fetch only: it runs on workerd and Node alike.
 *
 * A failure reports the status only: a response body might echo the message, and its link.
 */
export interface HttpMailBody {
  from: string;
  reply_to: string | null;
  to: string;
  subject: string;
  text: string;
  html: string;
  idempotency_key: string;
}

export function createHttpMailer(options: {
  url: string;
  token?: string | undefined;
  /** Bounded below the dispatcher's lease (see createSmtpMailer). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}): Mailer {
  const send = options.fetch ?? fetch;
  const timeout = options.timeoutMs ?? 20_000;
  return {
    async send(mail: OutgoingMail) {
      const body: HttpMailBody = {
        from: mail.from,
        reply_to: mail.replyTo ?? null,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        idempotency_key: mail.idempotencyKey,
      };
      const response = await send(options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': mail.idempotencyKey,
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
        body: JSON.stringify(body),
        // 'manual' (workerd has no 'error'): a redirect is a non-2xx answer, so a failure to retry.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeout),
      });
      // Drained either way, so the connection can be reused (workerd warns of unread bodies).
      await response.body?.cancel().catch(() => {});
      if (!response.ok) throw new Error(`mail API answered ${response.status}`);
    },
  };
}
